"""Find every sheet and annotation, account for each file, and group sheets into shards.

The manifest is the contract of the whole workflow: every file a user handed over has exactly one
row, ``ok`` or with a reason, and every later table has one row per manifest row.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from herbseg.io import coco, files
from herbseg.io.annotations import annotation_files, coco_keys, mask_keys, match_target, sheet_stems
from herbseg.io.files import sha256_file, write_csv
from herbseg.io.images import DEFAULT_MAX_MEGAPIXELS, SheetError, mask_png_bytes, probe
from herbseg.io.progress import Progress
from herbseg.io.sheets import (
    DEFAULT_EXTENSIONS,
    MANIFEST_COLUMNS,
    PRESET_ERROR,
    discover_sheets,
    skipped_files,
)
from herbseg.stages.specimens import with_keys

PROBLEM_COLUMNS = ["kind", "sheet_id", "path", "status", "error"]
DEFAULT_ASPECT_TOLERANCE = 0.05
# A shard holds either annotated sheets (training material) or the rest of the collection, so adding
# unannotated sheets never touches the training data and never retrains the model.
SHARD_KINDS = {"annotated": "a", "collection": "c"}


def _claim(
    found: dict[str, str], problems: list[dict], target: str | None, path: str, what: str = "mask"
) -> None:
    """Record a match, or the reason an annotation was not used (no sheet, or taken)."""
    if target is None:
        problems.append(_problem("annotation", "", path, "unmatched", f"no sheet for this {what}"))
    elif target in found:
        problems.append(_problem("annotation", target, path, "duplicate",
                                 f"sheet already has mask {found[target]}"))  # fmt: skip
    else:
        found[target] = path


def match_masks(
    sheets: pd.DataFrame,
    mask_dir: str | os.PathLike | None,
    extensions: Iterable[str] = DEFAULT_EXTENSIONS,
) -> tuple[dict[str, str], list[dict]]:
    """Pair mask images with sheets; every mask that pairs with no sheet, or twice, is a problem
    row. COCO JSON beside them is handled by :func:`render_coco`."""
    if not mask_dir:
        return {}, []
    root = Path(mask_dir)
    masks, _ = annotation_files(root, extensions)
    ids, stems = set(sheets["sheet_id"]), sheet_stems(sheets)
    found: dict[str, str] = {}
    problems: list[dict] = []
    for mpath in masks:
        _claim(found, problems, match_target(mask_keys(mpath, root), ids, stems), str(mpath))
    return found, problems


def _write_png_if_changed(path: Path, mask) -> None:
    """Re-rendering an unchanged COCO file leaves its masks' bytes and times alone."""
    files.write_if_changed(path, mask_png_bytes(mask))


def render_coco(
    sheets: pd.DataFrame,
    annotations: str | os.PathLike | None,
    out_dir: Path,
    *,
    categories: Iterable[str] = coco.DEFAULT_CATEGORIES,
    taken: dict[str, str] | None = None,
) -> tuple[dict[str, str], list[dict]]:
    """Render the COCO files of ``annotations`` into ``out_dir/<sheet_id>.png``, matched to sheets
    by the image's relative ``file_name`` (id rule) or its stem; sheets in ``taken`` already have
    a mask image, so a COCO mask for them is a duplicate."""
    found: dict[str, str] = dict(taken or {})
    problems: list[dict] = []
    if not annotations:
        return {}, problems
    source = Path(annotations)
    _, files = annotation_files(source, ())
    ids, stems = set(sheets["sheet_id"]), sheet_stems(sheets)
    written: set[Path] = set()
    for jpath in files:
        if not coco.is_coco(jpath):
            if source.is_file():
                raise ValueError(f"{jpath}: not a COCO file (needs 'images' and 'annotations')")
            problems.append(_problem("annotation", "", jpath, "error", "not a COCO JSON file"))
            continue
        for image in coco.render(jpath, categories):
            where = f"{jpath}#{image.file_name}"
            target = match_target(coco_keys(image.file_name), ids, stems)
            if image.mask is None:
                problems.append(_problem("annotation", target or "", where, "unannotated",
                                         "COCO image without any annotation"))  # fmt: skip
                continue
            before = len(problems)
            _claim(found, problems, target, where, "COCO image")
            if len(problems) == before:
                out = out_dir / f"{target}.png"
                _write_png_if_changed(out, image.mask)
                found[target] = str(out)
                written.add(out)
    for stale in out_dir.glob("*.png") if out_dir.is_dir() else ():
        if stale not in written:
            stale.unlink()
    return {k: v for k, v in found.items() if k not in (taken or {})}, problems


