"""Paperweights: washers, coins and pens laid on a sheet to hold it flat while it is photographed.

Why: a sheet photographed rather than scanned is often held flat with whatever is at hand. The
LeafMachine2 sheets carry metal washers, coins and a pen, some of them on the leaves, and the
real-sheet model, trained on mounted sheets, marked them as plant (LowRes_11: +11.9 % leaf area
from its washers and pen). With paperweights on half of its 24 synthetic sheets it marks less of
them (+3.3 %), and the validation plants score the same as without (BENCHMARKS.md, "Flips
averaged, more synthetic sheets, and paperweights on the sheet"). Plastic ones come in the colours
sold, metal ones in light and dark steel, brass and copper, worn: dark steel washers were
added after LowRes_11's (about RGB 95, 88, 84) stayed marked as plant, so that sheet is no
longer an untouched test of them.

They are painted last, over the plant, and what they cover leaves the truth, as a label's
body does (the plant shows through tape, not through metal). Their soft shadow falls on paper
and plant alike and covers nothing: a shaded leaf is still leaf. Drawn with a generator of
their own, so a sheet without them is the same pixel for pixel as before they existed.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from herbseg.synth import sheets as S

# Plastic washers and pen bodies in the colours sold; metals for washers and coins (RGB).
_PLASTIC = np.array(
    [(40, 130, 210), (30, 90, 190), (210, 50, 40), (240, 200, 40), (60, 160, 80), (245, 245, 240),
     (30, 30, 35)],
    np.float32,
)  # fmt: skip
# Zinc-plated and plain steel, dark (oxidised, oiled) steel, brass, copper.
_METAL = np.array(
    [(170, 172, 176), (140, 142, 150), (112, 108, 106), (84, 82, 82), (190, 150, 90),
     (180, 110, 70)],
    np.float32,
)  # fmt: skip


def _disc_rgba(rng: np.random.Generator, r_out: float, r_in: float, colour: np.ndarray,
               metal: bool) -> np.ndarray:  # fmt: skip
    """A ring (``r_in`` > 0) or disc, shaded as lit from the upper left, antialiased."""
    size = int(math.ceil(2 * r_out)) + 4
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - (size - 1) / 2
    d = np.hypot(xx, yy)
    alpha = (
        np.clip(r_out - d + 0.5, 0, 1) * np.clip(d - r_in + 0.5, 0, 1)
        if r_in
        else np.clip(r_out - d + 0.5, 0, 1)
    )
    light = (-xx - yy) / (np.sqrt(2) * r_out)  # -1..1, brightest toward the upper left
    shade = 1 + (0.25 if metal else 0.12) * light
    rim = np.exp(-(((d - r_out + 1.5) / 1.2) ** 2)) * (0.25 if metal else 0.1)
    grain = rng.normal(0, 4 if metal else 2, (size, size))
    rgb = colour[None, None, :] * shade[..., None] * (1 - rim[..., None]) + grain[..., None]
    if metal:  # worn metal: patches of rust and of rubbed-bright steel
        wear = S._lowfreq(rng, size, size, max(3.0, r_out / 3))
        rgb += (np.array([150, 100, 70]) - rgb) * np.clip(wear - 1.0, 0, 1)[..., None] * 0.5
        rgb *= 1 + 0.08 * np.clip(-wear - 1.0, 0, 1)[..., None]
    out = np.zeros((size, size, 4), np.uint8)
    out[..., :3] = np.clip(rgb, 0, 255).astype(np.uint8)
    out[..., 3] = (alpha * 255).astype(np.uint8)
    return out


def _pen_rgba(rng: np.random.Generator, length: float, width: float, angle: float) -> np.ndarray:
    """A pen: body, a cap of another colour with a clip, a pale tip; turned to ``angle``."""
    L, W = int(length), max(3, int(width))
    img = Image.new("RGBA", (L + 4, W * 2 + 4), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    y0, y1 = W // 2 + 2, W // 2 + 2 + W
    body = tuple(int(c) for c in _PLASTIC[int(rng.integers(len(_PLASTIC)))]) + (255,)
    cap = tuple(int(c) for c in _PLASTIC[int(rng.integers(len(_PLASTIC)))]) + (255,)
    d.rounded_rectangle([2, y0, L + 1, y1], radius=W // 2, fill=body)
    cap_len = int(L * rng.uniform(0.25, 0.4))
    d.rounded_rectangle([2, y0 - 1, cap_len, y1 + 1], radius=W // 2, fill=cap)
    d.rectangle([int(cap_len * 0.2), y0 - W // 2, int(cap_len * 0.9), y0 + 1], fill=cap)  # clip
    d.polygon([(L + 1, (y0 + y1) / 2 - W / 4), (L + 1, (y0 + y1) / 2 + W / 4),
               (L + 3, (y0 + y1) / 2)], fill=(200, 200, 200, 255))  # fmt: skip
    a = np.asarray(img).astype(np.float32)
    lit = 1 + 0.15 * np.cos(np.linspace(0, math.pi, a.shape[0]))[:, None]  # a round body
    a[..., :3] = np.clip(a[..., :3] * lit[..., None], 0, 255)
    turned = Image.fromarray(a.astype(np.uint8), "RGBA").rotate(
        math.degrees(angle), resample=Image.Resampling.BICUBIC, expand=True
    )
    return np.asarray(turned)


def _shadow(rgba: np.ndarray, blur: float, strength: float) -> np.ndarray:
    """The object's soft shadow: its alpha blurred, dark, to be pasted a little offset."""
    pad = int(3 * blur) + 2
    alpha = np.pad(rgba[..., 3], pad)
    soft = np.asarray(Image.fromarray(alpha).filter(ImageFilter.GaussianBlur(blur)))
    out = np.zeros((*soft.shape, 4), np.uint8)
    out[..., :3] = 20
    out[..., 3] = (soft.astype(np.float32) * strength).astype(np.uint8)
    return out


