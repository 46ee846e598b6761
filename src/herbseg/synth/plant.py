"""Synthetic sheets whose masks mark whole plants, in the colours real specimens have.

Why: the demo's generator (:mod:`herbseg.synth.sheets`) marks leaf blades only and paints every leaf
green or brown. Real label sets mark whole plants (stems, petioles, roots, flowers), and real
sheets carry grasses, wiry plants and yellow, red, pale, dark and two-tone leaves: a network
pre-trained on the demo's sheets learns that a stem, a grass blade or a yellow leaf is paper.
This module reuses the demo's paper, layout, leaf geometry, clutter and scanner, and adds:

* plant kinds: ``herb`` (the demo's leafy shoots, with roots and flowers), ``grass`` (tufts of
  long narrow blades with spikelet inflorescences), ``wiry`` (many thin branching stems, few
  small leaves) and ``rosette`` (leaves from one base, flowering scapes);
* leaf colours from a wider palette (green, yellow, red, orange, pale, dark, grey-green) and
  two-tone (variegated, or half-yellowed) blades;
* ``mask_class``: ``plant`` marks everything the plant painted (blades, stems, petioles,
  roots, flowers, spikelets) not hidden by opaque clutter: what shows through tape and stamp
  ink stays plant, as a person tracing a whole plant marks it (before, it was left out, and the
  network was taught that a plant seen through tape, pale and washed out, is paper); ``leaf``
  marks blades only, as the demo, and leaves taped or stamped blades' covered pixels out.

A sheet depends only on ``(seed, index)``, like the demo's.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from scipy import ndimage

from herbseg.io.images import write_mask
from herbseg.synth import sheets as S
from herbseg.synth.field_photos import draw_field_photo
from herbseg.synth.grasses import draw_grass
from herbseg.synth.paint import draw_marked, pick_colour
from herbseg.synth.paperweights import draw_paperweights

MASK_CLASSES = ("leaf", "plant")
KINDS = ("herb", "grass", "wiry", "rosette")
KIND_P = (0.4, 0.2, 0.2, 0.2)
# Real leaf colours (RGB) of pressed and fresh specimens, beyond the demo's greens and browns.
REAL_COLOURS = np.array(
    [
        (55, 82, 40), (78, 108, 46), (136, 140, 62),  # greens
        (196, 170, 62), (214, 186, 80),  # yellow (autumn, senescent)
        (150, 52, 40), (176, 84, 44),  # red, orange-red
        (188, 190, 150), (170, 176, 128),  # pale (glaucous undersides, bleached)
        (34, 42, 28), (48, 38, 30),  # very dark (blackened on drying)
        (118, 88, 52), (92, 106, 80),  # brown, grey-green
    ],
    dtype=np.float32,
)  # fmt: skip
_FLOWER_COLOURS = np.array(
    [(120, 80, 150), (200, 190, 210), (230, 200, 60), (190, 90, 120), (240, 235, 220)], np.float32
)


def _leaf_colours(scene: S._Scene) -> np.ndarray:
    """One plant colour from the real palette, drifting per leaf (some leaves a second hue)."""
    rng = scene.rng
    base, other = REAL_COLOURS[rng.integers(len(REAL_COLOURS), size=2)]
    mix = rng.uniform(0, 0.6) if rng.random() < 0.4 else 0.0
    out = []
    for _ in scene.leaves:
        c = base + (other - base) * rng.uniform(0, mix) + rng.normal(0, 6, 3)
        out.append(np.clip(c, 15, 235))
    return np.array(out, np.float32)


def _two_tone(scene: S._Scene, leaf: S._Leaf) -> None:
    """Recolour part of a blade (variegation, a yellowed half, a pale margin)."""
    rng = scene.rng
    x0, y0, x1, y1 = leaf.box
    patch = scene.canvas[y0:y1, x0:x1].astype(np.float32)
    rows = np.arange(y0, y1, dtype=np.float32)[:, None] - leaf.origin[1]
    cols = np.arange(x0, x1, dtype=np.float32)[None, :] - leaf.origin[0]
    c, s = math.cos(leaf.angle), math.sin(leaf.angle)
    side = -cols * s + rows * c  # signed distance across the midrib
    if rng.random() < 0.5:
        part = side > rng.normal(0, 0.05) * leaf.length  # one half
    else:
        part = S._lowfreq(rng, y1 - y0, x1 - x0, max(4.0, 4 * scene.ppm)) > 0.3  # blotches
    part &= leaf.raster
    target = REAL_COLOURS[rng.choice([3, 4, 7, 8])]  # yellow or pale
    shade = patch.mean(-1, keepdims=True) / max(float(patch[leaf.raster].mean()), 1.0)
    patch[part] = np.clip(target * shade[part], 0, 255)
    scene.canvas[y0:y1, x0:x1] = patch.astype(np.uint8)


def _roots(scene: S._Scene, plant: np.ndarray, bases: list[np.ndarray], region: S.Box) -> None:
    rng = scene.rng
    colour = pick_colour(rng, np.array([(120, 100, 72), (90, 70, 50), (150, 128, 96)], np.float32))
    x0, y0, x1, y1 = region
    root_region = (x0, y0, x1, min(scene.height - 2, y1 + int(0.12 * scene.height)))

    def paint(draw: ImageDraw.ImageDraw) -> None:
        for base in bases:
            for _ in range(int(rng.integers(4, 12))):
                angle = math.pi / 2 + rng.normal(0, 0.6)
                length = rng.uniform(0.03, 0.1) * scene.height
                pts = S._grow(rng, base, angle, length, max(2.0, scene.ppm), root_region)
                w = max(1, S._rint(scene.ppm * rng.uniform(0.2, 0.6)))
                draw.line([tuple(p) for p in pts], fill=colour, width=w, joint="curve")

    draw_marked(scene, plant, paint)


def _flowers(
    scene: S._Scene, plant: np.ndarray, tips: list[np.ndarray], texture: np.random.Generator
) -> None:
    """Flowers at ``tips``: petals round a centre, then pressed-petal texture from ``texture``."""
    rng = scene.rng
    colour = pick_colour(rng, _FLOWER_COLOURS)
    centre = pick_colour(rng, np.array([(220, 190, 50), (90, 60, 40)], np.float32))
    drawn: list[tuple[np.ndarray, float]] = []

    def paint(draw: ImageDraw.ImageDraw) -> None:
        for tip in tips:
            r = scene.ppm * rng.uniform(1.5, 5.0)
            n = int(rng.integers(4, 7))
            for k in range(n):
                a = 2 * math.pi * k / n + rng.uniform(0, 0.3)
                cx, cy = tip[0] + 0.6 * r * math.cos(a), tip[1] + 0.6 * r * math.sin(a)
                draw.ellipse((cx - r / 2, cy - r / 2, cx + r / 2, cy + r / 2), fill=colour)
            draw.ellipse(
                (tip[0] - r / 4, tip[1] - r / 4, tip[0] + r / 4, tip[1] + r / 4), fill=centre
            )
            drawn.append((tip, r))

    before = plant.copy()
    draw_marked(scene, plant, paint)
    painted = plant & ~before
    for tip, r in drawn:
        _press_petals(scene, painted, tip, r, texture)


def _press_petals(
    scene: S._Scene, flowers: np.ndarray, tip: np.ndarray, r: float, rng: np.random.Generator
) -> None:
    """Give one flower's flat fill what a pressed flower shows: veins fanning from the centre, a
    margin browned on drying, a deeper base and mottled translucency.

    Why: a flat cream or white fill is all but paper, where a real pale petal is told from paper
    by exactly these marks, so flower recall scored on flat fills asked for more than real sheets
    do. Training on textured flowers did not by itself teach the network pale ones (BENCHMARKS.md,
    "Pressed-petal flowers and dark steel paperweights"). Drawn from ``rng``, a stream of their
    own, so the rest of a sheet is the same pixel for pixel as with flat flowers.
    """
    R = 1.15 * r
    x0, y0 = max(0, int(tip[0] - R) - 1), max(0, int(tip[1] - R) - 1)
    x1, y1 = min(scene.width, int(tip[0] + R) + 2), min(scene.height, int(tip[1] + R) + 2)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xx - float(tip[0]), yy - float(tip[1])
    d = np.hypot(dx, dy) / R
    own = flowers[y0:y1, x0:x1] & (d <= 1.0)
    if not own.any():
        return
    theta = np.arctan2(dy, dx)
    veins = np.clip((np.cos(rng.integers(10, 24) * theta + rng.uniform(0, 6.3)) - 0.8) / 0.2, 0, 1)
    shade = 1.0 - rng.uniform(0.06, 0.22) * veins * (d > 0.25)
    shade -= rng.uniform(0.0, 0.2) * np.clip(1 - d / 0.5, 0, 1)  # a deeper base
    h, w = own.shape
    shade += rng.uniform(0.02, 0.06) * S._lowfreq(rng, h, w, max(2.0, 0.3 * r))
    inside = ndimage.distance_transform_edt(own)
    rim = np.clip(1.5 - inside / max(1.0, rng.uniform(0.15, 0.5) * scene.ppm), 0, 1)
    brown = np.array([150, 105, 60], np.float32) * rng.uniform(0.8, 1.1)
    patch = scene.canvas[y0:y1, x0:x1].astype(np.float32) * shade[..., None]
    patch += (brown - patch) * (rng.uniform(0.15, 0.5) * rim)[..., None]
    scene.canvas[y0:y1, x0:x1][own] = np.clip(patch[own], 0, 255).astype(np.uint8)


def _wiry(scene: S._Scene, region: S.Box) -> list[tuple[np.ndarray, float]]:
    """Many thin, much-branched stems (as demo stems, so leaves can attach to them)."""
    rng = scene.rng
    stems = S._stems(scene, region)
    out = []
    for pts, _w in stems:
        width = max(1.0, scene.ppm * rng.uniform(0.25, 0.6))
        out.append((pts, width))
        for _ in range(int(rng.integers(2, 6))):
            k = int(len(pts) * rng.uniform(0.2, 0.9))
            if k >= len(pts) - 1:
                continue
            tangent = math.atan2(*(pts[k + 1] - pts[k])[::-1])
            branch = S._grow(rng, pts[k], tangent + rng.choice([-1, 1]) * rng.uniform(0.3, 0.9),
                             len(pts) * 2.0 * rng.uniform(0.15, 0.4), 2.0, region)  # fmt: skip
            out.append((branch, max(1.0, width * 0.7)))
    return out


def _rosette(scene: S._Scene, region: S.Box) -> list[tuple[np.ndarray, float]]:
    """Short stems fanning from one base (leaves attach near it) plus long flowering scapes."""
    rng = scene.rng
    x0, y0, x1, y1 = region
    base = np.array([(x0 + x1) / 2 + rng.normal(0, 0.05) * (x1 - x0), y1 - 0.05 * (y1 - y0)])
    stems = []
    for k in range(int(rng.integers(5, 10))):
        angle = -math.pi / 2 + (k / 8 - 0.5) * 2.4 + rng.normal(0, 0.1)
        pts = S._grow(rng, base, angle, (y1 - y0) * rng.uniform(0.15, 0.3), 3.0, region)
        stems.append((pts, max(1.5, scene.ppm * rng.uniform(0.5, 1.0))))
    return stems


def _generator_digest() -> str:
    """A short digest of the synthetic generators' source, for :func:`plant_collection_once`."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def _stream(seed: int, index: int | None, stream: int) -> np.random.Generator:
    """The random numbers of one part of sheet ``index``: ``stream`` 14 draws the sheet, 15 its
    paperweights, 16 its pressed-petal texture, 17 its field photograph, so adding a part never
    shifts the draws of another."""
    return np.random.default_rng([seed, stream] if index is None else [seed, index, stream])


