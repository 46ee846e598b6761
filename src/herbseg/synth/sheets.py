"""Procedural synthetic herbarium sheets whose leaf pixels and leaf sizes are known exactly.

Hand-drawn masks of real sheets are only as good as the annotator's brush, so the accuracy of the
leaf-area pipeline cannot be judged against them to better than a few per cent. A synthetic sheet
is rendered from polygons, and its mask comes from the very same boolean rasters as its colours,
so every leaf pixel and every leaf's length and width are known to the pixel.

The sheets carry the hard negatives that make real sheets difficult: a colour chart with green and
brown patches, a millimetre ruler (ticks at exactly ``px_per_mm``, so a ruler detector can be
checked against it), labels, a barcode, tape over stems and leaves, an ink stamp and a fragment
packet. Everything is drawn from one ``numpy`` generator seeded with ``(seed, index)``, so a
collection is reproducible byte for byte whatever the number of workers.
"""

from __future__ import annotations

import math
import multiprocessing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from herbseg.io.files import atomic_path, write_csv
from herbseg.io.images import write_mask
from herbseg.synth.damage import maybe_damage
from herbseg.synth.scales import SCALE_KINDS, draw_scale, is_vertical

SHAPES = ("elliptic", "ovate", "lanceolate", "lobed", "serrate")
TRUTH_COLUMNS = ("sheet_id", "px_per_mm", "leaf_area_mm2", "n_leaves")
LEAF_COLUMNS = (
    "sheet_id",
    "leaf_id",
    "shape",
    "area_mm2",
    "full_area_mm2",
    "length_mm",
    "width_mm",
    "intact",
    "centroid_x",
    "centroid_y",
    "reason",
)
JPEG_QUALITY = 90

# Sizes of the clutter are designed for a sheet of this many mm and scaled for others.
_REF_MM = (170.0, 250.0)
# At most this share of leaves may end up overlapped, touching or covered.
_MAX_NON_INTACT = 0.35

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 with x1/y1 exclusive

_PAPERS = np.array(
    [(242, 236, 218), (246, 244, 236), (236, 226, 198), (233, 232, 225), (240, 232, 210)],
    dtype=np.float32,
)
_LEAF_COLOURS = np.array(
    [
        (55, 82, 40),  # dark green
        (78, 108, 46),  # green
        (102, 102, 52),  # olive
        (136, 140, 62),  # yellow-green
        (118, 88, 52),  # brown
        (78, 58, 36),  # dark brown
        (92, 106, 80),  # grey-green
    ],
    dtype=np.float32,
)
_STEM_COLOURS = np.array([(92, 72, 46), (74, 86, 48), (60, 48, 34), (110, 96, 62)], np.float32)
_INKS = ((178, 40, 46), (40, 62, 150), (110, 52, 130))
_CHART_COLOURS = (
    (115, 82, 68), (194, 150, 130), (98, 122, 157), (87, 108, 67), (133, 128, 177),
    (103, 189, 170), (214, 126, 44), (80, 91, 166), (193, 90, 99), (94, 60, 108),
    (157, 188, 64), (224, 163, 46), (56, 61, 150), (70, 148, 73), (175, 54, 60),
    (231, 199, 31), (187, 86, 149), (8, 133, 161), (243, 243, 242), (200, 200, 200),
    (160, 160, 160), (122, 122, 121), (85, 85, 85), (52, 52, 52),
)  # fmt: skip
_SYLLABLES = (
    "ra", "ti", "lo", "me", "nu", "sa", "ca", "phy", "lla", "den", "dro", "ter", "mi",
    "cus", "ne", "vi", "bor", "gla", "sem", "or", "an", "the", "pe", "ru", "quer", "ul",
)  # fmt: skip
# Leaf-like patches that every chart carries, so a segmenter must learn context, not colour.
_CHART_LEAFLIKE = ((87, 108, 67), (70, 148, 73), (50, 80, 40), (120, 85, 45), (90, 60, 35))


@dataclass
class SyntheticSheet:
    """One rendered sheet and everything known about it.

    ``truth`` holds sheet-level facts (areas, counts and the boxes of all clutter, the ruler's
    exact tick positions included) so benchmarks can score detectors, not only segmenters.
    """

    rgb: np.ndarray
    mask: np.ndarray
    px_per_mm: float
    leaves: list[dict]
    truth: dict


@dataclass
class _Leaf:
    """A placed leaf blade: its exact geometry plus what rendering needs."""

    shape: str
    poly: np.ndarray  # blade outline, sheet px (x, y)
    box: Box
    raster: np.ndarray  # bool, box-sized: the full blade before anything covers it
    origin: np.ndarray  # blade base, sheet px
    angle: float
    length: float
    veins: list[tuple[np.ndarray, float, float]]  # (polyline sheet px, width px, darkness)
    petiole: tuple[np.ndarray, np.ndarray, float]
    non_intact: bool = False
    why: str = ""  # overlap / under_label: why placement made it non-intact
    damage: str = ""  # a synth_damage kind, or "" for an undamaged blade


@dataclass
class _Scene:
    """The mutable state shared by the painting steps."""

    rng: np.random.Generator
    ppm: float
    scale: float
    canvas: np.ndarray  # H×W×3 uint8
    labels: np.ndarray  # H×W int16: 1 + index of the top-most leaf, 0 = none
    cover: np.ndarray  # H×W bool: pixels painted by clutter on top of the plant
    near: np.ndarray  # H×W bool: placed blades grown by one pixel
    leaves: list[_Leaf] = field(default_factory=list)
    hard: list[Box] = field(default_factory=list)  # leaves must keep clear of these
    soft: list[Box] = field(default_factory=list)  # leaves may slip under these (labels)
    clutter: dict = field(default_factory=dict)
    scale_kind: str = "ticks"  # which scale the sheet carries (herbseg.synth.scales)
    damage: float = 0.0  # share of leaves given a synth_damage failure mode
    # H×W bool: the part of ``cover`` the plant cannot be seen through (labels, packets,
    # paperweights), as against tape and stamp ink (see :func:`_paste`)
    hidden: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.hidden = np.zeros_like(self.cover)

    @property
    def height(self) -> int:
        return self.canvas.shape[0]

    @property
    def width(self) -> int:
        return self.canvas.shape[1]

    def mm(self, v: float) -> float:
        """Clutter sizes in px, scaled so the layout also fits sheets of other sizes."""
        return v * self.ppm * self.scale

    def budget_allows(self, extra: int) -> bool:
        """Keep most leaves intact, so per-leaf benchmarks have plenty of clean leaves."""
        n = max(len(self.leaves), 1)
        spent = sum(leaf.non_intact for leaf in self.leaves)
        return spent + extra <= _MAX_NON_INTACT * n


# --------------------------------------------------------------------------------------------
# small helpers


def _rint(v: float) -> int:
    """Round half up; Python's banker's rounding would bias the ruler ticks."""
    return int(math.floor(v + 0.5))


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font, so sheets render the same on every machine."""
    return ImageFont.load_default(size=max(6, int(size)))


def _lowfreq(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth unit-variance noise with blobs about ``cell`` px wide, cheap at any size."""
    gh, gw = max(2, int(h / cell) + 3), max(2, int(w / cell) + 3)
    small = rng.standard_normal((gh, gw)).astype(np.float32)
    field_ = np.asarray(Image.fromarray(small, "F").resize((w, h), Image.Resampling.BICUBIC))
    return field_ / max(float(field_.std()), 1e-6)


