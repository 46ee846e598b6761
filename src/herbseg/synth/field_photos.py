"""Field photographs glued to a sheet: pictures of the living plant in its habitat.

Why: many modern herbaria glue a print of the plant as it grew beside the specimen (24 of the
43 ``_06_`` Violaceae sheets, from one herbarium). What such a photograph shows is leaves, stems
and flowers, but it is a picture, not specimen: a leaf-area figure that counts it is wrong. A
Violaceae CV fold model marked the plants in V01_06_009's photograph (that sheet prompted this,
so it is no longer an untouched test of photographs). The recipe's own model, whose training
holds annotated sheets with photographs, leaves real ones out, and training with these did not
help it enough to adopt (BENCHMARKS.md, "Cream-yellow flowers and field photographs"): they are
for a collection whose annotated sheets carry none, and for a stress test
(``benchmarks/synth_plant_heldout.py --photos 1``).

A photograph is a rectangle of leaf litter, soil and moss with leaves and flowers drawn on it in
a living plant's colours, sometimes with a print's white border, glued near a corner where the
label and the ruler leave room. It covers what lies under it, so what it covers leaves the
truth, as a label's body does. Drawn with a generator of its own, so a sheet without one is the
same pixel for pixel as before they existed.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from herbseg.synth import sheets as S

# Ground (RGB): leaf litter, bare soil, moss, stones, shade.
_GROUND = np.array(
    [(92, 70, 48), (120, 98, 72), (58, 66, 38), (140, 132, 118), (34, 32, 28)], np.float32
)
# Living leaves in sun and shade: brighter and more saturated than pressed ones.
_LIVING = np.array(
    [(62, 120, 48), (96, 150, 62), (38, 84, 40), (120, 160, 80), (74, 104, 58), (140, 170, 90)],
    np.float32,
)
_PETALS = np.array(
    [(130, 90, 170), (235, 235, 245), (240, 215, 70), (200, 150, 210), (250, 245, 215)],
    np.float32,
)


def _leaf_polygon(rng: np.random.Generator, cx: float, cy: float, length: float) -> list:
    """A blade outline (ovate to heart-shaped) of ``length`` px, turned at random."""
    width = length * rng.uniform(0.35, 0.9)
    notch = rng.uniform(0.0, 0.25)  # a heart-shaped base, as violets have
    angle = rng.uniform(0, 2 * math.pi)
    ca, sa = math.cos(angle), math.sin(angle)
    points = []
    for t in np.linspace(0, 2 * math.pi, 28, endpoint=False):
        x = 0.5 * length * math.cos(t)
        y = 0.5 * width * math.sin(t) * (1 - 0.35 * math.cos(t))
        if math.cos(t) < -0.8:  # pull the base in
            x += notch * length * (math.cos(t) + 0.8) * -2.5
        points.append((cx + x * ca - y * sa, cy + x * sa + y * ca))
    return points


def _photo_rgba(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """One field photograph of ``w``×``h`` px: ground, leaves with a lit side and a midrib,
    some flowers, a little softness; with probability 0.5 a print's white border."""
    a, b = _GROUND[rng.choice(len(_GROUND), 2, replace=False)]
    mix = np.clip(0.5 + 0.35 * S._lowfreq(rng, h, w, max(4.0, min(w, h) / 6)), 0, 1)
    ground = a * mix[..., None] + b * (1 - mix[..., None])
    ground += 18 * S._lowfreq(rng, h, w, 3.0)[..., None] + rng.normal(0, 6, (h, w, 1))
    img = Image.fromarray(np.clip(ground, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    side = min(w, h)
    for _ in range(int(rng.integers(6, 50))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        length = side * rng.uniform(0.08, 0.35)
        base = _LIVING[int(rng.integers(len(_LIVING)))] * rng.uniform(0.7, 1.25)
        colour = tuple(int(v) for v in np.clip(base + rng.normal(0, 8, 3), 0, 255))
        outline = _leaf_polygon(rng, cx, cy, length)
        draw.polygon(outline, fill=colour)
        lit = tuple(int(v) for v in np.clip(np.array(colour) * 1.25 + 10, 0, 255))
        half = outline[: len(outline) // 2 + 1]
        draw.polygon([(cx, cy), *half], fill=lit)  # the sunlit half
        tip, base_pt = outline[0], outline[len(outline) // 2]
        vein = tuple(int(v) for v in np.clip(np.array(colour) * 1.4 + 20, 0, 255))
        draw.line([base_pt, tip], fill=vein, width=max(1, int(length / 40)))
    if rng.random() < 0.6:
        petal = _PETALS[int(rng.integers(len(_PETALS)))]
        for _ in range(int(rng.integers(1, 7))):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            r = side * rng.uniform(0.03, 0.08)
            colour = tuple(int(v) for v in np.clip(petal + rng.normal(0, 10, 3), 0, 255))
            for k in range(5):
                t = 2 * math.pi * k / 5 + rng.uniform(0, 0.4)
                px, py = cx + 0.7 * r * math.cos(t), cy + 0.7 * r * math.sin(t)
                draw.ellipse((px - r / 2, py - r / 2, px + r / 2, py + r / 2), fill=colour)
            draw.ellipse((cx - r / 5, cy - r / 5, cx + r / 5, cy + r / 5), fill=(230, 190, 40))
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2)))
    rgb = np.asarray(img).astype(np.float32)
    rgb *= rng.uniform(0.85, 1.1)  # exposure
    if rng.random() < 0.5:  # a print's white border
        m = max(2, int(side * rng.uniform(0.02, 0.05)))
        rgb[:m], rgb[-m:], rgb[:, :m], rgb[:, -m:] = 245, 245, 245, 245
    out = np.empty((h, w, 4), np.uint8)
    out[..., :3] = np.clip(rgb, 0, 255).astype(np.uint8)
    out[..., 3] = 255
    return out


def _overlap(box: S.Box, others: list[S.Box]) -> int:
    """Pixels of ``box`` under any of ``others`` (counted box by box)."""
    x0, y0, x1, y1 = box
    return sum(
        max(0, min(x1, b[2]) - max(x0, b[0])) * max(0, min(y1, b[3]) - max(y0, b[1]))
        for b in others
    )


def draw_field_photo(scene: S._Scene, rng: np.random.Generator) -> list[dict]:
    """Glue one field photograph near a corner of the sheet, where it hides the least of the
    label, ruler, chart and barcode; returns it (kind and box) for the sheet's truth."""
    W, H = scene.width, scene.height
    w = int(W * rng.uniform(0.22, 0.45))
    h = int(w * (rng.uniform(0.65, 0.8) if rng.random() < 0.6 else rng.uniform(1.25, 1.5)))
    m = int(scene.mm(rng.uniform(4, 15)))
    corners = [(m, m), (W - m - w, m), (m, H - m - h), (W - m - w, H - m - h)]
    taken = scene.hard + scene.soft
    order = rng.permutation(len(corners))
    x, y = min((corners[i] for i in order),
               key=lambda c: _overlap((c[0], c[1], c[0] + w, c[1] + h), taken))  # fmt: skip
    rgba = _photo_rgba(rng, w, h)
    S._paste(scene, rgba, x, y)
    return [{"kind": "field_photo", "box": (x, y, x + w, y + h)}]