def generate_plant_sheet(
    seed: int,
    width: int = 2000,
    height: int = 3000,
    dpi: float = 300.0,
    index: int | None = None,
    mask_class: str = "plant",
    kind: str | None = None,
    paperweights: float = 0.0,
    field_photos: float = 0.0,
) -> S.SyntheticSheet:
    """One sheet of a plant of ``kind`` (drawn at random when None) and its ``mask_class`` mask;
    with probability ``paperweights`` the sheet also carries washers, coins or pens laid on it
    to hold it flat as it was photographed (:mod:`herbseg.synth.paperweights`), and with
    probability ``field_photos`` a photograph of the living plant glued near a corner
    (:mod:`herbseg.synth.field_photos`): a picture of leaves that is not plant.

    ``truth`` also carries ``kind``, ``stem_px`` (pixels of stems, petioles, roots, culms: the
    thin structures a frame can lose), ``flower_px`` (petals and flower centres not under a
    leaf or stem: pale ones are what a network mistakes for paper), the plant and leaf areas,
    and the paperweights and photographs laid.
    """
    if mask_class not in MASK_CLASSES:
        raise ValueError(f"mask_class must be one of {MASK_CLASSES}, got {mask_class!r}")
    rng = _stream(seed, index, 14)
    ppm = float(dpi) / 25.4
    scale = float(np.clip(min(width / ppm / S._REF_MM[0], height / ppm / S._REF_MM[1]), 0.3, 1.8))
    blank = np.zeros((height, width), bool)
    scene = S._Scene(rng, ppm, scale, S._paper(rng, height, width, ppm),
                     np.zeros((height, width), np.int16), blank.copy(), blank.copy())  # fmt: skip
    S._foxing(scene)
    layout = S._layout(scene)
    scene.hard = [b for k in ("ruler", "chart", "barcode", "packet") if (b := layout[k])]
    scene.soft = [b for k in ("label", "slip") if (b := layout[k])]
    region = S._plant_region(scene, layout)
    kind = kind or str(rng.choice(KINDS, p=KIND_P))
    thin = blank.copy()  # stems, petioles, roots, culms
    parts = blank.copy()  # flowers, spikelets, grass blades: plant, not leaf
    flowers = blank.copy()  # petals and their centres: what a frame loses when pale
    bases: list[np.ndarray] = []
    if kind == "grass":
        bases, culms = draw_grass(scene, parts, thin, region)
        stems = [(c, 1.0) for c in culms] or [(np.array([b, b + (0, -2.0)]), 1.0) for b in bases]
    else:
        stems = {"herb": S._stems, "wiry": _wiry, "rosette": _rosette}[kind](scene, region)
        if kind == "rosette":
            scene.leaves = []
        S._place_leaves(scene, stems)
        if kind == "wiry":  # few, small leaves
            scene.leaves = scene.leaves[: int(rng.integers(0, 6))]
            scene.labels[:] = 0
            for i, leaf in enumerate(scene.leaves):
                x0, y0, x1, y1 = leaf.box
                scene.labels[y0:y1, x0:x1][leaf.raster] = i + 1
        before = scene.canvas.copy()
        S._draw_stems(scene, stems)
        thin |= (scene.canvas != before).any(-1)
        for leaf, colour in zip(scene.leaves, _leaf_colours(scene), strict=True):
            S._render_leaf(scene, leaf, colour)
            if rng.random() < 0.2:
                _two_tone(scene, leaf)
        bases = [pts[0] for pts, _ in stems[:3]]
        if kind == "rosette":
            scapes = [S._grow(rng, bases[0], -math.pi / 2 + rng.normal(0, 0.2),
                              (region[3] - region[1]) * rng.uniform(0.4, 0.8), 3.0, region)
                      for _ in range(int(rng.integers(1, 4)))]  # fmt: skip
            before = scene.canvas.copy()
            S._draw_stems(scene, [(s, max(1.5, ppm * 0.6)) for s in scapes])
            thin |= (scene.canvas != before).any(-1)
            stems = stems + [(s, 1.0) for s in scapes]
        if rng.random() < 0.7:
            tips = [pts[-1] for pts, _ in stems if len(pts) > 3]
            picked = list(rng.permutation(tips))[: int(rng.integers(1, 8))]
            _flowers(scene, flowers, picked, _stream(seed, index, 16))
            parts |= flowers
    if rng.random() < 0.6:
        _roots(scene, thin, bases, region)
    S._draw_clutter(scene, layout, stems)
    glue = _stream(seed, index, 17)  # its own stream: sheets without photographs are unchanged
    glued = glue.random() < field_photos
    scene.clutter["field_photos"] = draw_field_photo(scene, glue) if glued else []
    own = _stream(seed, index, 15)  # its own stream: sheets without paperweights are unchanged
    laid = own.random() < paperweights
    scene.clutter["paperweights"] = draw_paperweights(scene, own, region) if laid else []
    # A whole plant is traced through tape and stamp ink; only opaque clutter hides it.
    leaf_mask = (scene.labels > 0) & ~scene.cover
    plant_mask = ((scene.labels > 0) | thin | parts) & ~scene.hidden
    thin &= ~scene.hidden & ~(scene.labels > 0)
    flowers &= ~scene.hidden & ~(scene.labels > 0) & ~thin
    mask = plant_mask if mask_class == "plant" else leaf_mask
    rgb = S._scan(rng, scene.canvas)
    truth = {
        "px_per_mm": ppm,
        "dpi": float(dpi),
        "kind": kind,
        "mask_class": mask_class,
        "plant_area_mm2": float(plant_mask.sum()) / ppm**2,
        "leaf_area_mm2": float(leaf_mask.sum()) / ppm**2,
        "stem_px": int(thin.sum()),
        "flower_px": int(flowers.sum()),
        "clutter": scene.clutter,
    }
    sheet = S.SyntheticSheet(rgb=rgb, mask=mask, px_per_mm=ppm, leaves=[], truth=truth)
    sheet.thin = thin  # type: ignore[attr-defined]  # the stems, for stem-recall benchmarks
    sheet.flowers = flowers  # type: ignore[attr-defined]  # for flower-recall benchmarks
    return sheet


