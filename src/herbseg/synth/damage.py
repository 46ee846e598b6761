"""Leaf damage for the synthetic generator: what real sheets have and an area/solidity rule misses.

Hussein et al. (2021) keep only intact, individual leaves for measuring. The generator's first
failure modes (overlapping, touching, covered, cut by the edge) are mostly visible to a rule on
area, solidity and the sheet edge. The ones here mostly are not: a leaf with insect holes or a torn
margin, a blade folded over or with a rolled margin, a leaf seen edge-on, a loose fragment, and two
leaves merged at the petiole. Each is made by remapping the leaf's own raster (the blade that would
have been drawn), so mask and colours still come from one boolean raster and the truth table can
name the reason per leaf.

Damage is drawn from the sheet's own generator only when it is switched on, so a collection
generated without it stays byte-identical to one generated before this module existed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

if TYPE_CHECKING:
    from herbseg.synth.sheets import _Leaf, _Scene

DAMAGE_KINDS = (
    "insect_holes",
    "torn_margin",
    "folded",
    "curled",
    "edge_on",
    "fragment",
    "merged_pair",
)


def _frame(leaf: _Leaf) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors along the blade (base to tip) and across it, in sheet (x, y)."""
    c, s = math.cos(leaf.angle), math.sin(leaf.angle)
    return np.array([c, s]), np.array([-s, c])


