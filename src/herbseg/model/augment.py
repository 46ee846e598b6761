"""Augmentation for the variation real sheets have and a few labelled sheets do not cover.

Why: with a few dozen real labels, a network learns the paper tint, the lighting, the leaf hue
and the framing of those sheets. Sheets from another herbarium differ in exactly these ways: paper
from white to yellowed, foxing and glue stains, leaves green to yellow, red or blackened, scans
saved at low JPEG quality, specimens pressed larger or smaller, and photographs that show the
table or backdrop around the sheet. Each transform here draws one of those changes at random
(from the generator :mod:`herbseg.model.data` seeds per sample, so runs stay reproducible):

* ``hue``: hue shift up to ± this many degrees, with saturation and value jitter (leaf colour);
* ``paper_tone``: probability of re-tinting the bright (paper) pixels toward another paper;
* ``stains``: probability of adding faint brown blotches (foxing, glue, water stains);
* ``jpeg``: lowest JPEG quality to re-encode at (0 = off);
* ``scale``: zoom up to ± this fraction (specimens and scans of other sizes);
* ``table_edges``: probability of a dark or wooden band along one or two frame edges (a
  photographed sheet's surroundings); the band is background in the mask;
* ``grey``: probability of a greyscale frame (older digitisations scanned in grey levels, which
  the hue jitter never reaches: a network trained on colour alone loses a sixth of the plant
  there, BENCHMARKS.md "Greyscale scans").
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
import numpy as np

REAL_KEYS = ("hue", "paper_tone", "stains", "jpeg", "scale", "table_edges", "grey")
_PAPERS = np.array(
    [(246, 244, 236), (240, 230, 205), (228, 214, 178), (232, 232, 228), (214, 206, 186)],
    np.float32,
)
_TABLES = np.array(
    [(40, 36, 34), (92, 64, 40), (130, 96, 62), (70, 70, 72), (20, 20, 22), (160, 150, 140)],
    np.float32,
)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    small = rng.random((cells, cells)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


class PaperTone(A.ImageOnlyTransform):
    """Move the paper (bright, low-chroma pixels) toward another paper's colour."""

    def get_params(self) -> dict[str, Any]:
        rng = self.random_generator
        return {"target": _PAPERS[rng.integers(len(_PAPERS))] + rng.normal(0, 4, 3)}

    def apply(self, img: np.ndarray, target: np.ndarray, **params) -> np.ndarray:
        f = img.astype(np.float32)
        light = f.mean(-1, keepdims=True)
        paper_w = np.clip((light - 150) / 60, 0, 1)  # 0 on dark plant, 1 on paper
        # ">=": on a frame whose brightest 40 % share one value (flat white paper, a clipped
        # scan) ">" selects nothing, and the median of nothing turned the whole frame black
        ref = np.median(f.reshape(-1, 3)[light.reshape(-1) >= np.percentile(light, 60)], axis=0)
        return np.clip(f + paper_w * (target - ref), 0, 255).astype(np.uint8)


class Stains(A.ImageOnlyTransform):
    """A few faint brown blotches (foxing, glue, water stains)."""

    def get_params(self) -> dict[str, Any]:
        rng = self.random_generator
        return {"seed": int(rng.integers(2**31)), "strength": float(rng.uniform(0.1, 0.35))}

    def apply(self, img: np.ndarray, seed: int, strength: float, **params) -> np.ndarray:
        rng = np.random.default_rng(seed)
        h, w = img.shape[:2]
        blot = np.clip(_smooth_noise(rng, h, w, 6) - 0.7, 0, 0.3) / 0.3 * strength
        brown = np.array([150, 110, 60], np.float32)
        f = img.astype(np.float32)
        return np.clip(f + (brown - f) * blot[..., None], 0, 255).astype(np.uint8)


class TableEdges(A.DualTransform):
    """A band of table or backdrop along one or two edges of the frame; background in the mask."""

    def get_params(self) -> dict[str, Any]:
        rng = self.random_generator
        sides = rng.choice(4, size=int(rng.integers(1, 3)), replace=False).tolist()
        return {
            "sides": sides,
            "widths": rng.uniform(0.02, 0.12, size=len(sides)).tolist(),
            "colour": (_TABLES[rng.integers(len(_TABLES))] + rng.normal(0, 6, 3)).tolist(),
            "seed": int(rng.integers(2**31)),
        }

    @staticmethod
    def _band(shape: tuple[int, ...], sides: list[int], widths: list[float]) -> np.ndarray:
        h, w = shape[:2]
        band = np.zeros((h, w), bool)
        for side, frac in zip(sides, widths, strict=True):
            n = max(1, int(frac * (h if side in (0, 2) else w)))
            if side == 0:
                band[:n] = True
            elif side == 1:
                band[:, -n:] = True
            elif side == 2:
                band[-n:] = True
            else:
                band[:, :n] = True
        return band

    def apply(self, img, sides, widths, colour, seed, **params) -> np.ndarray:
        band = self._band(img.shape, sides, widths)
        rng = np.random.default_rng(seed)
        grain = 1 + 0.15 * (_smooth_noise(rng, *img.shape[:2], 24) - 0.5)
        fill = np.clip(np.array(colour, np.float32) * grain[..., None], 0, 255).astype(np.uint8)
        out = img.copy()
        out[band] = fill[band]
        return out

    def apply_to_mask(self, mask, sides, widths, colour, seed, **params) -> np.ndarray:
        out = mask.copy()
        out[self._band(mask.shape, sides, widths)] = 0
        return out


def real_transforms(cfg: dict[str, Any]) -> list[A.BasicTransform]:
    """The transforms ``cfg`` (``train.augment``) turns on, in the order a sheet would meet them:
    the specimen (hue, scale), the paper (tone, stains), the photograph (table, grey levels), the
    file (JPEG)."""
    out: list[A.BasicTransform] = []
    hue = float(cfg.get("hue", 0) or 0)
    if hue > 0:
        out.append(A.HueSaturationValue(hue, 25, 15, p=0.8))
    scale = float(cfg.get("scale", 0) or 0)
    if scale > 0:
        out.append(
            A.Affine(
                scale=(1 - scale, 1 + scale),
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                border_mode=cv2.BORDER_REFLECT_101,
                p=0.7,
            )
        )
    transforms = (
        ("paper_tone", PaperTone),
        ("stains", Stains),
        ("table_edges", TableEdges),
        ("grey", A.ToGray),
    )
    for key, cls in transforms:
        p = float(cfg.get(key, 0) or 0)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"augment.{key} is a probability in [0, 1], got {p}")
        if p > 0:
            out.append(cls(p=p))
    jpeg = int(cfg.get("jpeg", 0) or 0)
    if jpeg:
        out.append(A.ImageCompression(quality_range=(max(5, min(jpeg, 95)), 95), p=0.5))
    return out