def skipped_problems(source: str | os.PathLike, skipped: Counter[str]) -> list[dict]:
    """One problem row per skipped extension, with its count."""
    return [
        _problem(
            "skipped",
            "",
            source,
            "skipped",
            f"{n} file{'s' if n != 1 else ''} {label} not taken as sheets "
            "(not in ingest.extensions)",
        )  # fmt: skip
        for label, n in sorted(skipped.items())
    ]


def _problem(kind: str, sheet_id: str, path: Path | str, status: str, error: str) -> dict:
    return {"kind": kind, "sheet_id": sheet_id, "path": str(path), "status": status, "error": error}


def _failed(error: str) -> dict:
    return {"bytes": None, "width": None, "height": None, "mode": "", "dpi_x": None,
            "dpi_y": None, "status": "error" if error else "ok", "error": error,
            "sha256": ""}  # fmt: skip


def _inspect(path: str, max_megapixels: float, checksum: bool) -> dict:
    """Header facts and checksum of one file; the checksum is kept even for unusable files so a
    replaced file is noticed."""
    row = _failed("")
    try:
        row["bytes"] = os.path.getsize(path)
        if checksum:
            row["sha256"] = sha256_file(path)
        info = probe(path, max_megapixels)
        row.update(width=info.width, height=info.height, mode=info.mode, dpi_x=info.dpi_x,
                   dpi_y=info.dpi_y)  # fmt: skip
    except SheetError as exc:
        row.update(status="error", error=exc.reason)
    except FileNotFoundError:
        row.update(status="error", error="file not found")
    except PermissionError:
        row.update(status="error", error="permission denied")
    except OSError as exc:
        row.update(status="error", error=f"read failed: {exc}")
    return row