def draw_paperweights(scene: S._Scene, rng: np.random.Generator, region: S.Box) -> list[dict]:
    """Lay one to four paperweights within ``region`` (anywhere, on the plant or beside it); returns
    what was laid (kind and box) for the sheet's truth."""
    laid = []
    x0, y0, x1, y1 = region
    for _ in range(int(rng.integers(1, 5))):
        kind = str(rng.choice(["washer", "coin", "pen"], p=[0.5, 0.2, 0.3]))
        if kind == "pen":
            rgba = _pen_rgba(rng, scene.mm(rng.uniform(110, 150)), scene.mm(rng.uniform(8, 11)),
                             rng.uniform(0, 2 * math.pi))  # fmt: skip
        else:
            metal = kind == "coin" or rng.random() < 0.5
            palette = _METAL if metal else _PLASTIC
            colour = palette[int(rng.integers(len(palette)))] + rng.normal(0, 6, 3)
            r_out = scene.mm(rng.uniform(9, 22) if kind == "washer" else rng.uniform(8, 13))
            r_in = r_out * rng.uniform(0.3, 0.5) if kind == "washer" else 0.0
            rgba = _disc_rgba(rng, r_out, r_in, colour, metal)
        h, w = rgba.shape[:2]
        x = int(rng.uniform(x0, max(x0 + 1, x1 - w)))
        y = int(rng.uniform(y0, max(y0 + 1, y1 - h)))
        shade = _shadow(rgba, max(1.0, scene.mm(1.5)), rng.uniform(0.25, 0.45))
        pad = (shade.shape[0] - h) // 2
        off = S._rint(scene.mm(rng.uniform(0.5, 2.0)))
        S._paste(scene, shade, x - pad + off, y - pad + off, covers=False)
        S._paste(scene, rgba, x, y)
        laid.append({"kind": kind, "box": (x, y, x + w, y + h)})
    return laid
