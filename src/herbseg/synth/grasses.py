"""Pressed grasses as herbarium sheets show them: tufts of long, straight, narrow blades, jointed
culms folded to fit the sheet, and panicles, spikes or digitate heads of small spikelets.

Why: the first synthetic grass was a tuft of broad blades that wandered like the herb's stems,
with oval blobs on threads for spikelets (BENCHMARKS.md, session 23). A real grass is almost
the opposite: blades a few millimetres wide that run straight for a hand's length and taper to
a point, culms with dark nodes and sheaths, bent back on themselves where the plant was taller
than the sheet, and an inflorescence made of hair-fine branches carrying spikelets a few
millimetres long, often with awns. Those are the structures a network trained on the old grass
never saw, and the ones a whole-plant mask of a real grass sheet is mostly made of.

Truth: blades, sheaths and spikelets are plant (``parts``); culms, nodes, inflorescence axes and
branches, pedicels and awns are the thin structures (``thin``) that stem recall is scored on.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import ImageDraw

from herbseg.synth import sheets as S
from herbseg.synth.paint import draw_marked, pick_colour

Box = tuple[int, int, int, int]
# Pressed grass colours (RGB): greens, olive and grey-green, and straw of dried plants.
_FOLIAGE = np.array(
    [(78, 108, 46), (96, 118, 58), (136, 140, 62), (110, 122, 86), (176, 160, 100),
     (150, 140, 80), (194, 176, 118)],
    np.float32,
)  # fmt: skip
# Spikelets: straw, green, purplish and brown glumes.
_SPIKELETS = np.array(
    [(190, 170, 110), (168, 150, 92), (120, 130, 70), (122, 84, 92), (140, 110, 70)], np.float32
)


def _unit(angle: float) -> np.ndarray:
    """The unit vector along ``angle`` (radians, image coordinates)."""
    return np.array([math.cos(angle), math.sin(angle)])


def _heading(a: np.ndarray, b: np.ndarray) -> float:
    """The angle of the step from ``a`` to ``b``."""
    return math.atan2(*(b - a)[::-1])


def _inside(p: np.ndarray, region: Box) -> bool:
    x0, y0, x1, y1 = region
    return x0 <= p[0] < x1 and y0 <= p[1] < y1


def pressed_path(
    rng: np.random.Generator,
    start: np.ndarray,
    angle: float,
    length: float,
    region: Box,
    step: float = 3.0,
    fold_p: float = 0.5,
    kink_p: float = 0.25,
) -> np.ndarray:
    """A culm or blade as it lies pressed: nearly straight with a steady slight bend, sometimes
    kinked once, and folded back (a hairpin) where it would leave ``region`` with probability
    ``fold_p``; otherwise it ends there."""
    n = max(3, int(length / step))
    bend = rng.normal(0, 0.6 / n)  # the whole path turns by about 0.6 rad at most
    kink = int(rng.integers(n // 4, max(n // 4 + 1, 3 * n // 4))) if rng.random() < kink_p else -1
    pts = [np.asarray(start, np.float64)]
    folded = False
    for i in range(n):
        angle += bend + rng.normal(0, 0.004)
        if i == kink:
            angle += rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.2)
        p = pts[-1] + step * _unit(angle)
        if not _inside(p, region):
            if folded or rng.random() > fold_p:
                break
            angle += rng.choice([-1.0, 1.0]) * rng.uniform(2.7, 3.05)
            bend, folded = -bend, True
            p = pts[-1] + step * _unit(angle)
            if not _inside(p, region):
                break
        pts.append(p)
    return np.array(pts)


def _ribbon(draw: ImageDraw.ImageDraw, pts: np.ndarray, widths: np.ndarray, fill: tuple) -> None:
    """A band of ``widths`` (one per point) along ``pts``, drawn quad by quad so a hairpin fold
    fills solid instead of cancelling itself out as one self-crossing polygon would."""
    if len(pts) < 2:
        return
    d = np.gradient(pts, axis=0)
    n = np.stack([-d[:, 1], d[:, 0]], 1) / np.maximum(np.hypot(*d.T)[:, None], 1e-6)
    left, right = pts + n * (widths[:, None] / 2), pts - n * (widths[:, None] / 2)
    for i in range(len(pts) - 1):
        quad = [tuple(left[i]), tuple(left[i + 1]), tuple(right[i + 1]), tuple(right[i])]
        draw.polygon(quad, fill=fill)


def _blade_widths(n: int, width: float, rng: np.random.Generator) -> np.ndarray:
    """A grass blade's outline: full width for most of its length, then a long taper to a point."""
    t = np.linspace(0, 1, n)
    taper = rng.uniform(0.55, 0.8)
    return width * np.clip((1 - t) / (1 - taper), 0, 1) ** 0.7


