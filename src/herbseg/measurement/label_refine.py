"""Label refinement: snap a coarse or slightly shifted annotation to the sheet's colour edges.

Why: hand-drawn whole-plant masks are coarse (a generous line around stems, paper between
leaflets), and registered masks sit a few pixels off. A network trained on them learns the
slack. OpenCV's GrabCut re-decides only a band around the annotation's outline, from colour
models of the sheet itself: pixels deep inside the mask stay plant, pixels far outside stay
background, and the band in between goes to whichever colour model explains it. Thin parts of
the mask (stems the band would swallow) are left to GrabCut as "probably plant", never forced
out. The refined mask is a new file; the original is never overwritten, and each refined mask
gets a provenance row (source, method, band, iterations, pixels added and removed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage as ndi

from herbseg.io.images import load_rgb, read_mask, write_mask

PROVENANCE_COLUMNS = [
    "sheet_id", "source_mask", "refined_mask", "method", "band", "iterations", "long_side",
    "added_px", "removed_px", "changed_fraction", "status", "error",
]  # fmt: skip


@dataclass(frozen=True)
class LabelRefineSettings:
    """``band``: half-width of the re-decided zone, as a fraction of the sheet's long side."""

    band: float = 0.01
    iterations: int = 4
    long_side: int = 1024


def _resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    img = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(img.resize(size, Image.Resampling.BILINEAR)) >= 128


def grabcut_refine(
    rgb: np.ndarray, mask: np.ndarray, settings: LabelRefineSettings | None = None
) -> np.ndarray:
    """The annotation ``mask`` (any size; stretched onto ``rgb``) snapped to ``rgb``'s colour
    edges within the band, at the sheet's size. An empty or full mask comes back unchanged."""
    s = settings or LabelRefineSettings()
    h, w = rgb.shape[:2]
    f = min(1.0, s.long_side / max(h, w))
    size = (max(1, round(w * f)), max(1, round(h * f)))
    small = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
    m = _resize_mask(mask, size)
    if not m.any() or m.all():
        return _resize_mask(mask, (w, h))
    band = max(1, round(s.band * max(size)))
    inner = ndi.binary_erosion(m, iterations=band)
    outer = ndi.binary_dilation(m, iterations=band)
    trimap = np.full(m.shape, cv2.GC_BGD, np.uint8)
    trimap[outer] = cv2.GC_PR_BGD
    trimap[m] = cv2.GC_PR_FGD
    trimap[inner] = cv2.GC_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(small[..., ::-1].copy(), trimap, None, bgd, fgd, s.iterations,
                cv2.GC_INIT_WITH_MASK)  # fmt: skip
    out = (trimap == cv2.GC_FGD) | (trimap == cv2.GC_PR_FGD)
    return _resize_mask(out, (w, h)) if size != (w, h) else out


def refine_labels(
    rows: pd.DataFrame, out_dir: Path, settings: LabelRefineSettings | None = None
) -> pd.DataFrame:
    """Refine the masks of manifest-like ``rows`` (``sheet_id``, ``path``, ``mask_path``) into
    ``out_dir/<sheet_id>.png``; returns one provenance row per mask (errors included)."""
    s = settings or LabelRefineSettings()
    out_dir.mkdir(parents=True, exist_ok=True)
    prov = []
    for r in rows.itertuples():
        base = {"sheet_id": r.sheet_id, "source_mask": r.mask_path, "method": "grabcut",
                **{k: v for k, v in asdict(s).items()}}  # fmt: skip
        try:
            rgb = load_rgb(r.path)
            mask = read_mask(r.mask_path)
            refined = grabcut_refine(rgb, mask, s)
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
            prov.append(base | {"refined_mask": "", "status": "error", "error": str(exc)})
            continue
        before = _resize_mask(mask, (rgb.shape[1], rgb.shape[0]))
        path = out_dir / f"{r.sheet_id}.png"
        write_mask(path, refined)
        added, removed = int((refined & ~before).sum()), int((before & ~refined).sum())
        prov.append(base | {
            "refined_mask": str(path), "added_px": added, "removed_px": removed,
            "changed_fraction": round((added + removed) / max(int(before.sum()), 1), 4),
            "status": "ok", "error": "",
        })  # fmt: skip
    return pd.DataFrame(prov, columns=PROVENANCE_COLUMNS)
