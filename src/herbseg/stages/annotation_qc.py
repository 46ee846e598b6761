"""Annotation QC: check every training mask against its own sheet before anything trains on it.

Why: the real label sets herbseg meets are drawn by hand, exported from other tools, or — like the
Violaceae masks — drawn on other crops of the photographs and registered afterwards. Nothing in
training can tell a wrong mask from a hard sheet, and a mask that covers a block of empty paper
teaches the network that paper is plant. Each mask is therefore scored against evidence the sheet
itself carries, with no model trained on the masks being checked:

* **Shape checks**: an empty mask, a full one, one that is the negative of the plant (the unmarked
  part matches the sheet's plant colours better than the marked part) and an aspect ratio that
  differs from the sheet's (the mask is stretched onto the sheet, which misplaces it).
* **Agreement with the sheet's colours**: the model-free classical baseline
  (:func:`herbseg.stages.baseline.segment` with ``method: otsu``: paper found per sheet, plant =
  colour
  far from the paper, grey print and off-hue charts dropped) marks the plant-coloured pixels.
  Annotations are coarser than colour and whole-plant masks include the paper between stems, so both
  directions are measured at a scale of ``tolerance`` × the sheet's long side: ``on_paper`` is
  the share of the mask that is paper-coloured *in blocks* at least that wide (an opening removes
  the slack a coarse outline leaves along stems; a misregistered mask puts whole blocks on paper),
  ``missed`` the share of plant-coloured pixels farther than that from the mask (a plant or a leaf
  nobody marked), leaving out colour touching the image border (the table around a photographed
  sheet). For ``leaf`` masks ``missed`` counts only plant colour thicker than a stem, which a leaf
  mask rightly leaves out. ``unmarked`` is the share of the blades next to the mask (plant colour
  thicker than a stem, within ``tolerance`` of it) that the mask leaves out in blocks: a mask
  painted in strokes inside the leaves, or one that stops short of the blades it outlines, teaches
  the network that the rest of each blade is paper. ``missed`` cannot see it, as every unmarked
  patch lies within the tolerance of a stroke. The blocks' width (a third of the tolerance) was
  chosen on synthetic sheets with exact masks (``benchmarks/annotation_qc.py``, synthetic section):
  the narrowest at which exact masks, and exact masks degraded as a registered hand-drawn one is
  (lossy 256×384 copy, scale ±1 %, shift ±0.6 %, edge ±2 px), stay below half the cut.

The score is ``1 - max(on_paper, missed, unmarked)`` (0 for the shape failures): one bad side is
enough, as a mask a quarter of which is paper is as harmful as one that leaves a quarter of the
plant out.
A mask scoring below ``min_score`` is left out of training and evaluation; every mask gets a row
with its score and, when anything was found, the reason in words — nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from scipy import ndimage as ndi

from herbseg.config.settings import settings_from
from herbseg.io.files import write_csv
from herbseg.io.images import SheetError, load_rgb, read_mask
from herbseg.io.tables import read_tables
from herbseg.measurement.distance import within
from herbseg.stages.baseline import BaselineSettings, segment

QC_COLUMNS = [
    "sheet_id", "mask_path", "status", "score", "reason", "mask_fraction", "evidence_fraction",
    "on_paper", "missed", "unmarked", "aspect_mismatch", "sheet_w", "sheet_h", "mask_w", "mask_h",
]  # fmt: skip
KEPT, EXCLUDED = "kept", "excluded"
# Unmarked blades count in blocks at least tolerance / BLADE_DIVISOR in radius (module docstring).
BLADE_DIVISOR = 3
# Colours of the QC overlay (RGB): agreement, mask on empty paper, plant the mask misses (far
# from it, or blades next to it left unmarked).
AGREE, ON_PAPER, MISSED = (0, 170, 255), (255, 0, 60), (255, 200, 0)


@dataclass(frozen=True)
class QCSettings:
    """The ``annotation_qc:`` config section (defaults live in the schema)."""

    min_score: float = 0.8
    tolerance: float = 0.02
    long_side: int = 512
    mask_class: str = field(default="leaf", metadata={"config": "model.mask_class"})
    aspect_tolerance: float = field(
        default=0.05, metadata={"config": "ingest.mask_aspect_tolerance"}
    )
    overlays: int = 8


@dataclass
class QCResult:
    """One mask's scores, plus the working-size maps the overlay draws."""

    row: dict[str, Any]
    rgb: np.ndarray | None = None
    mask: np.ndarray | None = None
    on_paper: np.ndarray | None = None
    missed: np.ndarray | None = None