def _lookup(leaf: _Leaf, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether sheet points (x, y) fall on the leaf's current raster (nearest pixel)."""
    x0, y0, x1, y1 = leaf.box
    ix, iy = np.floor(x + 0.5).astype(int) - x0, np.floor(y + 0.5).astype(int) - y0
    ok = (ix >= 0) & (iy >= 0) & (ix < x1 - x0) & (iy < y1 - y0)
    out = np.zeros(x.shape, bool)
    out[ok] = leaf.raster[iy[ok], ix[ok]]
    return out


def _grid(box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = box
    ys, xs = np.mgrid[y0:y1, x0:x1]
    return xs.astype(np.float64), ys.astype(np.float64)


def _crop(scene: _Scene, raster: np.ndarray, box: tuple[int, int, int, int]):
    """Shrink a raster to its content; None if empty or inside the mounter's margin."""
    if raster.sum() < 20:
        return None
    rows, cols = np.nonzero(raster.any(axis=1))[0], np.nonzero(raster.any(axis=0))[0]
    x0, y0 = box[0] + int(cols[0]) - 2, box[1] + int(rows[0]) - 2
    x1, y1 = box[0] + int(cols[-1]) + 3, box[1] + int(rows[-1]) + 3
    edge = max(1, round(2 * scene.ppm * min(scene.scale, 1.0)))
    if min(x0, y0) < edge or x1 > scene.width - edge or y1 > scene.height - edge:
        return None
    out = np.zeros((y1 - y0, x1 - x0), bool)
    sy, sx = y0 - box[1], x0 - box[0]
    src = raster[max(sy, 0) : sy + out.shape[0], max(sx, 0) : sx + out.shape[1]]
    out[max(-sy, 0) : max(-sy, 0) + src.shape[0], max(-sx, 0) : max(-sx, 0) + src.shape[1]] = src
    return out, (x0, y0, x1, y1)


def _pad(leaf: _Leaf, pad: float) -> tuple[int, int, int, int]:
    p = int(math.ceil(pad))
    x0, y0, x1, y1 = leaf.box
    return x0 - p, y0 - p, x1 + p, y1 + p


def _local(leaf: _Leaf, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates along (u) and across (v) the blade, in px from its base."""
    along, across = _frame(leaf)
    dx, dy = xs - leaf.origin[0], ys - leaf.origin[1]
    return dx * along[0] + dy * along[1], dx * across[0] + dy * across[1]


def _sheet(leaf: _Leaf, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    along, across = _frame(leaf)
    return (
        leaf.origin[0] + u * along[0] + v * across[0],
        leaf.origin[1] + u * along[1] + v * across[1],
    )


def _blade_width(leaf: _Leaf) -> float:
    """Widest extent across the midrib, in px (from the raster, so it holds for every shape)."""
    xs, ys = _grid(leaf.box)
    _, v = _local(leaf, xs[leaf.raster], ys[leaf.raster])
    return float(v.max() - v.min()) if v.size else 1.0


def _holes(scene: _Scene, leaf: _Leaf) -> np.ndarray:
    """Two to seven round or ragged insect holes well inside the blade."""
    rng = scene.rng
    depth = ndimage.distance_transform_edt(leaf.raster)
    raster = leaf.raster.copy()
    width = _blade_width(leaf)
    yy, xx = np.mgrid[: raster.shape[0], : raster.shape[1]]
    for _ in range(int(rng.integers(2, 8))):
        r = rng.uniform(0.05, 0.12) * width
        inside = np.argwhere(depth > r + 2)
        if not len(inside):
            break
        cy, cx = inside[rng.integers(len(inside))]
        a = rng.uniform(0.6, 1.0)
        raster &= ((xx - cx) / r) ** 2 + ((yy - cy) / (a * r)) ** 2 > 1.0
    return raster


def _tears(scene: _Scene, leaf: _Leaf) -> np.ndarray:
    """One to three bites out of the margin (herbivory, breakage in handling)."""
    rng = scene.rng
    raster = leaf.raster.copy()
    edge = np.argwhere(raster & ~ndimage.binary_erosion(raster))
    width = _blade_width(leaf)
    yy, xx = np.mgrid[: raster.shape[0], : raster.shape[1]]
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = edge[rng.integers(len(edge))]
        r = rng.uniform(0.15, 0.35) * width
        wobble = 1 + 0.25 * np.sin(np.arctan2(yy - cy, xx - cx) * rng.integers(3, 8))
        raster &= np.hypot(xx - cx, yy - cy) > r * wobble
    return raster


def _fold(scene: _Scene, leaf: _Leaf):
    """Blade folded over along an oblique line: the far part lies on the near part."""
    rng = scene.rng
    box = _pad(leaf, 0.3 * leaf.length)
    xs, ys = _grid(box)
    u, v = _local(leaf, xs, ys)
    t = rng.uniform(0.4, 0.75) * leaf.length
    phi = rng.uniform(-0.6, 0.6)  # the fold line's tilt from square across the blade
    n = np.array([math.cos(phi), math.sin(phi)])  # its normal, in (u, v)
    d = (u - t) * n[0] + v * n[1]
    near = d <= 0
    ru, rv = u - 2 * d * n[0], v - 2 * d * n[1]
    raster = near & (_lookup(leaf, xs, ys) | _lookup(leaf, *_sheet(leaf, ru, rv)))
    return raster, box


def _squeeze(scene: _Scene, leaf: _Leaf, both: bool):
    """Blade narrowed across the midrib: one margin rolled under, or the whole leaf edge-on."""
    rng = scene.rng
    xs, ys = _grid(leaf.box)
    u, v = _local(leaf, xs, ys)
    if both:
        s_lo = s_hi = rng.uniform(0.08, 0.2)
    else:
        s_lo, s_hi = (rng.uniform(0.25, 0.5), 1.0)
        if rng.random() < 0.5:
            s_lo, s_hi = s_hi, s_lo
    scale = np.where(v < 0, s_lo, s_hi)
    raster = _lookup(leaf, *_sheet(leaf, u, v / scale))
    veins = []
    for pts, w, dark in leaf.veins:
        pu, pv = _local(leaf, pts[:, 0], pts[:, 1])
        pv = pv * np.where(pv < 0, s_lo, s_hi)
        veins.append((np.c_[_sheet(leaf, pu, pv)], w, dark))
    return raster, leaf.box, veins


def _fragment(scene: _Scene, leaf: _Leaf) -> np.ndarray:
    """A piece of a blade: cut along a ragged line, keeping the tip or the base side."""
    rng = scene.rng
    xs, ys = _grid(leaf.box)
    u, v = _local(leaf, xs, ys)
    t = rng.uniform(0.3, 0.7) * leaf.length
    phi = rng.uniform(-0.9, 0.9)
    d = (u - t) * math.cos(phi) + v * math.sin(phi)
    d = d + 0.03 * leaf.length * np.sin(v / max(1.0, 0.05 * leaf.length) + rng.uniform(0, 6))
    keep = d > 0 if rng.random() < 0.5 else d < 0
    return leaf.raster & keep


def _pair(scene: _Scene, leaf: _Leaf):
    """A second blade from the same base: two leaves one component, joined at the petiole."""
    from herbseg.synth.sheets import _blade, _poly_box, _poly_raster, _rotate

    rng = scene.rng
    turn = rng.choice([-1.0, 1.0]) * rng.uniform(0.35, 0.9)
    length = leaf.length * rng.uniform(0.7, 1.0)
    local, veins = _blade(rng, leaf.shape, length, scene.ppm)
    poly = _rotate(local, leaf.angle + turn) + leaf.origin
    b2 = _poly_box(poly)
    box = (
        min(leaf.box[0], b2[0]),
        min(leaf.box[1], b2[1]),
        max(leaf.box[2], b2[2]),
        max(leaf.box[3], b2[3]),
    )
    raster = _poly_raster(poly, box)
    x0, y0, x1, y1 = leaf.box
    raster[y0 - box[1] : y1 - box[1], x0 - box[0] : x1 - box[0]] |= leaf.raster
    extra = [(_rotate(v, leaf.angle + turn) + leaf.origin, w, d) for v, w, d in veins]
    return raster, box, leaf.veins + extra


def damage_leaf(scene: _Scene, leaf: _Leaf, kind: str) -> _Leaf | None:
    """The leaf with damage ``kind`` applied (raster, box and veins), or None if it cannot be.

    The outline (``poly``) is left as drawn: truth lengths stay those of the undamaged blade,
    which is what a measurement of a damaged leaf would wrongly be compared with.
    """
    from dataclasses import replace

    veins = leaf.veins
    if kind == "insect_holes":
        raster, box = _holes(scene, leaf), leaf.box
    elif kind == "torn_margin":
        raster, box = _tears(scene, leaf), leaf.box
    elif kind == "folded":
        raster, box = _fold(scene, leaf)
    elif kind in ("curled", "edge_on"):
        raster, box, veins = _squeeze(scene, leaf, both=kind == "edge_on")
    elif kind == "fragment":
        raster, box = _fragment(scene, leaf), leaf.box
    elif kind == "merged_pair":
        raster, box, veins = _pair(scene, leaf)
    else:
        raise ValueError(f"unknown damage kind {kind!r}; known: {', '.join(DAMAGE_KINDS)}")
    cropped = _crop(scene, raster, box)
    if cropped is None:
        return None
    raster, box = cropped
    return replace(leaf, raster=raster, box=box, veins=veins, damage=kind)


def maybe_damage(scene: _Scene, leaf: _Leaf) -> _Leaf:
    """With probability ``scene.damage``, one damage kind drawn uniformly; else the leaf as is."""
    if scene.damage <= 0 or scene.rng.random() >= scene.damage:
        return leaf
    kind = str(scene.rng.choice(DAMAGE_KINDS))
    return damage_leaf(scene, leaf, kind) or leaf