PLANT_TRUTH_COLUMNS = (
    "sheet_id",
    "kind",
    "px_per_mm",
    "plant_area_mm2",
    "leaf_area_mm2",
    "stem_px",
    "flower_px",
)


def _write_one(job: tuple) -> dict:
    out, seed, index, width, height, dpi, mask_class, kind, paperweights, field_photos = job
    sheet = generate_plant_sheet(
        seed,
        width,
        height,
        dpi,
        index=index,
        mask_class=mask_class,
        kind=kind,
        paperweights=paperweights,
        field_photos=field_photos,
    )
    sid = S.sheet_id(index)
    out_dir = Path(out)
    Image.fromarray(sheet.rgb, "RGB").save(
        out_dir / "sheets" / f"{sid}.jpg", format="JPEG", quality=S.JPEG_QUALITY, dpi=(dpi, dpi)
    )
    write_mask(out_dir / "masks" / f"{sid}.png", sheet.mask)
    write_mask(out_dir / "stems" / f"{sid}.png", sheet.thin)  # type: ignore[attr-defined]
    write_mask(out_dir / "flowers" / f"{sid}.png", sheet.flowers)  # type: ignore[attr-defined]
    return {"sheet_id": sid} | {k: sheet.truth[k] for k in PLANT_TRUTH_COLUMNS[1:]}