def _shade(colour: tuple, k: float) -> tuple:
    return tuple(int(np.clip(c * k, 0, 255)) for c in colour)


def _spikelet(draw: ImageDraw.ImageDraw, at: np.ndarray, angle: float, length: float,
              width: float, fill: tuple) -> np.ndarray:  # fmt: skip
    """A lanceolate spikelet from ``at`` along ``angle``; returns its tip (where an awn starts)."""
    u = _unit(angle)
    v = np.array([-u[1], u[0]])
    s = np.linspace(0, 1, 7)
    half = width / 2 * np.sin(np.pi * s) ** 0.8
    side_a = [at + u * length * a + v * h for a, h in zip(s, half, strict=True)]
    side_b = [at + u * length * a - v * h for a, h in zip(s[::-1], half[::-1], strict=True)]
    draw.polygon([tuple(p) for p in side_a + side_b], fill=fill)
    if length >= 6:  # the keel of the glume
        draw.line([tuple(at + u * length * 0.15), tuple(at + u * length * 0.85)],
                  fill=_shade(fill, 0.8), width=1)  # fmt: skip
    return at + u * length


class _Grass:
    """One grass plant's draws: its colours and sizes, shared by its tufts."""

    def __init__(self, scene: S._Scene, region: Box) -> None:
        rng = self.rng = scene.rng
        self.region = region
        self.ppm = scene.ppm
        self.height = region[3] - region[1]
        self.foliage = pick_colour(rng, _FOLIAGE, 10)
        self.glumes = pick_colour(rng, _SPIKELETS, 10)
        self.blade_mm = rng.uniform(1.5, 6.0)
        self.culm_mm = rng.uniform(0.5, 1.4)
        self.open = rng.uniform(0.1, 0.9)  # a contracted (0) or spreading (1) panicle
        self.awned = rng.random() < 0.3
        self.head = str(rng.choice(["panicle", "spike", "digitate"], p=[0.5, 0.35, 0.15]))
        self.culms: list[np.ndarray] = []
        self.heads: list[tuple[np.ndarray, float]] = []  # culm tip and heading

    def _blade_colour(self) -> tuple:
        if self.rng.random() < 0.2:  # a withered blade among green ones
            return pick_colour(self.rng, _FOLIAGE[4:], 8)
        return tuple(int(np.clip(c + self.rng.normal(0, 6), 0, 255)) for c in self.foliage)

    def blade(self, draw: ImageDraw.ImageDraw, start: np.ndarray, angle: float,
              length: float) -> None:  # fmt: skip
        rng = self.rng
        pts = pressed_path(rng, start, angle, length, self.region, fold_p=0.3, kink_p=0.35)
        width = max(2.0, self.ppm * self.blade_mm * rng.uniform(0.7, 1.2))
        colour = self._blade_colour()
        _ribbon(draw, pts, _blade_widths(len(pts), width, rng), colour)
        if width >= 4 and len(pts) > 6:  # the midrib, darker or paler than the blade
            k = float(rng.choice([0.8, 1.15]))
            draw.line([tuple(p) for p in pts[: int(0.7 * len(pts))]], fill=_shade(colour, k),
                      width=1)  # fmt: skip

    def basal_blades(self, draw: ImageDraw.ImageDraw, base: np.ndarray) -> None:
        for _ in range(int(self.rng.integers(4, 12))):
            angle = -math.pi / 2 + self.rng.normal(0, 0.45)
            self.blade(draw, base, angle, self.height * self.rng.uniform(0.2, 0.75))

    def culm(self, draw: ImageDraw.ImageDraw, leaves: ImageDraw.ImageDraw,
             base: np.ndarray) -> None:  # fmt: skip
        """A jointed culm with a sheath and a blade at each node; its tip is kept for a head."""
        rng, ppm = self.rng, self.ppm
        angle = -math.pi / 2 + rng.normal(0, 0.2)
        pts = pressed_path(rng, base, angle, self.height * rng.uniform(0.55, 1.0), self.region,
                           fold_p=0.7, kink_p=0.15)  # fmt: skip
        if len(pts) < 6:
            return
        w = max(1.0, ppm * self.culm_mm * rng.uniform(0.8, 1.2))
        draw.line([tuple(p) for p in pts], fill=self.foliage, width=S._rint(w), joint="curve")
        step = float(np.hypot(*(pts[1] - pts[0])))
        gap = max(4, int(ppm * rng.uniform(25, 60) / step))
        for k in range(gap, int(0.75 * len(pts)), gap):  # nodes
            node = pts[k]
            r = 0.8 * w
            draw.ellipse((node[0] - r, node[1] - r, node[0] + r, node[1] + r),
                         fill=_shade(self.foliage, 0.6))  # fmt: skip
            sheath = pts[k : k + max(3, int(ppm * rng.uniform(15, 40) / step))]
            _ribbon(leaves, sheath, np.full(len(sheath), 1.7 * w + 1), self.foliage)
            tangent = _heading(node, pts[min(k + 1, len(pts) - 1)])
            off = rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.8)
            self.blade(leaves, node, tangent + off, self.height * rng.uniform(0.08, 0.3))
        self.culms.append(pts)
        self.heads.append((pts[-1], _heading(pts[-2], pts[-1])))

    def _awn(self, draw: ImageDraw.ImageDraw, tip: np.ndarray, angle: float) -> None:
        if self.awned:
            a = angle + self.rng.normal(0, 0.15)
            end = tip + self.ppm * self.rng.uniform(3, 12) * _unit(a)
            draw.line([tuple(tip), tuple(end)], fill=_shade(self.glumes, 0.9), width=1)

    def _spike(self, axes: ImageDraw.ImageDraw, spikelets: ImageDraw.ImageDraw,
               at: np.ndarray, angle: float, length: float) -> None:  # fmt: skip
        """Spikelets close along both sides of a short axis: a spike, or one arm of a head."""
        rng, ppm = self.rng, self.ppm
        u = _unit(angle)
        axes.line([tuple(at), tuple(at + u * length)], fill=self.glumes,
                  width=max(1, S._rint(ppm * 0.3)))  # fmt: skip
        size = ppm * rng.uniform(3, 8)
        s, side = 0.0, 1.0
        while s < length:
            a = angle + side * rng.uniform(0.15, 0.45)
            tip = _spikelet(spikelets, at + u * s, a, size, size * rng.uniform(0.25, 0.4),
                            self.glumes)  # fmt: skip
            self._awn(axes, tip, a)
            s += ppm * rng.uniform(1.0, 3.0)
            side = -side

    def _panicle(self, axes: ImageDraw.ImageDraw, spikelets: ImageDraw.ImageDraw,
                 at: np.ndarray, angle: float) -> None:  # fmt: skip
        """Whorls of hair-fine branches up a main axis, spikelets on the outer part of each."""
        rng, ppm = self.rng, self.ppm
        length = self.height * rng.uniform(0.1, 0.28)
        axis = pressed_path(rng, at, angle, length, self.region, step=3.0, fold_p=0, kink_p=0)
        if len(axis) < 4:
            return
        axes.line([tuple(p) for p in axis], fill=self.foliage,
                  width=max(1, S._rint(ppm * self.culm_mm * 0.6)))  # fmt: skip
        fine = max(1, S._rint(ppm * rng.uniform(0.12, 0.3)))
        whorls = int(rng.integers(3, 8))
        for j in range(whorls):
            k = int((len(axis) - 2) * j / whorls)
            here = axis[k]
            heading = _heading(here, axis[k + 1])
            for _ in range(int(rng.integers(1, 5))):
                spread = rng.choice([-1.0, 1.0]) * (0.1 + 1.0 * self.open) * rng.uniform(0.5, 1)
                reach = length * rng.uniform(0.2, 0.5) * (1 - 0.6 * j / whorls)
                branch = pressed_path(rng, here, heading + spread, reach, self.region,
                                      step=2.0, fold_p=0, kink_p=0)  # fmt: skip
                if len(branch) < 3:
                    continue
                axes.line([tuple(p) for p in branch], fill=self.glumes, width=fine)
                gap = max(1, int(ppm * rng.uniform(2, 5) / 2.0))
                for p in branch[len(branch) // 3 :: gap]:
                    a = heading + spread + rng.normal(0, 0.3)
                    size = ppm * rng.uniform(2, 6)
                    pedicel = p + ppm * rng.uniform(0.5, 2) * _unit(a)
                    axes.line([tuple(p), tuple(pedicel)], fill=self.glumes, width=1)
                    tip = _spikelet(spikelets, pedicel, a, size, size * rng.uniform(0.25, 0.45),
                                    self.glumes)  # fmt: skip
                    self._awn(axes, tip, a)

    def head_at(self, axes: ImageDraw.ImageDraw, spikelets: ImageDraw.ImageDraw,
                tip: np.ndarray, angle: float) -> None:  # fmt: skip
        rng = self.rng
        if self.head == "panicle":
            self._panicle(axes, spikelets, tip, angle)
        elif self.head == "spike":
            self._spike(axes, spikelets, tip, angle, self.height * rng.uniform(0.04, 0.15))
        else:
            for _ in range(int(rng.integers(2, 7))):
                a = angle + rng.normal(0, 0.45)
                self._spike(axes, spikelets, tip, a, self.height * rng.uniform(0.05, 0.14))


class _Layer:
    """Draw calls kept in order and replayed later onto a real canvas.

    Why: one culm's draws belong to two masks (the culm is thin, its blades are not), and
    :func:`~herbseg.synth.paint.draw_marked` labels whatever one painting pass changes. Recording
    each mask's draws as the plant is grown, then replaying them one layer at a time, keeps the
    random draws in growing order and gives each pixel the label of the layer that painted it.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def __getattr__(self, name: str):
        return lambda *a, **k: self.calls.append((name, a, k))

    def replay(self, draw: ImageDraw.ImageDraw) -> None:
        for name, a, k in self.calls:
            getattr(draw, name)(*a, **k)


def draw_grass(
    scene: S._Scene, parts: np.ndarray, thin: np.ndarray, region: Box
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One grass plant in ``region``: marks its blades, sheaths and spikelets in ``parts`` and
    its culms, nodes, branches and awns in ``thin``; returns the tufts' bases (where roots grow)
    and the culms (where mounters lay tape)."""
    rng = scene.rng
    x0, y0, x1, y1 = region
    rw, rh = x1 - x0, y1 - y0
    grass = _Grass(scene, region)
    bases = [np.array([x0 + rw * rng.uniform(0.25, 0.75), y1 - rng.uniform(0, 0.05) * rh])
             for _ in range(int(rng.integers(1, 4)))]  # fmt: skip
    culms, blades, axes, spikelets = _Layer(), _Layer(), _Layer(), _Layer()
    for base in bases:
        for _ in range(int(rng.integers(1, 5))):
            grass.culm(culms, blades, base)  # type: ignore[arg-type]
        grass.basal_blades(blades, base)  # type: ignore[arg-type]
    for tip, angle in grass.heads:
        grass.head_at(axes, spikelets, tip, angle)  # type: ignore[arg-type]
    for layer, mask in ((culms, thin), (blades, parts), (axes, thin), (spikelets, parts)):
        draw_marked(scene, mask, layer.replay)
    return bases, grass.culms