def build_manifest(
    sheets: pd.DataFrame,
    masks: dict[str, str],
    *,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    checksum: bool = True,
    threads: int = 1,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """One row per sheet file with header facts, checksum and status; duplicates are flagged.

    A row that already failed at discovery (``_error``) is not opened: its path may be a URL.
    """
    progress = Progress(len(sheets), log or (lambda _: None), "inspected", unit="files")
    preset = sheets[PRESET_ERROR] if PRESET_ERROR in sheets.columns else pd.Series("", sheets.index)

    def facts_of(path: str, error: str) -> dict:
        return _failed(error) if error else _inspect(path, max_megapixels, checksum)

    rows = []
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for row in pool.map(facts_of, sheets["path"], preset):
            rows.append(row)
            progress.update()
    facts = pd.DataFrame(rows, index=sheets.index)
    for col in ("bytes", "width", "height"):  # whole numbers, empty for unreadable files
        facts[col] = facts[col].astype("Int64")
    out = pd.concat([sheets[["sheet_id", "path"]], facts], axis=1)
    first_path = out.groupby("sheet_id")["path"].transform("first")
    dup = out["sheet_id"].duplicated(keep="first")
    out.loc[dup, "status"] = "duplicate"
    out.loc[dup, "error"] = "duplicate sheet_id, first seen at " + first_path[dup]
    out["mask_path"] = [masks.get(s, "") if not d else "" for s, d in zip(out["sheet_id"], dup)]
    out["has_mask"] = out["mask_path"] != ""
    out["shard"] = ""
    extras = [c for c in sheets.columns if c not in ("sheet_id", "path", PRESET_ERROR)]
    out = pd.concat([out, sheets[extras]], axis=1)
    return out[MANIFEST_COLUMNS + extras].reset_index(drop=True)


def _aspect_problem(sheet_id: str, mask_path: str, mask_wh: tuple[int, int],
                    sheet_wh: tuple[int, int], tolerance: float) -> dict | None:  # fmt: skip
    (mw, mh), (sw, sh) = mask_wh, sheet_wh
    mask_ratio, sheet_ratio = mw / mh, sw / sh
    off = abs(mask_ratio / sheet_ratio - 1.0)
    if off <= tolerance:
        return None
    return _problem(
        "annotation", sheet_id, mask_path, "aspect_mismatch",
        f"mask {mw}×{mh} (w/h {mask_ratio:.3f}) vs sheet {sw}×{sh} (w/h {sheet_ratio:.3f}): "
        f"{off:.1%} apart > {tolerance:.1%}; used anyway, stretched onto the sheet",
    )  # fmt: skip


def check_masks(
    manifest: pd.DataFrame,
    *,
    tolerance: float = DEFAULT_ASPECT_TOLERANCE,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    threads: int = 1,
) -> list[dict]:
    """Read every attached mask's header: an unreadable mask is detached (the sheet is then simply
    unannotated, so training never meets a missing mask) and a squashed one is reported.

    Masks of another size are normal (they are resized onto the sheet); another *shape* usually
    means the annotation was made on a squashed copy, which is worth a look, not a rejection.
    """
    todo = manifest.index[(manifest["mask_path"] != "") & (manifest["status"] == "ok")]

    def header(i) -> tuple[int, object]:
        try:
            return i, probe(manifest.at[i, "mask_path"], max_megapixels)
        except SheetError as exc:
            return i, exc.reason

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        results = list(pool.map(header, todo))
    problems = []
    for i, info in results:
        sid, mpath = manifest.at[i, "sheet_id"], manifest.at[i, "mask_path"]
        if isinstance(info, str):
            problems.append(_problem("annotation", sid, mpath, "error", f"mask unusable: {info}"))
            manifest.loc[i, ["mask_path", "has_mask"]] = ["", False]
            continue
        sheet_wh = (int(manifest.at[i, "width"]), int(manifest.at[i, "height"]))
        if found := _aspect_problem(sid, mpath, (info.width, info.height), sheet_wh, tolerance):
            problems.append(found)
    return problems


def read_shard_assignment(shards_dir: Path) -> dict[str, str]:
    """The assignment a previous run left, so sheets keep their shard as the collection grows."""
    previous: dict[str, str] = {}
    if shards_dir.is_dir():
        for f in sorted(shards_dir.glob("*.csv")):
            ids = pd.read_csv(f, usecols=["sheet_id"], dtype=str)["sheet_id"]
            previous.update(dict.fromkeys(ids, f.stem))
    return previous


def shard_kind(has_mask: bool, status: str) -> str:
    return SHARD_KINDS["annotated"] if has_mask and status == "ok" else SHARD_KINDS["collection"]


def assign_shards(manifest: pd.DataFrame, previous: dict[str, str], shard_size: int) -> pd.Series:
    """Keep every known sheet where it was; fill new ones into open shards, then new shards.

    Sticky assignment is what makes adding ten sheets to a processed million rerun one shard, not
    a shift of every shard after an insertion point.
    """
    if shard_size < 1:
        raise ValueError("shard_size must be at least 1")
    kinds = [shard_kind(m, s) for m, s in zip(manifest["has_mask"], manifest["status"])]
    statuses = manifest["status"].tolist()
    shard = [""] * len(manifest)
    counts: Counter[str] = Counter()
    for i, (sid, kind) in enumerate(zip(manifest["sheet_id"], kinds)):
        old = previous.get(sid)
        if old and old.startswith(kind) and statuses[i] != "duplicate":
            shard[i] = old
            counts[old] += 1
    # Per kind: the open shards, smallest name first, and the numbers already taken. One pass
    # over the sheets, so a million sheets take seconds, not a scan of every shard per sheet.
    taken = {k: {int(s[1:]) for s in set(counts) | set(previous.values()) if s.startswith(k)}
             for k in set(kinds)}  # fmt: skip
    open_shards = {k: sorted(s for s, n in counts.items() if s.startswith(k) and n < shard_size)
                   for k in set(kinds)}  # fmt: skip
    for i, kind in enumerate(kinds):
        if shard[i]:
            continue
        queue = open_shards[kind]
        if not queue:
            number = next(n for n in itertools.count() if n not in taken[kind])
            taken[kind].add(number)
            queue.append(f"{kind}{number:05d}")
        name = queue[0]
        shard[i] = name
        counts[name] += 1
        if counts[name] >= shard_size:
            queue.pop(0)
    return pd.Series(shard, index=manifest.index, dtype=object)


def write_if_changed(path: Path, text: str) -> bool:
    """Leave an unchanged file untouched so its mtime does not trigger downstream reruns."""
    return files.write_if_changed(path, text.encode())


def write_shards(manifest: pd.DataFrame, shards_dir: Path) -> tuple[pd.DataFrame, int]:
    """Write one sheet list per shard, touching only shards whose sheets changed."""
    shards_dir.mkdir(parents=True, exist_ok=True)
    keep = set()
    changed = 0
    for name, rows in manifest.groupby("shard", sort=True):
        keep.add(name)
        changed += write_if_changed(shards_dir / f"{name}.csv", rows.to_csv(index=False))
    for stale in shards_dir.glob("*.csv"):
        if stale.stem not in keep:
            stale.unlink()
    summary = (
        manifest.groupby("shard", sort=True)
        .agg(n_sheets=("sheet_id", "size"), n_ok=("status", lambda s: int((s == "ok").sum())))
        .reset_index()
    )
    summary["kind"] = [
        "annotated" if s.startswith(SHARD_KINDS["annotated"]) else "collection"
        for s in summary["shard"]
    ]
    return summary[["shard", "kind", "n_sheets", "n_ok"]], changed


def _problem_table(manifest: pd.DataFrame, annotation_problems: list[dict]) -> pd.DataFrame:
    """Problems with the specimen keys of their sheet (catalogNumber, occurrenceID, …)."""
    bad = manifest[manifest["status"] != "ok"]
    sheets = [_problem("sheet", r.sheet_id, r.path, r.status, r.error) for r in bad.itertuples()]
    table = pd.DataFrame(sheets + annotation_problems, columns=PROBLEM_COLUMNS)
    return with_keys(table, manifest)


def ingest(
    sheets_source: str,
    annotations: str | None,
    results_dir: Path,
    *,
    extensions: Iterable[str] = DEFAULT_EXTENSIONS,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    checksum: bool = True,
    shard_size: int = 1000,
    media_root: str | None = None,
    id_column: str | None = None,
    coco_categories: Iterable[str] = coco.DEFAULT_CATEGORIES,
    mask_aspect_tolerance: float = DEFAULT_ASPECT_TOLERANCE,
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Run the whole stage: returns manifest, problems and the shard summary.

    COCO annotations are rendered into ``results_dir/coco_masks`` so that later stages read them
    like any mask file.
    """
    sheets = discover_sheets(sheets_source, extensions, media_root=media_root, id_column=id_column)
    log(f"found {len(sheets)} sheet files in {sheets_source}")
    skipped = skipped_files(sheets_source, extensions)
    if skipped:
        counts = ", ".join(f"{n} {label}" for label, n in sorted(skipped.items()))
        log(f"not taken as sheets ({sum(skipped.values())} files): {counts}")
    masks, mask_problems = match_masks(sheets, annotations, extensions)
    coco_masks, coco_problems = render_coco(
        sheets, annotations, results_dir / "coco_masks", categories=coco_categories, taken=masks
    )
    manifest = build_manifest(
        sheets,
        masks | coco_masks,
        max_megapixels=max_megapixels,
        checksum=checksum,
        threads=threads,
        log=log,
    )
    shape_problems = check_masks(
        manifest, tolerance=mask_aspect_tolerance, max_megapixels=max_megapixels, threads=threads
    )
    shards_dir = results_dir / "shards"
    manifest["shard"] = assign_shards(manifest, read_shard_assignment(shards_dir), shard_size)
    summary, changed = write_shards(manifest, shards_dir)
    annotation_problems = mask_problems + coco_problems + shape_problems
    problems = _problem_table(
        manifest, annotation_problems + skipped_problems(sheets_source, skipped)
    )
    counts = manifest["status"].value_counts()
    log(
        f"sheets: found {len(manifest)}, ok {counts.get('ok', 0)}, error {counts.get('error', 0)}, "
        f"duplicate {counts.get('duplicate', 0)}; annotated {int(manifest['has_mask'].sum())} "
        f"({len(coco_masks)} from COCO); annotation problems {len(annotation_problems)}; "
        f"shards {len(summary)} ({changed} changed)"
    )
    return manifest, problems, summary


def run(
    inputs: Any, outputs: Any, params: Any, *, threads: int, log: Callable[[str], None]
) -> None:
    """Rule ingest: ``params.sheets``/``params.annotations`` and the ``params.ingest`` section →
    ``outputs.manifest``, ``outputs.problems``, ``outputs.shards`` (the shard lists beside it).

    ``inputs`` (the sheet list or folder, the annotations) only tell Snakemake when to rerun;
    the sources are read through ``params``, which can also be globs."""
    p, settings = params, params.ingest
    manifest, problems, shards = ingest(
        p.sheets,
        p.annotations,
        Path(outputs.shards).parent,
        extensions=settings["extensions"],
        max_megapixels=settings["max_megapixels"],
        checksum=settings["checksum"],
        shard_size=settings["shard_size"],
        media_root=settings["media_root"],
        id_column=settings["id_column"],
        coco_categories=settings["coco_categories"],
        mask_aspect_tolerance=settings["mask_aspect_tolerance"],
        threads=threads,
        log=log,
    )
    write_csv(manifest, outputs.manifest)
    write_csv(problems, outputs.problems)
    write_csv(shards, outputs.shards)