def generate_plant_collection(
    out_dir: Path | str,
    n_sheets: int,
    seed: int,
    width: int = 2000,
    height: int = 3000,
    dpi: float = 300.0,
    workers: int = 1,
    mask_class: str = "plant",
    kind: str | None = None,
    paperweights: float = 0.0,
    field_photos: float = 0.0,
) -> pd.DataFrame:
    """Write ``n_sheets`` plant sheets, their masks, stem and flower masks (``stems/``,
    ``flowers/``) and ``truth.csv``;
    ``kind`` draws every sheet of one kind (a wiry-only validation set), None mixes them;
    ``paperweights`` and ``field_photos``: the shares of sheets with paperweights on them and
    with a field photograph glued to them (:func:`generate_plant_sheet`)."""
    out = Path(out_dir)
    for sub in ("sheets", "masks", "stems", "flowers"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    jobs = [(str(out), int(seed), i, int(width), int(height), float(dpi), mask_class, kind,
             float(paperweights), float(field_photos)) for i in range(n_sheets)]  # fmt: skip
    if workers > 1 and n_sheets > 1:
        with multiprocessing.get_context().Pool(min(workers, n_sheets)) as pool:
            rows = pool.map(_write_one, jobs, chunksize=1)
    else:
        rows = [_write_one(job) for job in jobs]
    truth = pd.DataFrame(rows, columns=list(PLANT_TRUTH_COLUMNS))
    truth.to_csv(out / "truth.csv", index=False)
    return truth


def plant_collection_once(
    out_dir: Path | str,
    n_sheets: int,
    seed: int,
    width: int,
    height: int,
    dpi: float,
    workers: int = 1,
    **drawing,
) -> None:
    """:func:`generate_plant_collection` into ``out_dir`` unless it already holds the same
    collection, drawn with the same arguments (``drawing``: ``mask_class``, ``kind``,
    ``paperweights``, ``field_photos``) by the same generator source (``drawn.json``).

    Why: benchmarks keep a drawn collection between runs. Kept by its seed alone, it would go on
    training and scoring on sheets an older generator drew after the generator changed.
    """
    out = Path(out_dir)
    drawn = {"sheets": n_sheets, "seed": seed, "size": [width, height, dpi], **drawing,
             "generator": _generator_digest()}  # fmt: skip
    stamp = out / "drawn.json"
    if (out / "truth.csv").exists() and stamp.exists() and json.loads(stamp.read_text()) == drawn:
        return
    shutil.rmtree(out, ignore_errors=True)
    generate_plant_collection(out, n_sheets, seed, width, height, dpi, workers=workers, **drawing)
    stamp.write_text(json.dumps(drawn))