def _paste(
    scene: _Scene,
    rgba: np.ndarray,
    x0: int,
    y0: int,
    covers: bool = True,
    see_through: bool = False,
) -> None:
    """Alpha-composite a local RGBA patch; every touched pixel stops being leaf if ``covers``.

    ``see_through`` marks translucent clutter (tape, stamp ink): the leaf mask still loses those
    pixels (a taped leaf is not intact), but they stay out of ``scene.hidden``, so whole-plant
    masks (:mod:`herbseg.synth.plant`) keep the plant seen through them, as a person tracing the
    plant would.
    """
    h, w = rgba.shape[:2]
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x0 + w, scene.width), min(y0 + h, scene.height)
    if cx0 >= cx1 or cy0 >= cy1:
        return
    sub = rgba[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    alpha = sub[..., 3:4].astype(np.float32) / 255.0
    region = scene.canvas[cy0:cy1, cx0:cx1]
    blended = region * (1.0 - alpha) + sub[..., :3] * alpha + 0.5
    region[:] = blended.astype(np.uint8)
    if covers:
        scene.cover[cy0:cy1, cx0:cx1] |= sub[..., 3] > 0
    if covers and not see_through:
        scene.hidden[cy0:cy1, cx0:cx1] |= sub[..., 3] > 0


def _rgba(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGBA"))


def _rect(x: float, y: float, w: float, h: float) -> Box:
    return _rint(x), _rint(y), _rint(x + w), _rint(y + h)


def _xy(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    """Corner list for ImageDraw that never inverts, so tiny sheets still render."""
    return [x0, y0, max(x0, x1), max(y0, y1)]


def _overlaps(a: Box, b: Box, gap: int = 0) -> bool:
    return not (
        a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1]
    )


def _poly_raster(poly: np.ndarray, box: Box) -> np.ndarray:
    """Rasterise a polygon inside ``box``; mask and colours both come from this one raster."""
    x0, y0, x1, y1 = box
    img = Image.new("L", (x1 - x0, y1 - y0), 0)
    ImageDraw.Draw(img).polygon((poly - (x0, y0)).ravel().tolist(), fill=255)
    return np.asarray(img) > 0


def _poly_box(poly: np.ndarray, pad: int = 2) -> Box:
    x0, y0 = np.floor(poly.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(poly.max(axis=0)).astype(int) + pad + 1
    return int(x0), int(y0), int(x1), int(y1)


def _rotate(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, s], [-s, c]], dtype=np.float64)


def _words(rng: np.random.Generator, n: int, capital: bool = False) -> str:
    """Latin-looking nonsense, so labels look like labels without real names."""
    out = []
    for _ in range(n):
        w = "".join(rng.choice(_SYLLABLES) for _ in range(int(rng.integers(2, 4))))
        out.append(w.capitalize() if capital else w)
    return " ".join(out)


# --------------------------------------------------------------------------------------------
# paper


def _paper(rng: np.random.Generator, h: int, w: int, ppm: float) -> np.ndarray:
    """Cream paper with blotches, grain, yellowing and uneven lighting, as a flatbed sees it.

    Everything but the grain is low-frequency, so it is computed on a 2 mm grid and upsampled
    once; that keeps a 6 MP sheet well inside the time budget.
    """
    base = _PAPERS[rng.integers(len(_PAPERS))] * rng.uniform(0.96, 1.01) + rng.normal(0, 1.5, 3)
    cell = 2.0 * ppm
    gh, gw = int(h / cell) + 3, int(w / cell) + 3

    def smooth(sigma: float) -> np.ndarray:
        f = ndimage.gaussian_filter(rng.standard_normal((gh, gw)), sigma, mode="wrap")
        return f / max(float(f.std()), 1e-9)

    lum = 1.0 + rng.uniform(0.006, 0.018) * smooth(8) + rng.uniform(0.003, 0.01) * smooth(1.5)
    yy = np.linspace(-1, 1, gh)[:, None]
    xx = np.linspace(-1, 1, gw)[None, :]
    a, g, phi = rng.uniform(0.02, 0.07), rng.uniform(0.0, 0.03), rng.uniform(0, 2 * np.pi)
    lum = lum * (1.0 - a * 0.5 * (xx**2 + yy**2))
    lum = lum * (1.0 + g * (xx * math.cos(phi) + yy * math.sin(phi)))
    age = np.clip(smooth(12), 0, None) * rng.uniform(0.0, 0.04)
    small = lum[..., None] * base
    small[..., 2] *= 1.0 - age
    small[..., 1] *= 1.0 - 0.3 * age
    img = Image.fromarray(np.clip(small + 0.5, 0, 255).astype(np.uint8), "RGB")
    out = np.asarray(img.resize((w, h), Image.Resampling.BICUBIC)).astype(np.int16)
    amp = int(rng.integers(3, 6))
    out += rng.integers(-amp, amp + 1, (h, w), dtype=np.int8)[..., None]
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


def _foxing(scene: _Scene) -> None:
    """Small brownish age spots; paper-coloured enough to be background, dark enough to tempt."""
    rng = scene.rng
    for _ in range(int(rng.integers(0, 7))):
        r = max(1.5, scene.ppm * rng.uniform(0.3, 1.6))
        cx, cy = rng.uniform(0, scene.width), rng.uniform(0, scene.height)
        size = int(2 * r + 4)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        d = np.hypot(xx - size / 2, yy - size / 2) / r
        alpha = np.clip(1.0 - d, 0, 1) ** 0.7 * rng.uniform(0.15, 0.4) * 255
        rgba = np.zeros((size, size, 4), np.uint8)
        rgba[..., :3] = (150, 110, 60)
        rgba[..., 3] = alpha.astype(np.uint8)
        _paste(scene, rgba, int(cx - size / 2), int(cy - size / 2), covers=False)


# --------------------------------------------------------------------------------------------
# layout of the clutter


def _place(
    candidates: list[tuple[float, float]],
    w: float,
    h: float,
    taken: list[Box],
    limit: Box,
    gap: int,
) -> Box | None:
    """First candidate position whose box stays on the sheet and clear of what is placed."""
    for x, y in candidates:
        box = _rect(x, y, w, h)
        inside = box[0] >= limit[0] and box[1] >= limit[1] and box[2] <= limit[2]
        if inside and box[3] <= limit[3] and not any(_overlaps(box, t, gap) for t in taken):
            return box
    return None


def _place_chart(
    scene: _Scene, taken: list[Box], limit: Box, gap: int, ruler: Box | None
) -> tuple[Box | None, tuple[int, int]]:
    """Every sheet gets a chart: it is the hardest negative, so fewer patches beat none."""
    rng, mm = scene.rng, scene.mm
    W, H = scene.width, scene.height
    m = mm(5)
    grid = rng.random() < 0.4
    cols, rows = (6, 4) if grid else (int(rng.integers(7, 13)), int(rng.integers(1, 3)))
    patch = mm(rng.uniform(6, 8.5))
    order = rng.permutation(4)
    for n in range(cols, 2, -1):
        cw, ch = n * patch + mm(4), rows * patch + mm(4)
        ys = [m, H - m - ch] + ([ruler[1] - gap - ch, ruler[3] + gap] if ruler else [])
        xs = [(m, W - m - cw, (W - cw) / 2, m + mm(40))[i] for i in order]
        box = _place([(x, y) for y in ys for x in xs], cw, ch, taken, limit, gap)
        if box is None:  # upright, against a side edge, in the open middle
            cands = [(m, H * 0.4), (W - m - ch, H * 0.4), (m, H * 0.2), (W - m - ch, H * 0.6)]
            box = _place(cands, ch, cw, taken, limit, gap)
            if box is not None:
                return box, (rows, n)
        if box is not None:
            return box, (n, rows)
    return None, (cols, rows)


def _layout(scene: _Scene) -> dict[str, Box | None]:
    """Where label, ruler, chart, barcode and packet sit; like real sheets, mostly at the edges."""
    rng, mm = scene.rng, scene.mm
    W, H = scene.width, scene.height
    m = mm(5)
    limit = (_rint(m), _rint(m), _rint(W - m), _rint(H - m))
    gap = _rint(mm(3))
    taken: list[Box] = []
    out: dict[str, Box | None] = {}

    lw = W * rng.uniform(0.36, 0.44)
    lh = lw * rng.uniform(0.5, 0.62)
    right = rng.random() < 0.8
    lx = W - m - lw if right else m
    out["label"] = _rect(lx, H - m - lh, lw, lh)
    taken.append(out["label"])

    sw, sh = lw * rng.uniform(0.55, 0.8), lh * rng.uniform(0.3, 0.4)
    out["slip"] = None
    if rng.random() < 0.4:
        sx = lx + (lw - sw if right else 0)
        out["slip"] = _place([(sx, H - m - lh - gap - sh)], sw, sh, taken, limit, gap)
        if out["slip"]:
            taken.append(out["slip"])

    rl, rh = mm(rng.uniform(100, 150)), mm(rng.uniform(10, 15))
    spots = [(m, H - m - rh), (m, m), (W - m - rl, m), ((W - rl) / 2, m)]
    if not right:
        spots[0] = (W - m - rl, H - m - rh)
    if is_vertical(scene.scale_kind):
        rl, rh, spots = _vertical_scale_spots(scene, rl, rh, m)
    for shrink in (1.0, 0.85, 0.7, 0.55, 0.4):
        order = [spots[i] for i in rng.permutation(len(spots))]
        if is_vertical(scene.scale_kind):
            box = _place(order, rl, rh * shrink, taken, limit, gap)
        else:
            box = _place(order, rl * shrink, rh, taken, limit, gap)
        if box is not None:
            break
    out["ruler"] = box
    if box is not None:
        taken.append(box)

    out["chart"], grid = _place_chart(scene, taken, limit, gap, box)
    scene.clutter["chart_grid"] = grid
    if out["chart"]:
        taken.append(out["chart"])

    bw, bh = mm(rng.uniform(35, 50)), mm(rng.uniform(11, 15))
    top = out["slip"] or out["label"]
    cands = [(top[2] - bw if right else top[0], top[1] - gap - bh), (W - m - bw, m), (m, m)]
    out["barcode"] = _place(cands, bw, bh, taken, limit, gap)
    if out["barcode"]:
        taken.append(out["barcode"])

    out["packet"] = None
    if rng.random() < 0.6:
        pw, ph = mm(rng.uniform(35, 50)), mm(rng.uniform(45, 65))
        cands = [(m, m), (W - m - pw, m), (m, H * 0.35), (W - m - pw, H * 0.35)]
        cands = [cands[i] for i in rng.permutation(len(cands))]
        out["packet"] = _place(cands, pw, ph, taken, limit, gap)
    return out


def _vertical_scale_spots(
    scene: _Scene, rl: float, rh: float, m: float
) -> tuple[float, float, list[tuple[float, float]]]:
    """A vertical scale's box (width, height) and spots along the side edges, like a card."""
    W, H = scene.width, scene.height
    width, height = rh, rl
    if scene.scale_kind.startswith("bar"):
        width, height = scene.mm(8), scene.mm(60)  # a short bar: 5 cm and its numbers
    spots = [(m, m), (W - m - width, m), (m, (H - height) / 2), (W - m - width, (H - height) / 2)]
    return width, height, spots


def _draw_ruler(scene: _Scene, box: Box) -> None:
    """The sheet's scale: today's mm ruler, or another kind of :mod:`herbseg.synth.scales`."""
    kind = scene.scale_kind
    if kind == "ticks":
        _paste(scene, _ruler(scene, box), *box[:2])
        return
    if kind == "ticks-vertical":  # the mm ruler drawn in the transposed box, turned
        x0, y0, x1, y1 = box
        rgba = _ruler(scene, (0, 0, y1 - y0, x1 - x0))
        scene.clutter["ruler"] |= {"box": box, "orientation": "vertical"}
        _paste(scene, np.ascontiguousarray(np.rot90(rgba, -1)), x0, y0)
        return
    rgba, truth = draw_scale(kind, scene.ppm, box[2] - box[0], box[3] - box[1], scene.rng)
    scene.clutter["ruler"] = {"box": box, **truth}
    _paste(scene, rgba, *box[:2])


def _plant_region(scene: _Scene, layout: dict[str, Box | None]) -> Box:
    """The open middle of the sheet, between the clutter bands, where the plant grows."""
    W, H = scene.width, scene.height
    m = _rint(scene.mm(8))
    top, bottom = m, H - m
    for key in ("ruler", "chart", "barcode"):
        box = layout.get(key)
        if box is None:
            continue
        if box[3] < H * 0.3:
            top = max(top, box[3] + m)
        elif box[1] > H * 0.7:
            bottom = min(bottom, box[1] - m)
    label = layout["slip"] or layout["label"]
    bottom = min(bottom, label[1] + (label[3] - label[1]) // 3)  # stems may tuck under a label
    if bottom - top < H * 0.3:
        top, bottom = m, H - m
    return m, top, W - m, bottom


# --------------------------------------------------------------------------------------------
# stems


def _grow(
    rng: np.random.Generator,
    start: np.ndarray,
    angle: float,
    length: float,
    step: float,
    region: Box,
) -> np.ndarray:
    """A gently wandering stem that turns back before it leaves the plant's region."""
    n = max(3, int(length / step))
    pts = [start.astype(np.float64)]
    turn = 0.0
    x0, y0, x1, y1 = region
    pad = 0.08 * min(x1 - x0, y1 - y0)
    heading = angle
    for _ in range(n):
        turn = 0.8 * turn + rng.normal(0, 0.03)
        angle += turn + 0.06 * (heading - angle)  # pressed stems wander but do not curl up
        p = pts[-1]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        if not (x0 + pad < p[0] < x1 - pad and y0 + pad < p[1] < y1 - pad):
            home = math.atan2(cy - p[1], cx - p[0])
            angle += 0.25 * math.atan2(math.sin(home - angle), math.cos(home - angle))
        pts.append(p + step * np.array([math.cos(angle), math.sin(angle)]))
    return np.array(pts)


def _stems(scene: _Scene, region: Box) -> list[tuple[np.ndarray, float]]:
    """Main shoots from the bottom of the region, with side branches: (polyline, width px)."""
    rng = scene.rng
    x0, y0, x1, y1 = region
    rw, rh = x1 - x0, y1 - y0
    step = max(2.0, 2.0 * scene.ppm)
    stems: list[tuple[np.ndarray, float]] = []
    n_main = int(rng.choice([1, 1, 1, 2, 2, 3]))
    for i in range(n_main):
        frac = (i + 0.5) / n_main + rng.uniform(-0.12, 0.12)
        start = np.array([x0 + rw * float(np.clip(frac, 0.2, 0.8)), y1 - rng.uniform(0, 0.05) * rh])
        angle = -math.pi / 2 + rng.normal(0, 0.18) + (frac - 0.5) * 0.5
        width = max(2.0, scene.ppm * rng.uniform(0.7, 1.5))
        main = _grow(rng, start, angle, rh * rng.uniform(0.55, 0.9), step, region)
        stems.append((main, width))
        for _ in range(int(rng.integers(0, 4))):
            k = int(len(main) * rng.uniform(0.25, 0.75))
            tangent = math.atan2(*(main[k + 1] - main[k])[::-1])
            side = rng.choice([-1.0, 1.0])
            branch = _grow(
                rng,
                main[k],
                tangent + side * rng.uniform(0.45, 0.95),
                len(main) * step * rng.uniform(0.25, 0.5),
                step,
                region,
            )
            stems.append((branch, max(1.5, width * 0.6)))
    return stems


def _draw_stems(scene: _Scene, stems: list[tuple[np.ndarray, float]]) -> None:
    """Tapered, slightly rounded stems and petioles; they are background in the mask."""
    rng = scene.rng
    img = Image.fromarray(scene.canvas)
    draw = ImageDraw.Draw(img)
    colour = _STEM_COLOURS[rng.integers(len(_STEM_COLOURS))] + rng.normal(0, 6, 3)
    dark = tuple(int(c) for c in np.clip(colour, 0, 255))
    light = tuple(int(c) for c in np.clip(colour * 1.25 + 10, 0, 255))
    for pts, width in stems:
        n = len(pts)
        for s in range(0, n - 1, 6):
            seg = [tuple(p) for p in pts[s : min(s + 7, n)]]
            w = width * (1.0 - 0.5 * s / max(n, 1))
            draw.line(seg, fill=dark, width=max(1, _rint(w)), joint="curve")
            if w >= 4:
                draw.line(seg, fill=light, width=max(1, _rint(w * 0.3)))
    for leaf in scene.leaves:
        a, b, w = leaf.petiole
        draw.line([tuple(a), tuple(b)], fill=dark, width=max(1, _rint(w)))
    scene.canvas[:] = np.asarray(img)


# --------------------------------------------------------------------------------------------
# leaf geometry


def _halfwidth(t: np.ndarray, peak: float, tip: float, width: float) -> np.ndarray:
    """Blade half-width along the midrib; ``peak`` sets where it is widest (ovate < .5)."""
    a = math.log(0.5) / math.log(peak)
    return 0.5 * width * np.sin(np.pi * np.clip(t, 0, 1) ** a) ** tip


def _simple_blade(
    rng: np.random.Generator, shape: str, length: float, width: float, px: float
) -> tuple[np.ndarray, list[tuple[np.ndarray, float, float]]]:
    """Entire or toothed pinnately veined blade, base at the origin, tip along +x."""
    peak, tip = {
        "elliptic": (rng.uniform(0.45, 0.6), rng.uniform(0.5, 0.8)),
        "ovate": (rng.uniform(0.3, 0.4), rng.uniform(0.6, 0.9)),
        "lanceolate": (rng.uniform(0.3, 0.45), rng.uniform(0.9, 1.3)),
        "serrate": (rng.uniform(0.35, 0.55), rng.uniform(0.6, 0.9)),
    }[shape]
    bend = rng.uniform(-0.07, 0.07) * length
    asym = rng.uniform(-0.06, 0.06)
    if shape == "serrate":
        teeth = int(rng.integers(10, 26))
        amp = rng.uniform(0.04, 0.08) * width
        t = ((np.arange(teeth)[:, None] + np.array([0.0, 0.45, 0.85])) / teeth).ravel()
        t = np.concatenate([t, [1.0]])
        h = _halfwidth(t, peak, tip, width)
        taper = np.clip(h / (0.25 * width), 0, 1)
        h = np.maximum(h - amp * taper * np.tile([1.0, 0.5, 0.0], teeth + 1)[: len(t)], 0)
    else:
        t = (1 - np.cos(np.pi * np.linspace(0, 1, 140))) / 2
        h = _halfwidth(t, peak, tip, width)
    mid = bend * t**2
    upper = np.c_[t * length, mid - h * (1 + asym)]
    lower = np.c_[t * length, mid + h * (1 - asym)]
    poly = np.vstack([upper, lower[::-1][1:-1]])
    return poly, _pinnate_veins(rng, length, width, peak, tip, bend, px)


def _pinnate_veins(
    rng: np.random.Generator,
    length: float,
    width: float,
    peak: float,
    tip: float,
    bend: float,
    px: float,
) -> list[tuple[np.ndarray, float, float]]:
    """Midrib plus curving lateral veins in local coordinates: (polyline, width px, darkness)."""
    t = np.linspace(0, 0.97, 30)
    veins = [
        (
            np.c_[t * length, bend * t**2],
            max(1.0, rng.uniform(0.25, 0.5) * px),
            rng.uniform(0.25, 0.45),
        )
    ]
    n = int(rng.integers(4, 10))
    alpha = rng.uniform(0.6, 0.95)
    lat_w, dark = max(1.0, rng.uniform(0.1, 0.2) * px), rng.uniform(0.12, 0.28)
    for i in range(n):
        for side in (-1.0, 1.0):
            t0 = 0.1 + 0.78 * (i + 0.5 + (0.25 if side > 0 else 0)) / n
            h0 = float(_halfwidth(np.array([t0]), peak, tip, width)[0])
            t1 = min(t0 + 0.85 * h0 / (math.tan(alpha) * length), 0.97)
            h1 = float(_halfwidth(np.array([t1]), peak, tip, width)[0])
            b = np.linspace(0, 1, 8)[:, None]
            p0 = np.array([t0 * length, bend * t0**2])
            p1 = np.array([(t0 + 0.3 * (t1 - t0)) * length, bend * t0**2 + side * 0.7 * h1])
            p2 = np.array([t1 * length, bend * t1**2 + side * 0.85 * h1])
            curve = (1 - b) ** 2 * p0 + 2 * b * (1 - b) * p1 + b**2 * p2
            veins.append((curve, lat_w, dark))
    return veins


def _palmate_blade(
    rng: np.random.Generator, length: float, px: float
) -> tuple[np.ndarray, list[tuple[np.ndarray, float, float]]]:
    """Palmately lobed blade (maple-like), star-shaped around a point near its base."""
    k = int(rng.choice([3, 5, 5, 7]))
    spread = {3: rng.uniform(0.7, 1.1), 5: rng.uniform(1.3, 1.8), 7: rng.uniform(1.9, 2.3)}[k]
    phis = np.linspace(-spread, spread, k)
    lens = 1.0 - (np.abs(phis) / spread) ** 1.5 * rng.uniform(0.25, 0.5)
    lens *= rng.uniform(0.92, 1.05, k)
    half = 2 * spread / (k - 1) * rng.uniform(0.75, 1.0)
    inner, sharp = rng.uniform(0.35, 0.55), rng.uniform(0.45, 0.7)
    theta = np.linspace(-np.pi, np.pi, 721)[:-1]
    d = np.abs(np.angle(np.exp(1j * (theta[:, None] - phis[None, :]))))
    r = np.maximum(inner, (lens * np.clip(1 - d / half, 0, 1) ** sharp).max(axis=1))
    r *= 1.0 - 0.5 * np.exp(-(((np.abs(theta) - np.pi) / 0.3) ** 2))  # cordate base
    if rng.random() < 0.5:
        r *= 1.0 - 0.025 * ((theta * 40 / np.pi) % 1.0)
    radius = length / (1.0 + 0.8 * inner)
    centre = np.array([0.8 * inner * radius, 0.0])
    poly = centre + radius * np.c_[r * np.cos(theta), r * np.sin(theta)]
    veins: list[tuple[np.ndarray, float, float]] = []
    w1, dark = max(1.0, rng.uniform(0.2, 0.4) * px), rng.uniform(0.25, 0.4)
    for phi, ln in zip(phis, lens, strict=True):
        s = np.linspace(0, 0.9 * ln * radius, 12)[:, None]
        veins.append((centre + s * np.array([math.cos(phi), math.sin(phi)]), w1, dark))
        for f in (0.35, 0.6):
            for side in (-1, 1):
                p0 = centre + f * ln * radius * np.array([math.cos(phi), math.sin(phi)])
                a = phi + side * 0.8
                p1 = p0 + 0.3 * ln * radius * np.array([math.cos(a), math.sin(a)])
                veins.append((np.vstack([p0, p1]), max(1.0, w1 * 0.5), dark * 0.7))
    return poly, veins


def _blade(
    rng: np.random.Generator, shape: str, length: float, px: float
) -> tuple[np.ndarray, list[tuple[np.ndarray, float, float]]]:
    if shape == "lobed":
        return _palmate_blade(rng, length, px)
    ratio = {"elliptic": (0.35, 0.6), "ovate": (0.45, 0.7), "lanceolate": (0.12, 0.25),
             "serrate": (0.3, 0.55)}[shape]  # fmt: skip
    return _simple_blade(rng, shape, length, length * rng.uniform(*ratio), px)


def _feret(poly: np.ndarray) -> tuple[float, float]:
    """Caliper length and the extent perpendicular to it, from the exact outline."""
    try:
        pts = poly[ConvexHull(poly).vertices]
    except QhullError:
        pts = poly
    diff = pts[:, None, :] - pts[None, :, :]
    d2 = (diff**2).sum(-1)
    i, j = np.unravel_index(int(np.argmax(d2)), d2.shape)
    length = float(math.sqrt(d2[i, j]))
    axis = (pts[j] - pts[i]) / max(length, 1e-9)
    perp = pts @ np.array([-axis[1], axis[0]])
    return length, float(perp.max() - perp.min())


# --------------------------------------------------------------------------------------------
# leaf placement


def _candidates(
    scene: _Scene, stems: list[tuple[np.ndarray, float]], n: int
) -> list[tuple[np.ndarray, float, float]]:
    """About ``n`` nodes spread evenly over the stems, alternating sides, in random order.

    Returns (node, petiole angle, position along its stem 0..1); each stem tip gets a terminal
    leaf pointing along the stem.
    """
    rng = scene.rng
    out = []
    total = sum(len(p) for p, _ in stems)
    for k, (pts, _) in enumerate(stems):
        m = max(2, round(n * len(pts) / total))
        start = 0.15 if k == 0 else 0.05
        side = rng.choice([-1.0, 1.0])
        phase = rng.uniform(0, 1)
        for f in np.append(start + (1 - start) * (np.arange(m - 1) + phase) / (m - 1), 1.0):
            i = min(int(f * (len(pts) - 1)), len(pts) - 2)
            tangent = math.atan2(*(pts[i + 1] - pts[i])[::-1])
            terminal = f >= 1.0
            angle = tangent + (0 if terminal else side * rng.uniform(0.6, 1.3))
            out.append((pts[i], angle, float(f)))
            side = -side
    return [out[i] for i in rng.permutation(len(out))]


def _make_leaf(
    scene: _Scene, shape: str, node: np.ndarray, angle: float, length: float
) -> _Leaf | None:
    """Build one leaf at a node; None if it would run off the sheet."""
    rng, ppm = scene.rng, scene.ppm
    pet_len = rng.uniform(2, 10) * ppm * min(scene.scale, 1.0)
    origin = node + pet_len * np.array([math.cos(angle), math.sin(angle)])
    blade_angle = angle + rng.normal(0, 0.15)
    local, veins = _blade(rng, shape, length, ppm)
    poly = _rotate(local, blade_angle) + origin
    box = _poly_box(poly)
    edge = max(1, _rint(2 * scene.ppm * min(scene.scale, 1.0)))  # mounters leave a margin
    if min(box[:2]) < edge or box[2] > scene.width - edge or box[3] > scene.height - edge:
        return None
    raster = _poly_raster(poly, box)
    if not raster.any():
        return None
    veins = [(_rotate(v, blade_angle) + origin, w, d) for v, w, d in veins]
    pet_w = max(1.0, rng.uniform(0.3, 0.6) * ppm)
    return _Leaf(
        shape, poly, box, raster, origin, blade_angle, length, veins, (node, origin, pet_w)
    )


def _hits(leaf: _Leaf, boxes: list[Box], pad: int) -> bool:
    """Whether the blade raster reaches into any of ``boxes`` grown by ``pad``."""
    x0, y0, x1, y1 = leaf.box
    for bx0, by0, bx1, by1 in boxes:
        sx0, sy0 = max(bx0 - pad, x0), max(by0 - pad, y0)
        sx1, sy1 = min(bx1 + pad, x1), min(by1 + pad, y1)
        if sx0 < sx1 and sy0 < sy1 and leaf.raster[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0].any():
            return True
    return False


def _grown(leaf: _Leaf) -> np.ndarray:
    return ndimage.binary_dilation(leaf.raster, structure=np.ones((3, 3), bool))


def _try_place(scene: _Scene, leaf: _Leaf, overlap_p: float) -> bool:
    """Accept a leaf if it keeps clear of clutter and the intact-leaf budget allows its contacts.

    ``scene.near`` holds every placed blade grown by one pixel, so one lookup tells whether a
    candidate overlaps or touches (8-connected) a placed leaf; most candidates die right there.
    """
    if _hits(leaf, scene.hard, _rint(scene.mm(2))):
        return False
    x0, y0, x1, y1 = leaf.box
    contact = bool(scene.near[y0:y1, x0:x1][leaf.raster].any())
    under_label = _hits(leaf, scene.soft, 0)
    if (contact or under_label) and scene.rng.random() > overlap_p:
        return False
    grown = _grown(leaf)
    touched: set[int] = set()
    if contact:
        ids = np.unique(scene.labels[y0:y1, x0:x1][grown])
        touched = {int(i) - 1 for i in ids if i > 0}
    if contact or under_label:
        if not scene.budget_allows(1 + sum(not scene.leaves[i].non_intact for i in touched)):
            return False
        leaf.non_intact = True
        leaf.why = "overlap" if contact else "under_label"
        for i in touched:
            scene.leaves[i].non_intact = True
            scene.leaves[i].why = scene.leaves[i].why or "overlap"
    scene.labels[y0:y1, x0:x1][leaf.raster] = len(scene.leaves) + 1
    scene.near[y0:y1, x0:x1] |= grown
    scene.leaves.append(leaf)
    return True


def _place_leaves(scene: _Scene, stems: list[tuple[np.ndarray, float]]) -> None:
    """Attach 6–20 leaves to the stems, letting a controlled share overlap or hide."""
    rng = scene.rng
    target = int(rng.integers(6, 21))
    primary = str(rng.choice(SHAPES))
    second = str(rng.choice(SHAPES)) if rng.random() < 0.25 else primary
    # Lobed blades are about as wide as long, so they get shorter to leave room for enough.
    typical = rng.uniform(25, 68) * min(scene.scale, 1.0) * (0.75 if primary == "lobed" else 1.0)
    lo, hi = 15 * min(scene.scale, 1.0), 80 * min(scene.scale, 1.0)
    overlap_p = rng.uniform(0.15, 0.7)
    for rnd in range(5):  # later rounds fill the gaps that crowded nodes left, with smaller leaves
        for node, angle, pos in _candidates(scene, stems, int(target * 1.3)):
            if len(scene.leaves) >= target:
                return
            shape = primary if rng.random() < 0.8 else second
            size = typical * rng.uniform(0.7, 1.25) * (1 - 0.35 * pos) * 0.85**rnd
            length_mm = float(np.clip(size, lo, hi))
            for attempt in range(3):
                turn = rng.normal(0, 0.3) if attempt else 0.0
                leaf = _make_leaf(scene, shape, node, angle + turn, length_mm * scene.ppm)
                if leaf is not None and scene.damage > 0:
                    leaf = maybe_damage(scene, leaf)
                if leaf is not None and _try_place(scene, leaf, overlap_p):
                    break
                length_mm = max(lo, length_mm * 0.85)


# --------------------------------------------------------------------------------------------
# leaf colour


def _leaf_colours(scene: _Scene) -> np.ndarray:
    """One plant colour with per-leaf drift: specimens dry unevenly but share a hue."""
    rng = scene.rng
    base = _LEAF_COLOURS[rng.integers(len(_LEAF_COLOURS))]
    brown = _LEAF_COLOURS[rng.choice([4, 5])]
    out = []
    for _ in scene.leaves:
        c = base + (brown - base) * rng.uniform(0, 0.5) ** 2 + rng.normal(0, 6, 3)
        if rng.random() < 0.15:  # leaf turned over: paler underside
            c = c * 1.25 + 12
        out.append(np.clip(c, 15, 230))
    return np.array(out, np.float32)


def _render_leaf(scene: _Scene, leaf: _Leaf, colour: np.ndarray) -> None:
    """Shade, texture and vein a blade, painting exactly the pixels of its raster."""
    rng, ppm = scene.rng, scene.ppm
    x0, y0, x1, y1 = leaf.box
    h, w = y1 - y0, x1 - x0
    rows = np.arange(y0, y1, dtype=np.float32)[:, None] - leaf.origin[1]
    cols = np.arange(x0, x1, dtype=np.float32)[None, :] - leaf.origin[0]
    c, s = math.cos(leaf.angle), math.sin(leaf.angle)
    u = (cols * c + rows * s) / max(leaf.length, 1.0)
    v = (-cols * s + rows * c) / max(leaf.length, 1.0)
    shade = 1.0 + rng.uniform(-0.25, 0.25) * v + rng.uniform(-0.08, 0.08) * (u - 0.5)
    shade = shade + np.where(v > 0, 1.0, -1.0) * rng.uniform(0.0, 0.05)
    shade = shade + rng.uniform(0.02, 0.05) * _lowfreq(rng, h, w, max(4.0, 3 * ppm))
    shade = shade + rng.uniform(0.01, 0.03) * _lowfreq(rng, h, w, max(2.0, 0.7 * ppm))
    shade = shade + rng.uniform(0.01, 0.03) * rng.standard_normal((h, w), dtype=np.float32)
    mask_img = Image.fromarray(leaf.raster.astype(np.uint8) * 255, "L")
    edge = np.asarray(mask_img.filter(ImageFilter.GaussianBlur(max(1.0, 0.35 * ppm))))
    shade = shade * (1.0 - rng.uniform(0.1, 0.25) * (1.0 - edge / 255.0))
    veins = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(veins)
    for pts, vw, dark in leaf.veins:
        draw.line(
            [(float(x - x0), float(y - y0)) for x, y in pts],
            fill=_rint(255 * dark),
            width=max(1, _rint(vw)),
            joint="curve",
        )
    shade = shade * (1.0 - np.asarray(veins, dtype=np.float32) / 255.0)
    rgb = colour[None, None, :] * shade[..., None]
    if rng.random() < 0.35:  # brown drying spots
        spots = np.clip(_lowfreq(rng, h, w, max(3.0, 4 * ppm)) - rng.uniform(1.0, 1.8), 0, 0.6)
        rgb = rgb + (np.array([120, 85, 50], np.float32) - rgb) * spots[..., None]
    patch = scene.canvas[y0:y1, x0:x1]
    patch[leaf.raster] = np.clip(rgb[leaf.raster], 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# clutter


def _label_card(scene: _Scene, box: Box, lines: list[str], title: bool) -> np.ndarray:
    """A printed label: off-white card, ruled border, lines of small print."""
    rng = scene.rng
    w, h = box[2] - box[0], box[3] - box[1]
    tint = np.clip(np.array([250, 249, 242]) + rng.normal(0, 3, 3), 0, 255).astype(int)
    img = Image.new("RGB", (w, h), tuple(tint))
    draw = ImageDraw.Draw(img)
    ink = (int(rng.integers(10, 50)),) * 3
    bw = max(1, _rint(0.25 * scene.ppm))
    inset = _rint(scene.mm(1.5))
    draw.rectangle(_xy(inset, inset, w - 1 - inset, h - 1 - inset), outline=ink, width=bw)
    size = min(scene.mm(rng.uniform(2.6, 3.4)), (h - 2 * inset) / (len(lines) + 1) / 1.15)
    y = inset + size * 0.5
    for i, line in enumerate(lines):
        font = _font(_rint(size * (1.25 if title and i == 0 else 1.0)))
        draw.text((inset + size * 0.6, y), line, fill=ink, font=font)
        y += size * (1.6 if title and i == 0 else 1.25)
    return _rgba(img)


def _label_lines(rng: np.random.Generator) -> list[str]:
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    genus = _words(rng, 1, capital=True)
    species = _words(rng, 1) + str(rng.choice(["a", "us", "um", "is", "oides", "ensis"]))
    return [
        "HERBARIUM " + _words(rng, 1).upper(),
        f"Flora of {_words(rng, 1, capital=True)}",
        f"{genus} {species} {_words(rng, 1, capital=True)[:6]}.",
        f"Fam.: {_words(rng, 1, capital=True)}aceae",
        f"Loc.: {int(rng.integers(2, 40))} km N of {_words(rng, 1, capital=True)}, "
        f"alt. {int(rng.integers(10, 2500))} m",
        f"Leg.: {_words(rng, 1, capital=True)[0]}. {_words(rng, 1, capital=True)}"
        f"   No. {int(rng.integers(10, 9999))}",
        f"Date: {int(rng.integers(1, 29))} {rng.choice(months)} {int(rng.integers(1850, 2020))}",
    ]


def _ruler(scene: _Scene, box: Box) -> np.ndarray:
    """Millimetre ruler; tick k sits at x0 + k·px_per_mm, rounded per tick, never accumulated."""
    rng, ppm = scene.rng, scene.ppm
    w, h = box[2] - box[0], box[3] - box[1]
    bands = ((246, 246, 240), (242, 226, 130), (236, 236, 228), (250, 240, 200))
    band = np.clip(np.array(bands[rng.integers(len(bands))]) + rng.normal(0, 3, 3), 0, 255)
    rgba = np.empty((h, w, 4), np.uint8)
    rgba[..., :3] = band.astype(np.uint8)
    rgba[..., 3] = 255
    rgba[[0, -1], :, :3] = (90, 90, 90)
    rgba[:, [0, -1], :3] = (90, 90, 90)
    start = rng.uniform(2.5, 4.0) * ppm
    n_mm = int((w - 2 * start) / ppm)
    tick_w = max(1, _rint(rng.uniform(0.15, 0.25) * ppm))
    from_top = bool(rng.random() < 0.5)
    img = Image.fromarray(rgba, "RGBA")
    draw = ImageDraw.Draw(img)
    font = _font(_rint(max(8.0, 2.4 * ppm)))
    ticks = []
    for k in range(n_mm + 1):
        x = start + k * ppm
        ticks.append(box[0] + x)
        length = (4.6 if k % 10 == 0 else 3.2 if k % 5 == 0 else 2.0) * ppm
        c0 = _rint(x - (tick_w - 1) / 2)
        r0, r1 = (1, 1 + _rint(length)) if from_top else (h - 1 - _rint(length), h - 1)
        draw.rectangle(_xy(c0, r0, c0 + tick_w - 1, r1 - 1), fill=(15, 15, 15, 255))
        if k % 10 == 0:
            text = str(k // 10)
            tw = draw.textlength(text, font=font)
            ty = r1 + 0.4 * ppm if from_top else r0 - 0.4 * ppm - font.size
            draw.text((x - tw / 2, ty), text, fill=(15, 15, 15, 255), font=font)
    scene.clutter["ruler"] = {
        "box": box,
        "ticks_x": ticks,
        "tick_width_px": tick_w,
        "ticks_from": "top" if from_top else "bottom",
        "mm_per_tick": 1.0,
    }
    return np.asarray(img)


def _chart(scene: _Scene, box: Box, cols: int, rows: int) -> np.ndarray:
    """Colour chart on a dark card; greens and browns included to punish colour-only models."""
    rng = scene.rng
    w, h = box[2] - box[0], box[3] - box[1]
    frame = (28, 28, 28) if rng.random() < 0.7 else (238, 238, 232)
    img = Image.new("RGB", (w, h), frame)
    draw = ImageDraw.Draw(img)
    n = cols * rows
    others = [_CHART_COLOURS[i] for i in rng.permutation(len(_CHART_COLOURS))]
    picks = list(_CHART_LEAFLIKE[: min(n, 3)]) + [_CHART_LEAFLIKE[3]] + others
    colours = [picks[i] for i in rng.permutation(n)]
    pad = scene.mm(2)
    pw, ph = (w - 2 * pad) / cols, (h - 2 * pad) / rows
    inner = max(1.0, 0.08 * pw)
    for i, col in enumerate(colours[:n]):
        r, c = divmod(i, cols)
        x, y = pad + c * pw, pad + r * ph
        draw.rectangle(_xy(x + inner, y + inner, x + pw - inner, y + ph - inner), fill=tuple(col))
    return _rgba(img)


def _barcode(scene: _Scene, box: Box) -> np.ndarray:
    """Code-128-looking bars of random widths over a catalogue number."""
    rng = scene.rng
    w, h = box[2] - box[0], box[3] - box[1]
    img = Image.new("RGB", (w, h), (252, 252, 250))
    draw = ImageDraw.Draw(img)
    module = max(1, _rint(rng.uniform(0.22, 0.32) * scene.ppm))
    quiet = scene.mm(3)
    text_h = h * 0.3
    x, bar = quiet, True
    while x < w - quiet - 4 * module:
        width = module * int(rng.integers(1, 5))
        if bar:
            draw.rectangle(_xy(x, scene.mm(1.2), x + width - 1, h - text_h), fill=(10, 10, 10))
        x += width
        bar = not bar
    digits = f"{_words(rng, 1).upper()[:2]} {int(rng.integers(10**7, 10**8))}"
    font = _font(_rint(text_h * 0.75))
    tw = draw.textlength(digits, font=font)
    draw.text(((w - tw) / 2, h - text_h * 0.95), digits, fill=(10, 10, 10), font=font)
    return _rgba(img)


def _packet(scene: _Scene, box: Box) -> np.ndarray:
    """A folded fragment envelope, a bit darker than the sheet, with its flap showing."""
    rng = scene.rng
    w, h = box[2] - box[0], box[3] - box[1]
    tone = np.array([224, 214, 186]) * rng.uniform(0.93, 1.05) + rng.normal(0, 2, 3)
    colour = tone.clip(0, 255).astype(int)
    line = tuple(int(c) for c in colour * 0.8)
    img = Image.new("RGB", (w, h), tuple(colour))
    draw = ImageDraw.Draw(img)
    lw = max(1, _rint(0.2 * scene.ppm))
    draw.rectangle(_xy(0, 0, w - 1, h - 1), outline=line, width=lw)
    flap = h * rng.uniform(0.2, 0.3)
    draw.line([(0, flap), (w - 1, flap)], fill=line, width=lw)
    draw.line([(0, flap), (w / 2, flap + h * 0.12), (w - 1, flap)], fill=line, width=lw)
    font = _font(_rint(scene.mm(2.6)))
    draw.text((scene.mm(3), flap + h * 0.2), "Fragments", fill=(70, 60, 50), font=font)
    return _rgba(img)


def _stamp(scene: _Scene) -> tuple[np.ndarray, int]:
    """A round or rectangular institutional ink stamp, rotated, with patchy ink."""
    rng = scene.rng
    ink = _INKS[rng.integers(len(_INKS))]
    d = _rint(scene.mm(rng.uniform(18, 28)))
    round_ = rng.random() < 0.6
    size = (d, d) if round_ else (_rint(d * 1.6), _rint(d * 0.7))
    img = Image.new("RGBA", size, (*ink, 0))
    draw = ImageDraw.Draw(img)
    lw = max(1, _rint(0.5 * scene.ppm))
    if round_:
        draw.ellipse(_xy(0, 0, d - 1, d - 1), outline=(*ink, 255), width=lw)
        g = _rint(d * 0.1)
        draw.ellipse(_xy(g, g, d - 1 - g, d - 1 - g), outline=(*ink, 255), width=max(1, lw // 2))
    else:
        draw.rectangle(_xy(0, 0, size[0] - 1, size[1] - 1), outline=(*ink, 255), width=lw)
    font = _font(_rint(size[1] * 0.16))
    words = ["HERB.", _words(rng, 1).upper()[:7], str(int(rng.integers(100, 99999)))]
    y = size[1] * 0.22
    for word in words:
        tw = draw.textlength(word, font=font)
        draw.text(((size[0] - tw) / 2, y), word, fill=(*ink, 255), font=font)
        y += size[1] * 0.19
    img = img.rotate(
        float(rng.uniform(-40, 40)), Image.Resampling.BILINEAR, expand=True, fillcolor=(*ink, 0)
    )
    rgba = np.array(img)
    patchy = np.clip(0.55 + 0.35 * _lowfreq(rng, *rgba.shape[:2], max(3.0, scene.ppm)), 0.2, 1.0)
    rgba[..., 3] = (rgba[..., 3] * patchy * rng.uniform(0.6, 0.85)).astype(np.uint8)
    return rgba, d


def _tape_poly(scene: _Scene, centre: np.ndarray, angle: float) -> np.ndarray:
    """A strip of tape with slightly torn short ends."""
    rng = scene.rng
    length, width = scene.mm(rng.uniform(14, 28)), scene.mm(rng.uniform(4, 7))
    n = 6
    ys = np.linspace(-width / 2, width / 2, n)
    right = np.c_[length / 2 + rng.normal(0, 0.15 * scene.ppm, n), ys]
    left = np.c_[-length / 2 + rng.normal(0, 0.15 * scene.ppm, n), ys[::-1]]
    return _rotate(np.vstack([right, left]), angle) + centre


def _leaves_hit(scene: _Scene, hit: np.ndarray, box: Box) -> set[int]:
    x0, y0, x1, y1 = box
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, scene.width), min(y1, scene.height)
    sub = hit[y0 - box[1] : y1 - box[1], x0 - box[0] : x1 - box[0]]
    ids = np.unique(scene.labels[y0:y1, x0:x1][sub])
    return {int(i) - 1 for i in ids if i > 0}


def _occlusion_ok(scene: _Scene, hit: np.ndarray, box: Box) -> bool:
    """Mark leaves a clutter item would cover, if the intact-leaf budget allows it."""
    hits = _leaves_hit(scene, hit, box)
    fresh = [i for i in hits if not scene.leaves[i].non_intact]
    if not scene.budget_allows(len(fresh)):
        return False
    for i in fresh:
        scene.leaves[i].non_intact = True
    return True


def _tapes(scene: _Scene, stems: list[tuple[np.ndarray, float]]) -> None:
    """Tape strips across stems, as mounters fix them; some catch a leaf."""
    rng = scene.rng
    scene.clutter["tapes"] = []
    for _ in range(int(rng.integers(2, 7))):
        for _try in range(6):
            pts, _ = stems[int(rng.integers(len(stems)))]
            k = int(rng.integers(0, len(pts) - 1))
            tangent = math.atan2(*(pts[k + 1] - pts[k])[::-1])
            poly = _tape_poly(scene, pts[k], tangent + math.pi / 2 + rng.normal(0, 0.25))
            box = _poly_box(poly, pad=1)
            hit = _poly_raster(poly, box)
            if _occlusion_ok(scene, hit, box):
                break
        else:
            continue
        rgba = np.zeros((*hit.shape, 4), np.uint8)
        colour = np.array([236, 228, 200]) + rng.normal(0, 4, 3)
        rgba[..., :3] = np.clip(colour, 0, 255).astype(np.uint8)
        crinkle = 1 + 0.08 * _lowfreq(rng, *hit.shape, max(3.0, scene.ppm))
        alpha = np.clip(rng.uniform(0.5, 0.7) * crinkle, 0.05, 0.9) * 255
        rgba[..., 3] = np.where(hit, alpha, 0).astype(np.uint8)
        _paste(scene, rgba, box[0], box[1], see_through=True)
        scene.clutter["tapes"].append(box)


def _place_stamp(scene: _Scene, label: Box) -> None:
    """Stamp on the label's corner or on open paper, avoiding intact leaves where it can."""
    rng = scene.rng
    rgba, d = _stamp(scene)
    h, w = rgba.shape[:2]
    hit = rgba[..., 3] > 0
    for _try in range(8):
        if rng.random() < 0.5:
            x, y = label[0] + rng.uniform(-0.3, 0.7) * d, label[1] + rng.uniform(-0.4, 0.5) * d
        else:
            x, y = rng.uniform(0, scene.width - w), rng.uniform(0, scene.height - h)
        box = (_rint(x), _rint(y), _rint(x) + w, _rint(y) + h)
        if _occlusion_ok(scene, hit, box):
            _paste(scene, rgba, box[0], box[1], see_through=True)
            scene.clutter["stamp"] = box
            return
    scene.clutter["stamp"] = None


def _draw_clutter(
    scene: _Scene, layout: dict[str, Box | None], stems: list[tuple[np.ndarray, float]]
) -> None:
    """Paint the clutter on top of the plant, in the order a mounter would add it."""
    rng = scene.rng
    if layout["packet"]:
        _paste(scene, _packet(scene, layout["packet"]), *layout["packet"][:2])
    if layout["ruler"]:
        _draw_ruler(scene, layout["ruler"])
    else:
        scene.clutter["ruler"] = None
    cols, rows = scene.clutter.pop("chart_grid")
    if layout["chart"]:
        _paste(scene, _chart(scene, layout["chart"], cols, rows), *layout["chart"][:2])
    if layout["barcode"]:
        _paste(scene, _barcode(scene, layout["barcode"]), *layout["barcode"][:2])
    label = layout["label"]
    _paste(scene, _label_card(scene, label, _label_lines(rng), True), *label[:2])
    if layout["slip"]:
        lines = [f"Det.: {_words(rng, 1, capital=True)} {_words(rng, 1)}",
                 f"{_words(rng, 1, capital=True)[0]}. {_words(rng, 1, capital=True)} "
                 f"{int(rng.integers(1900, 2024))}"]  # fmt: skip
        _paste(scene, _label_card(scene, layout["slip"], lines, False), *layout["slip"][:2])
    _tapes(scene, stems)
    _place_stamp(scene, label)
    for key in ("packet", "chart", "barcode", "label", "slip"):
        scene.clutter[key] = layout[key]


# --------------------------------------------------------------------------------------------
# scanner and truth


def _scan(rng: np.random.Generator, canvas: np.ndarray) -> np.ndarray:
    """Scanner optics and colour calibration: mild blur and a slight global cast."""
    # Mostly warm/cool white balance: an eye forgives that on paper, but not a green or pink one.
    gains = 1.0 + rng.normal(0, 0.012) * np.array([1.0, 0.3, -1.0]) + rng.normal(0, 0.004, 3)
    offset = rng.normal(0, 1, 3)
    lut = [_clip8(i * g + o) for g, o in zip(gains, offset, strict=True) for i in range(256)]
    img = Image.fromarray(canvas).point(lut)
    # A 3×3 Gaussian (sigma 0.5–0.7 px) is all the optics need, at half the cost of Pillow's.
    k = np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * rng.uniform(0.5, 0.7) ** 2))
    kernel = np.outer(k, k)
    img = img.filter(ImageFilter.Kernel((3, 3), (kernel / kernel.sum()).ravel().tolist(), 1))
    return np.asarray(img)


def _clip8(v: float) -> int:
    return min(255, max(0, _rint(v)))


def _leaf_truth(scene: _Scene, mask: np.ndarray) -> list[dict]:
    """Per-leaf facts: visible and full area, caliper size, intactness, centroid."""
    ppm2 = scene.ppm**2
    visible = np.bincount(scene.labels[mask].ravel(), minlength=len(scene.leaves) + 1)
    H, W = mask.shape
    out = []
    for i, leaf in enumerate(scene.leaves):
        x0, y0, x1, y1 = leaf.box
        ys, xs = np.nonzero(leaf.raster)
        covered = bool(scene.cover[y0:y1, x0:x1][leaf.raster].any())
        edge = xs.min() + x0 <= 0 or ys.min() + y0 <= 0 or xs.max() + x0 >= W - 1
        edge = edge or ys.max() + y0 >= H - 1
        length, width = _feret(leaf.poly)
        why = [leaf.why, "covered" if covered else "", "edge" if edge else "", leaf.damage]
        out.append({
            "leaf_id": i + 1,
            "shape": leaf.shape,
            "area_mm2": float(visible[i + 1]) / ppm2,
            "full_area_mm2": float(leaf.raster.sum()) / ppm2,
            "length_mm": length / scene.ppm,
            "width_mm": width / scene.ppm,
            "intact": not (leaf.non_intact or covered or edge or leaf.damage),
            "centroid_x": float(xs.mean() + x0),
            "centroid_y": float(ys.mean() + y0),
            "reason": "+".join(w for w in why if w) or "intact",
        })  # fmt: skip
    return out


# --------------------------------------------------------------------------------------------
# public API


def generate_sheet(
    seed: int,
    width: int = 2000,
    height: int = 3000,
    dpi: float = 300.0,
    index: int | None = None,
    scale_kind: str = "ticks",
    damage: float = 0.0,
) -> SyntheticSheet:
    """Render one synthetic sheet; ``index`` selects sheet ``index`` of a collection's stream.

    ``damage`` is the share of leaves given one of ``synth_damage.DAMAGE_KINDS`` (holes, tears,
    folds, ...); at 0 no random number is drawn for it, so older collections are reproduced.

    The generator is ``default_rng([seed, index])`` (``default_rng(seed)`` without an index), so
    any sheet of a collection can be re-rendered on its own. ``scale_kind`` is one of
    :data:`herbseg.synth.scales.SCALE_KINDS`; ``ticks`` draws the same sheet as before it existed.
    """
    if scale_kind not in SCALE_KINDS:
        raise ValueError(f"unknown scale kind {scale_kind!r}; one of {SCALE_KINDS}")
    if min(width, height) < 128 or not dpi > 0:
        raise ValueError(f"need a sheet of at least 128×128 px and dpi > 0, got {width}×{height}")
    rng = np.random.default_rng(seed if index is None else [seed, index])
    ppm = float(dpi) / 25.4
    scale = float(np.clip(min(width / ppm / _REF_MM[0], height / ppm / _REF_MM[1]), 0.3, 1.8))
    scene = _Scene(
        rng,
        ppm,
        scale,
        _paper(rng, height, width, ppm),
        np.zeros((height, width), np.int16),
        np.zeros((height, width), bool),
        np.zeros((height, width), bool),
        scale_kind=scale_kind,
    )
    scene.damage = float(damage)
    _foxing(scene)
    layout = _layout(scene)
    scene.hard = [b for k in ("ruler", "chart", "barcode", "packet") if (b := layout[k])]
    scene.soft = [b for k in ("label", "slip") if (b := layout[k])]
    stems = _stems(scene, _plant_region(scene, layout))
    _place_leaves(scene, stems)
    _draw_stems(scene, stems)
    for leaf, colour in zip(scene.leaves, _leaf_colours(scene), strict=True):
        _render_leaf(scene, leaf, colour)
    _draw_clutter(scene, layout, stems)
    mask = (scene.labels > 0) & ~scene.cover
    rgb = _scan(rng, scene.canvas)
    leaves = _leaf_truth(scene, mask)
    truth = {
        "px_per_mm": ppm,
        "dpi": float(dpi),
        "leaf_area_mm2": float(mask.sum()) / ppm**2,
        "n_leaves": len(leaves),
        "n_intact": sum(leaf["intact"] for leaf in leaves),
        "clutter": scene.clutter,
    }
    return SyntheticSheet(rgb=rgb, mask=mask, px_per_mm=ppm, leaves=leaves, truth=truth)


def sheet_id(index: int) -> str:
    return f"synth_{index:04d}"


def _write_one(job: tuple[str, int, int, int, int, float, str, float]) -> tuple[dict, list[dict]]:
    """Render and write one sheet; a top-level function so a process pool can pickle it."""
    out, seed, index, width, height, dpi, kind, damage = job
    sheet = generate_sheet(seed, width, height, dpi, index=index, scale_kind=kind, damage=damage)
    sid = sheet_id(index)
    out_dir = Path(out)
    with atomic_path(out_dir / "sheets" / f"{sid}.jpg") as tmp:
        Image.fromarray(sheet.rgb, "RGB").save(
            tmp, format="JPEG", quality=JPEG_QUALITY, dpi=(dpi, dpi)
        )
    write_mask(out_dir / "masks" / f"{sid}.png", sheet.mask)
    row = {
        "sheet_id": sid,
        "px_per_mm": sheet.px_per_mm,
        "leaf_area_mm2": sheet.truth["leaf_area_mm2"],
        "n_leaves": sheet.truth["n_leaves"],
    }
    return row, [{"sheet_id": sid, **leaf} for leaf in sheet.leaves]


def generate_collection(
    out_dir: Path | str,
    n_sheets: int,
    seed: int,
    width: int = 2000,
    height: int = 3000,
    dpi: float = 300.0,
    workers: int = 1,
    scale_kinds: tuple[str, ...] = ("ticks",),
    damage: float = 0.0,
) -> pd.DataFrame:
    """Write ``n_sheets`` sheets, masks and truth tables; the same arguments give the same bytes.

    Sheet ``i`` depends only on ``(seed, i)``, never on ``workers`` or on the other sheets; it
    carries scale ``scale_kinds[i % len(scale_kinds)]``.
    """
    out = Path(out_dir)
    (out / "sheets").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    kinds = tuple(scale_kinds) or ("ticks",)
    jobs = [
        (
            str(out),
            int(seed),
            i,
            int(width),
            int(height),
            float(dpi),
            kinds[i % len(kinds)],
            float(damage),
        )  # fmt: skip
        for i in range(n_sheets)
    ]
    if workers > 1 and n_sheets > 1:
        with multiprocessing.get_context().Pool(min(workers, n_sheets)) as pool:
            results = pool.map(_write_one, jobs, chunksize=1)
    else:
        results = [_write_one(job) for job in jobs]
    truth = pd.DataFrame([r for r, _ in results], columns=list(TRUTH_COLUMNS))
    leaves = pd.DataFrame([leaf for _, ls in results for leaf in ls], columns=list(LEAF_COLUMNS))
    write_csv(truth, out / "truth.csv")
    write_csv(leaves, out / "truth_leaves.csv")
    return truth