def _resize_bool(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A mask brought onto a ``(w, h)`` grid by area averaging, thresholded at half."""
    if mask.shape == (size[1], size[0]):
        return mask
    img = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2)) >= 128


def _disk(radius: int) -> np.ndarray:
    r = max(1, radius)
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    return x * x + y * y <= r * r


def _off_border(mask: np.ndarray, margin: float = 0.05) -> np.ndarray:
    """``mask`` without the components that reach within ``margin`` × the long side of the
    image border (where a photographed sheet shows its table or backdrop)."""
    labels, n = ndi.label(mask)
    if n == 0:
        return mask
    b = max(1, round(margin * max(mask.shape)))
    band = np.ones(mask.shape, bool)
    band[b:-b, b:-b] = False
    edge = np.unique(labels[band])
    return mask & ~np.isin(labels, edge[edge > 0])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(int((a | b).sum()), 1))


def score_mask(
    rgb: np.ndarray, mask: np.ndarray, settings: QCSettings
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Scores and reasons of one mask (``mask`` any size; it is stretched onto ``rgb``).

    ``rgb`` may be a reduced decode of the sheet. Returns the row fields and the working-size
    maps (``rgb``, ``mask``, ``on_paper``, ``missed``) for the overlay.
    """
    h, w = rgb.shape[:2]
    f = min(1.0, settings.long_side / max(w, h))
    size = (max(1, round(w * f)), max(1, round(h * f)))
    small = rgb
    if size != (w, h):
        small = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
    m = _resize_bool(mask, size)
    reasons: list[str] = []
    sheet_aspect, mask_aspect = w / h, mask.shape[1] / mask.shape[0]
    aspect = abs(mask_aspect / sheet_aspect - 1.0)
    if aspect > settings.aspect_tolerance:
        reasons.append(
            f"aspect {mask_aspect:.3f} vs sheet {sheet_aspect:.3f}: stretched onto the sheet"
        )
    fraction = float(m.mean())
    # Plant colour, for "is the mask on paper": the baseline's printed-rectangle rule is off, as
    # a straight stem fills its bounding box too. For "what does the mask miss" it is on, so a
    # colour chart's patches or a coloured label do not count as unmarked plant.
    evidence = segment(
        small, BaselineSettings(method="otsu", long_side=settings.long_side, max_fill=1.0)
    )
    objects_out = segment(small, BaselineSettings(method="otsu", long_side=settings.long_side))
    row: dict[str, Any] = {
        "mask_fraction": round(fraction, 5),
        "evidence_fraction": round(float(evidence.mean()), 5),
        "aspect_mismatch": round(aspect, 4),
    }
    maps = {"rgb": small, "mask": m}
    empty = np.zeros_like(m)
    if fraction < 1e-4:
        return _done(row, 0.0, ["empty mask"] + reasons, np.nan, np.nan), maps | {
            "on_paper": empty,
            "missed": evidence,
        }
    if fraction > 0.98:
        return _done(row, 0.0, ["full mask (marks the whole sheet)"] + reasons, np.nan, np.nan), (
            maps | {"on_paper": m & ~evidence, "missed": empty}
        )
    if not evidence.any():
        reasons.append("sheet shows no plant colour: agreement not checked")
        return _done(row, np.nan, reasons, np.nan, np.nan), maps | {
            "on_paper": empty,
            "missed": empty,
        }
    if fraction > 0.5 and _iou(~m, evidence) > _iou(m, evidence):
        reasons.insert(0, "inverted mask (the unmarked part holds the plant colours)")
        return _done(row, 0.0, reasons, np.nan, np.nan), maps | {
            "on_paper": m & ~evidence,
            "missed": evidence & ~m,
        }
    tol = max(1, round(settings.tolerance * max(size)))
    thick = _disk(max(1, tol // 2))
    # Paper inside the mask, thick enough to be a block rather than the slack a coarse outline
    # leaves along stems (an opening removes anything narrower than ~tolerance).
    paper_in_mask = m & ~ndi.binary_dilation(evidence, _disk(1))
    on_paper_map = ndi.binary_opening(paper_in_mask, thick)
    # Plant colour the mask leaves out; colour reaching the image border is the table or
    # backdrop around a photographed sheet more often than plant, and is not counted.
    target = _off_border(objects_out)
    if settings.mask_class == "leaf":  # stems and petioles are rightly outside a leaf mask
        target = ndi.binary_opening(target, thick)
    near_mask = within(m, tol)
    missed_map = ndi.binary_opening(target & ~near_mask, _disk(1))
    unmarked_map, unmarked = _unmarked_blades(target, near_mask, m, max(1, tol // BLADE_DIVISOR))
    on_paper = float(on_paper_map.sum() / max(int(m.sum()), 1))
    missed = float(missed_map.sum() / max(int(target.sum()), 1)) if target.any() else 0.0
    score = 1.0 - max(on_paper, missed, unmarked)
    if on_paper >= 0.05:
        reasons.append(f"{on_paper:.0%} of the mask is blocks of empty paper")
    if missed >= 0.05:
        reasons.append(f"misses {missed:.0%} of the sheet's plant-coloured pixels")
    if unmarked >= 0.05:
        reasons.append(
            f"leaves {unmarked:.0%} of the blades it marks unmarked (painted in strokes, or stops "
            "short of the leaves)"
        )
    maps |= {"on_paper": on_paper_map, "missed": missed_map | unmarked_map}
    return _done(row, score, reasons, on_paper, missed, unmarked), maps


def _unmarked_blades(
    plant: np.ndarray, near: np.ndarray, mask: np.ndarray, radius: int
) -> tuple[np.ndarray, float]:
    """The blades ``near`` a mask that it leaves out, and their share of those blades.

    Blades are plant colour an opening of ``radius`` keeps (thicker than a stem, which a coarse
    outline may rightly miss by a pixel); only blocks of them at least as thick count as
    unmarked, so a registration residual of a pixel or two along a blade's edge is not a fault.
    """
    blades = ndi.binary_opening(plant, _disk(radius)) & near
    if not blades.any():
        return np.zeros_like(mask), 0.0
    out = ndi.binary_opening(blades & ~mask, _disk(radius))
    return out, float(out.sum() / blades.sum())


def _done(
    row: dict,
    score: float,
    reasons: list[str],
    on_paper: float,
    missed: float,
    unmarked: float = np.nan,
) -> dict:
    def r4(x: float) -> float:
        return round(float(x), 4) if np.isfinite(x) else np.nan

    return row | {
        "score": r4(score),
        "reason": "; ".join(reasons),
        "on_paper": r4(on_paper),
        "missed": r4(missed),
        "unmarked": r4(unmarked),
    }


def check_row(row: dict, settings: QCSettings) -> QCResult:
    """Score one manifest row (an annotated, readable sheet); unreadable files become a reason."""
    base = {"sheet_id": row["sheet_id"], "mask_path": row["mask_path"]}
    try:
        mask = read_mask(row["mask_path"])
        sheet_w, sheet_h = int(row["width"]), int(row["height"])
        f = min(1.0, settings.long_side / max(sheet_w, sheet_h))
        rgb = load_rgb(row["path"], min_size=(round(sheet_w * f), round(sheet_h * f)))
    except (SheetError, OSError, ValueError) as exc:
        reason = f"unreadable: {getattr(exc, 'reason', exc)}"
        return QCResult(base | {"status": EXCLUDED, "score": 0.0, "reason": reason})
    fields, maps = score_mask(rgb, mask, settings)
    out = base | fields | {"sheet_w": sheet_w, "sheet_h": sheet_h}
    out |= {"mask_w": mask.shape[1], "mask_h": mask.shape[0]}
    score = out["score"]
    keep = not np.isfinite(score) or score >= settings.min_score
    out["status"] = KEPT if keep else EXCLUDED
    if not keep:
        out["reason"] = f"score {score:.2f} < annotation_qc.min_score {settings.min_score}: " + (
            out["reason"] or "low agreement with the sheet's colours"
        )
    return QCResult(out, maps["rgb"], maps["mask"], maps["on_paper"], maps["missed"])


def render_qc_overlay(result: QCResult, out: str | Path, long_side: int = 700) -> None:
    """The sheet with the mask tinted by verdict: blue where it agrees with the plant colours,
    red where it lies on empty paper, yellow where plant colour is left unmarked."""
    rgb, row = result.rgb, result.row
    if rgb is None:
        return
    img = rgb.astype(np.float32)
    for where, colour, alpha in (
        (result.mask & ~result.on_paper, AGREE, 0.35),
        (result.on_paper, ON_PAPER, 0.6),
        (result.missed, MISSED, 0.7),
    ):
        img[where] = (1 - alpha) * img[where] + alpha * np.array(colour, np.float32)
    pic = Image.fromarray(img.clip(0, 255).astype(np.uint8))
    f = long_side / max(pic.size)
    pic = pic.resize((round(pic.size[0] * f), round(pic.size[1] * f)), Image.Resampling.NEAREST)
    score = row.get("score")
    lines = [f"{row['sheet_id']}  score {score:.2f}  {row['status']}"]
    reason = str(row.get("reason") or "no problem found")
    while reason:
        lines.append(reason[:80])
        reason = reason[80:]
    band = 14 * len(lines) + 30
    canvas = Image.new("RGB", (pic.size[0], pic.size[1] + band), "white")
    canvas.paste(pic, (0, band))
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        draw.text((6, 4 + 14 * i), line, fill="black")
    y = 8 + 14 * len(lines)
    x = 6
    legend = ((AGREE, "mask on plant"), (ON_PAPER, "mask on paper"), (MISSED, "missed"))
    for colour, label in legend:
        draw.rectangle((x, y, x + 12, y + 12), fill=colour)
        draw.text((x + 16, y), label, fill="black")
        x += 130
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out, quality=90)


def annotation_qc(
    manifest: pd.DataFrame,
    settings: QCSettings,
    overlay_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """The QC table of every annotated ``ok`` sheet; the ``settings.overlays`` lowest-scoring
    masks are drawn into ``overlay_dir`` (``<rank>_<sheet>.jpg``)."""
    # has_mask is True/False, or "True"/"False" when the shard lists are read as text
    has_mask = manifest["has_mask"].astype(str).str.lower() == "true"
    rows = manifest[(manifest["status"] == "ok") & has_mask]
    results: list[QCResult] = []
    for row in rows.to_dict("records"):
        res = check_row(row, settings)
        results.append(res)
        if res.row["status"] == EXCLUDED:
            log(f"{res.row['sheet_id']}: excluded ({res.row['reason']})")
    table = pd.DataFrame([r.row for r in results], columns=QC_COLUMNS)
    if overlay_dir is not None:
        overlay_dir.mkdir(parents=True, exist_ok=True)
        order = sorted(
            range(len(results)),
            key=lambda i: (np.nan_to_num(results[i].row.get("score", 0.0), nan=1.0), i),
        )
        for rank, i in enumerate(order[: settings.overlays], start=1):
            sheet = results[i].row["sheet_id"]
            render_qc_overlay(results[i], overlay_dir / f"{rank:02d}_{sheet}.jpg")
    n_out = int((table["status"] == EXCLUDED).sum())
    log(f"annotation QC: {len(table)} masks, {n_out} excluded (min_score {settings.min_score})")
    return table


def excluded_ids(qc: pd.DataFrame) -> set[str]:
    """Sheets whose masks training and evaluation must leave out."""
    return set(qc.loc[qc["status"] == EXCLUDED, "sheet_id"].astype(str))


def run(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule annotation_qc: the annotated shards' lists (``inputs.shards``) checked mask by mask."""
    manifest = read_tables(inputs.shards, "text")
    if not len(manifest.columns):
        manifest = pd.DataFrame(columns=["sheet_id", "status", "has_mask"])
    settings = settings_from(
        QCSettings,
        params.qc,
        "annotation_qc",
        mask_class=params.mask_class,
        aspect_tolerance=params.aspect_tolerance,
    )
    table = annotation_qc(manifest, settings, Path(outputs.overlays), log=log)
    write_csv(table, outputs.table)
