"""Scale detection on real and synthetic sheets (issue 21): every floor of BENCHMARKS.md.

    taskset -c 0 .venv/bin/python benchmarks/scales.py        # ~10 min on one loaded core

* Violaceae (../shared/data/violaceae): of the sheets marked usable by eye
  (tests/data/violaceae_scales.csv), how many get a scale (confidence >= the workflow's default
  threshold); px/mm against the 15 by-eye measurements (tests/data/violaceae_scale_truth.csv);
  scales reported on sheets marked as having none.
* LeafMachine2 (../shared/data/leafmachine2_demo): 12 sheets, one ruler, 4.538 px/mm by eye.
* Synthetic: a small collection of every scale kind at the demo's size (2000x3000, 300 dpi) and
  at phone resolution (750x1000, 60 dpi = 2.36 px/mm), JPEG as the demo writes them.
* Time per sheet on one core: the whole detection (tick ruler + checker) against the tick ruler
  alone (what the measure stage ran before), side by side on the same decoded Violaceae sheets.

Writes benchmarks/results/scales.txt and benchmarks/results/scales_evidence.png (evidence crops
of a sample, of every low-confidence scale and of every scale found on a sheet marked 'none').
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import csv  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_report  # noqa: E402

from herbseg.measurement.ruler import detect_ruler_fit, to_grey  # noqa: E402
from herbseg.measurement.scale import Scale  # noqa: E402
from herbseg.measurement.scale_detect import detect_scale  # noqa: E402
from herbseg.reporting.scale_evidence import draw_scale_evidence  # noqa: E402
from herbseg.stages.measure import MeasureSettings, scale_columns  # noqa: E402
from herbseg.synth.sheets import JPEG_QUALITY, generate_sheet  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HERBSEG_SHARED", REPO.parent / "shared"))
VIOLACEAE = SHARED / "data" / "violaceae" / "images"
LM2 = SHARED / "data" / "leafmachine2_demo"
RESULTS = REPO / "benchmarks" / "results"
THRESHOLD = MeasureSettings().min_ruler_confidence  # the workflow's default
LOW = 0.8  # the report's default scale_low_confidence
LM2_BY_EYE = 4.538


def _rows(path: Path) -> list[dict]:
    with path.open() as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def _timed(fn, *args):
    t0 = time.process_time()
    out = fn(*args)
    return out, time.process_time() - t0


def _jpeg(rgb: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return np.asarray(Image.open(buf).convert("RGB"))


def _evidence(rgb, sheet_id, found) -> Image.Image:
    row = {"sheet_id": sheet_id, "width": rgb.shape[1]}
    row |= scale_columns(Scale(found.px_per_mm, "ruler", found.confidence, found))
    if found.confidence < THRESHOLD:
        row |= {"scale_source": "none", "scale_note": "below the threshold: would be refused"}
    return draw_scale_evidence(rgb, row, zoom_to=640)


def violaceae(lines: list[str], crops: list[Image.Image]) -> None:
    labels = {r["sheet_id"]: r for r in _rows(REPO / "tests/data/violaceae_scales.csv")}
    truth_rows = _rows(REPO / "tests/data/violaceae_scale_truth.csv")
    truth = {r["sheet_id"]: float(r["px_per_mm"]) for r in truth_rows}
    paths = {p.stem: p for p in VIOLACEAE.rglob("*.jpg")}
    found_by_kind: dict[str, list[int]] = {}
    false_scales, low, t_all, t_ticks, errs, results = [], [], [], [], [], {}
    rng = np.random.default_rng(21)
    for sid in sorted(labels):
        rgb = np.asarray(Image.open(paths[sid]).convert("RGB"))
        found, dt = _timed(detect_scale, rgb)
        _, dt_ticks = _timed(lambda a: detect_ruler_fit(to_grey(a), (2.0, 60.0)), rgb)
        t_all.append(dt)
        t_ticks.append(dt_ticks)
        used = found is not None and found.confidence >= THRESHOLD
        results[sid] = found
        kind = labels[sid]["kind"]
        found_by_kind.setdefault(kind, []).append(int(used))
        if kind == "none" and used:
            false_scales.append(sid)
            crops.append(_evidence(rgb, sid + " (marked none)", found))
        elif found is not None and found.confidence < LOW:
            low.append(sid)
            crops.append(_evidence(rgb, sid, found))
        elif used and rng.random() < 0.03:
            crops.append(_evidence(rgb, sid, found))
        if sid in truth:
            got = found.px_per_mm if used else None
            errs.append((sid, truth[sid], got))
    usable = [k for k in found_by_kind if k != "none"]
    n_use = sum(len(found_by_kind[k]) for k in usable)
    n_hit = sum(sum(found_by_kind[k]) for k in usable)
    lines += [
        f"## Violaceae: {len(labels)} sheets, threshold {THRESHOLD} (measure.min_ruler_confidence)",
        "",
        f"scale found on {n_hit}/{n_use} sheets marked usable = {100 * n_hit / n_use:.1f} % "
        "(floor >= 90 %)",
    ]
    for k in sorted(usable):
        v = found_by_kind[k]
        lines.append(f"  {k:8s} {sum(v)}/{len(v)}")
    none = found_by_kind.get("none", [])
    lines += [
        f"scale reported on {sum(none)}/{len(none)} sheets marked 'none' = "
        f"{100 * sum(none) / max(1, len(none)):.1f} % (floor <= 1 %) {false_scales}",
        f"low-confidence detections (< {LOW}): {len(low)} {low}",
        "",
        "px/mm against the by-eye measurement (15 sheets; floor: >= 99 % of reported within 2 %)",
        "",
        "| sheet | by eye | detected | error |",
        "|---|---|---|---|",
    ]
    within = reported = 0
    for sid, eye, got in errs:
        if got is None:
            lines.append(f"| {sid} | {eye:.4f} | none | |")
            continue
        reported += 1
        err = got / eye - 1
        within += abs(err) <= 0.02
        lines.append(f"| {sid} | {eye:.4f} | {got:.4f} | {100 * err:+.2f} % |")
    lines += [
        "",
        f"within 2 %: {within}/{reported} reported; max |error| "
        f"{100 * max((abs(g / e - 1) for _, e, g in errs if g), default=0):.2f} %",
        "",
        "time per sheet, one core (process time, ~750x1000 px, decoded once, not counted):",
        f"  all kinds (detect_scale): mean {np.mean(t_all):.3f} s, median "
        f"{np.median(t_all):.3f} s, p95 {np.percentile(t_all, 95):.3f} s",
        f"  tick ruler only (before):  mean {np.mean(t_ticks):.3f} s, median "
        f"{np.median(t_ticks):.3f} s",
        f"  added by the new kinds: mean {np.mean(t_all) - np.mean(t_ticks):.3f} s "
        f"(ratio {np.mean(t_all) / np.mean(t_ticks):.2f}x); floor <= 0.5 s added",
        "",
    ]


def leafmachine2(lines: list[str], crops: list[Image.Image]) -> None:
    ok = 0
    rows = []
    for i, path in enumerate(sorted(LM2.glob("*.jpg"))):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        found = detect_scale(rgb)
        good = found is not None and found.confidence >= THRESHOLD
        good = good and abs(found.px_per_mm / LM2_BY_EYE - 1) < 0.01
        ok += good
        desc = (
            "none"
            if found is None
            else (
                f"{found.kind} {found.orientation} {found.px_per_mm:.4f} "
                f"conf {found.confidence:.3f}"
            )
        )
        rows.append(f"  {path.name}: {desc}")
        if i == 0 and found is not None:
            crops.append(_evidence(rgb, path.stem, found))
    lines += [f"## LeafMachine2: {ok}/12 within 1 % of {LM2_BY_EYE} px/mm (floor 12/12)", *rows, ""]


def synthetic(lines: list[str], crops: list[Image.Image]) -> None:
    kinds = ("ticks", "ticks-vertical", "checker", "checker-vertical", "bar-vertical")
    for label, (w, h, dpi, n) in {
        "demo size 2000x3000, 300 dpi": (2000, 3000, 300.0, 6),
        "phone resolution 750x1000, 60 dpi": (750, 1000, 60.0, 8),
    }.items():
        lines += [f"## Synthetic, {label}, {n} sheets per kind (seed 2021, JPEG q{JPEG_QUALITY})"]
        readable = readable_ok = 0
        for kind in kinds:
            hits = wrong = 0
            for i in range(n):
                sheet = generate_sheet(2021, w, h, dpi, index=i, scale_kind=kind)
                found = detect_scale(_jpeg(sheet.rgb))
                drawn = sheet.truth["clutter"]["ruler"] is not None
                used = found is not None and found.confidence >= THRESHOLD
                right = used and abs(found.px_per_mm / sheet.px_per_mm - 1) < 0.01
                hits += right
                wrong += used and not right
                if not kind.startswith("bar"):
                    readable += drawn
                    readable_ok += right and drawn
                if i == 0 and dpi < 100 and found is not None:
                    crops.append(_evidence(sheet.rgb, f"synth {kind}", found))
            lines.append(f"  {kind:17s} within 1 %: {hits}/{n}; wrong scales: {wrong}")
        lines += [
            f"  tick rulers and checker strips: {readable_ok}/{readable} within 1 % = "
            f"{100 * readable_ok / max(1, readable):.1f} % (floor >= 95 %); bars: not read",
            "",
        ]


def montage(crops: list[Image.Image], out: Path, width: int = 1400) -> None:
    """Crops in rows, each scaled to at most 300 px high, for BENCHMARKS.md."""
    tiles = []
    for c in crops:
        f = min(1.0, 300 / c.height, width / c.width)
        tiles.append(c.resize((max(1, round(c.width * f)), max(1, round(c.height * f)))))
    rows, row, x = [], [], 0
    for t in tiles:
        if row and x + t.width > width:
            rows.append(row)
            row, x = [], 0
        row.append(t)
        x += t.width + 6
    if row:
        rows.append(row)
    height = sum(max(t.height for t in r) + 6 for r in rows)
    sheet = Image.new("RGB", (width, max(1, height)), "white")
    y = 0
    for r in rows:
        x = 0
        for t in r:
            sheet.paste(t, (x, y))
            x += t.width + 6
        y += max(t.height for t in r) + 6
    sheet.save(out)


def main() -> None:
    lines = ["# Scale detection (benchmarks/scales.py)", ""]
    crops: list[Image.Image] = []
    if VIOLACEAE.is_dir():
        violaceae(lines, crops)
    else:
        lines += [f"Violaceae sheets not found under {VIOLACEAE}: skipped", ""]
    if LM2.is_dir():
        leafmachine2(lines, crops)
    synthetic(lines, crops)
    montage(crops, RESULTS / "scales_evidence.png")
    write_report(lines, RESULTS / "scales.txt")


if __name__ == "__main__":
    main()
