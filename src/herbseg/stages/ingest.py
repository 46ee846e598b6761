"""Find every sheet and annotation, account for each file, and group sheets into shards.

The manifest is the contract of the whole workflow: every file a user handed over has exactly one
row, ``ok`` or with a reason, and every later table has one row per manifest row.
"""

from __future__ import annotations

import glob
import itertools
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from herbseg.io import coco, dwca, files
from herbseg.io.files import sha256_file
from herbseg.io.images import DEFAULT_MAX_MEGAPIXELS, SheetError, mask_png_bytes, probe
from herbseg.io.progress import Progress
from herbseg.stages.specimens import with_keys

# Every raster format herbseg.io.images decodes (Pillow, tifffile) that a scanner or camera writes;
# the schema's `ingest.extensions` default is this list (tests/test_ingest.py holds them equal).
DEFAULT_EXTENSIONS = (
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".tif", ".tiff", ".webp", ".jp2", ".j2k", ".jpf",
    ".jpx", ".bmp", ".dib", ".gif", ".pnm", ".ppm", ".pgm", ".pbm", ".tga",
)  # fmt: skip
# Files an operating system or a file manager leaves beside images: counted as debris, by name.
OS_DEBRIS = frozenset({".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db", ".directory"})
MASK_SUFFIXES = ("_mask", "-mask", ".mask", "_label", "_labels", "_seg")
MANIFEST_COLUMNS = [
    "sheet_id", "path", "bytes", "width", "height", "mode", "dpi_x", "dpi_y",
    "has_mask", "status", "error", "sha256", "mask_path", "shard",
]  # fmt: skip
PROBLEM_COLUMNS = ["kind", "sheet_id", "path", "status", "error"]
# A discovered row that failed before any file was opened (a DwC-A image not found locally).
PRESET_ERROR = "_error"
DEFAULT_ASPECT_TOLERANCE = 0.05
# A shard holds either annotated sheets (training material) or the rest of the collection, so adding
# unannotated sheets never touches the training data and never retrains the model.
SHARD_KINDS = {"annotated": "a", "collection": "c"}


def _safe_id(text: str) -> str:
    """Sheet ids become file names in results/, so keep them portable."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "sheet"


def sheet_id_for(path: Path, root: Path | None) -> str:
    """Ids come from the path relative to the input root: two IMG_0001.jpg are two sheets."""
    rel = path.relative_to(root) if root is not None else Path(path.name)
    return "__".join(_safe_id(p) for p in rel.with_suffix("").parts)


def _has_ext(path: str, extensions: Iterable[str]) -> bool:
    return path.lower().endswith(tuple(e.lower() for e in extensions))


def _is_debris(name: str) -> bool:
    """macOS ``._IMG_1.jpg`` (AppleDouble) files end like images but hold no picture."""
    return name.lower() in OS_DEBRIS or name.startswith("._")


def _takes(name: str, extensions: Iterable[str]) -> bool:
    """Whether ingest takes a file found in a sheets folder as a sheet."""
    return _has_ext(name, extensions) and not _is_debris(name)


def _protect_extras(table: pd.DataFrame) -> pd.DataFrame:
    """A sheet list's own ``status`` or ``width`` column must not clash with the manifest's."""
    clash = {c: f"source_{c}" for c in table.columns if c in MANIFEST_COLUMNS[2:]}
    return table.rename(columns=clash)


def _id_from_column(table: pd.DataFrame, column: str, fallback: list[str]) -> list[str]:
    """Ids from a sheet-list column; an empty cell falls back to the path rule for that row.

    A value shared by rows of different files (``catalogNumber`` of a specimen imaged twice) is
    a specimen with several sheets, not a duplicate: each of its files gets ``<value>__<stem>``.
    Rows naming the same file keep one id, so a file listed twice is still a duplicate.
    """
    if column not in table.columns:
        raise ValueError(f"ingest.id_column {column!r} is not a column of the sheet list")
    ids = [_safe_id(v) if str(v).strip() else f for v, f in zip(table[column], fallback)]
    paths = table["path"].astype(str).tolist() if "path" in table.columns else fallback
    files: dict[str, set[str]] = {}
    for i, p in zip(ids, paths):
        files.setdefault(i, set()).add(p)
    shared = {i for i, ps in files.items() if len(ps) > 1}
    return [f"{i}__{_safe_id(Path(p).stem)}" if i in shared else i for i, p in zip(ids, paths)]


def _common_root(paths: list[Path]) -> Path | None:
    return Path(os.path.commonpath([str(p.parent) for p in paths])) if paths else None


def _from_csv(src: Path, id_column: str | None) -> pd.DataFrame:
    sep = "\t" if src.suffix.lower() in (".tsv", ".txt") else ","
    table = pd.read_csv(src, sep=sep, dtype=str, keep_default_na=False)
    if "path" not in table.columns:
        raise ValueError(f"{src}: a sheet list needs a 'path' column, has {list(table.columns)}")
    paths = [Path(p) if Path(p).is_absolute() else src.parent / p for p in table["path"]]
    root = _common_root(paths)
    by_path = [sheet_id_for(p, root) for p in paths]
    out = table.copy()
    out["path"] = [str(p) for p in paths]
    column = id_column or ("sheet_id" if "sheet_id" in table.columns else None)
    out["sheet_id"] = _id_from_column(table, column, by_path) if column else by_path
    return out


def _media_default_ids(media: pd.DataFrame) -> list[str]:
    """``<gbifID or coreid>__<file stem>``: one occurrence has several images, and an image's
    URL name alone repeats across institutions; without either, the relative-path rule."""
    found = [Path(p) for p, e in zip(media["path"], media[dwca.ERROR]) if not e]
    root = _common_root(found)
    ids = []
    for i, row in enumerate(media.to_dict("records")):
        local = not row[dwca.ERROR]
        stem = Path(row["path"] if local else row[dwca.MEDIA_NAME]).stem or f"media{i}"
        record = next((row[c] for c in ("gbifID", "coreid") if str(row.get(c, "")).strip()), "")
        if record:
            ids.append(f"{_safe_id(str(record))}__{_safe_id(stem)}")
        elif local:
            ids.append(sheet_id_for(Path(row["path"]), root))
        else:
            ids.append(_safe_id(stem))
    return ids


def _from_multimedia(
    src: Path,
    media_root: str | os.PathLike | None,
    extensions: Iterable[str],
    id_column: str | None,
) -> pd.DataFrame:
    """A DwC-A multimedia table: rows whose image is not here keep their row with the reason."""
    media = dwca.read_multimedia(src, media_root, extensions)
    default = _media_default_ids(media)
    ids = _id_from_column(media, id_column, default) if id_column else default
    out = media.drop(columns=[dwca.MEDIA_NAME]).rename(columns={dwca.ERROR: PRESET_ERROR})
    out.insert(0, "sheet_id", ids)
    return out


def _from_files(source_str: str, src: Path, base: Path, extensions: Iterable[str]) -> pd.DataFrame:
    if src.is_dir():
        root = src
        files = sorted(
            Path(dirpath) / name
            for dirpath, _, names in os.walk(src)
            for name in names
            if _takes(name, extensions)
        )
    else:
        pattern = source_str if Path(source_str).is_absolute() else str(base / source_str)
        files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        if not files:
            raise FileNotFoundError(f"no sheets found at {source_str!r} (folder, glob or CSV)")
        root = _common_root(files)
    return pd.DataFrame(
        {"sheet_id": [sheet_id_for(p, root) for p in files], "path": [str(p) for p in files]}
    )


def discover_sheets(
    source: str | os.PathLike,
    extensions: Iterable[str] = DEFAULT_EXTENSIONS,
    base_dir: str | os.PathLike | None = None,
    *,
    media_root: str | os.PathLike | None = None,
    id_column: str | None = None,
) -> pd.DataFrame:
    """List sheets from a folder (recursive), a glob, a CSV manifest with a ``path`` column, or a
    Darwin Core Archive multimedia table (a ``multimedia.txt``/``.csv`` or an unpacked archive).

    Extra columns (catalogNumber, taxon, gbifID, …) are carried through to the final tables. Ids
    come from ``id_column`` (or a CSV's own ``sheet_id``), else from the relative path. Rows that
    already failed here (a multimedia image not found locally) carry their reason in ``_error``.
    """
    source_str = str(source)
    src = Path(source_str)
    if dwca.is_multimedia_table(src) or dwca.is_archive(src):
        out = _from_multimedia(src, media_root, extensions, id_column)
    elif src.is_file() and src.suffix.lower() in (".csv", ".tsv", ".txt"):
        out = _from_csv(src, id_column)
    elif id_column:
        raise ValueError("ingest.id_column needs a CSV or multimedia sheet list, not a folder")
    else:
        out = _from_files(source_str, src, Path(base_dir) if base_dir else Path("."), extensions)
    front = ["sheet_id", "path"]
    return _protect_extras(out[front + [c for c in out.columns if c not in front]])


def _mask_keys(path: Path, root: Path) -> list[str]:
    """A mask matches a sheet by relative id, or by file stem with or without a _mask suffix."""
    keys = [sheet_id_for(path, root)]
    stem = _safe_id(path.stem)
    keys.append(stem)
    for suffix in MASK_SUFFIXES:
        if stem.lower().endswith(suffix):
            base = stem[: -len(suffix)]
            keys.append(base)
            keys.append(sheet_id_for(path.with_name(base + path.suffix), root))
    return list(dict.fromkeys(keys))


def _sheet_stems(sheets: pd.DataFrame) -> dict[str, list[str]]:
    stems: dict[str, list[str]] = {}
    for sid in sheets["sheet_id"]:
        stems.setdefault(sid.split("__")[-1], []).append(sid)
    return stems


def _target(keys: list[str], ids: set[str], stems: dict[str, list[str]]) -> str | None:
    """The sheet an annotation belongs to: an exact id first, else one unambiguous file stem."""
    target = next((k for k in keys if k in ids), None)
    if target is None:
        cands = {c for k in keys for c in stems.get(k, [])}
        target = cands.pop() if len(cands) == 1 else None
    return target


def _annotation_files(source: Path, extensions: Iterable[str]) -> tuple[list[Path], list[Path]]:
    """Mask images and JSON files of an annotations folder (or the one JSON file it names)."""
    if source.is_file() and source.suffix.lower() == ".json":
        return [], [source]
    if not source.is_dir():
        raise FileNotFoundError(f"annotations {str(source)!r} is neither a folder nor a .json")
    files = sorted(Path(d) / n for d, _, names in os.walk(source) for n in names)
    images = [f for f in files if _has_ext(f.name, extensions)]
    return images, [f for f in files if f.suffix.lower() == ".json"]


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
    masks, _ = _annotation_files(root, extensions)
    ids, stems = set(sheets["sheet_id"]), _sheet_stems(sheets)
    found: dict[str, str] = {}
    problems: list[dict] = []
    for mpath in masks:
        _claim(found, problems, _target(_mask_keys(mpath, root), ids, stems), str(mpath))
    return found, problems


def _coco_keys(file_name: str) -> list[str]:
    rel = "__".join(_safe_id(p) for p in coco.relative_parts(file_name))
    return list(dict.fromkeys([rel, *(_safe_id(k) for k in coco.name_keys(file_name))]))


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
    _, files = _annotation_files(source, ())
    ids, stems = set(sheets["sheet_id"]), _sheet_stems(sheets)
    written: set[Path] = set()
    for jpath in files:
        if not coco.is_coco(jpath):
            if source.is_file():
                raise ValueError(f"{jpath}: not a COCO file (needs 'images' and 'annotations')")
            problems.append(_problem("annotation", "", jpath, "error", "not a COCO JSON file"))
            continue
        for image in coco.render(jpath, categories):
            where = f"{jpath}#{image.file_name}"
            target = _target(_coco_keys(image.file_name), ids, stems)
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


def _skipped_label(name: str) -> str:
    """What a skipped file is counted as: its extension, or OS debris by its name."""
    if _is_debris(name):
        return f"{'._*' if name.startswith('._') else name} (OS debris)"
    return Path(name).suffix.lower() or "(no extension)"


def skipped_files(source: str | os.PathLike, extensions: Iterable[str]) -> Counter[str]:
    """Files under a sheets folder that ingest does not take, counted by extension (debris by
    name), so that nothing a user handed over disappears without a line saying so."""
    src = Path(source)
    if not src.is_dir() or dwca.is_archive(src):  # an archive's files are its tables
        return Counter()
    return Counter(
        _skipped_label(name)
        for _, _, names in os.walk(src)
        for name in names
        if not _takes(name, extensions)
    )


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


def annotation_matches(
    sheets: pd.DataFrame, annotations: str | os.PathLike, extensions: Iterable[str]
) -> tuple[int, int]:
    """How many annotations there are (mask images and COCO images) and how many of them pair
    with a sheet, by the same rules as ingest; only names are read, no mask is decoded."""
    source = Path(annotations)
    images, jsons = _annotation_files(source, extensions)
    ids, stems = set(sheets["sheet_id"]), _sheet_stems(sheets)
    matched = sum(_target(_mask_keys(m, source), ids, stems) is not None for m in images)
    total = len(images)
    for jpath in jsons:
        try:
            data = coco.load(jpath)
        except (OSError, ValueError):
            continue
        for image in data.get("images", []) if isinstance(data.get("images"), list) else []:
            name = str(image.get("file_name", ""))
            total += 1
            matched += _target(_coco_keys(name), ids, stems) is not None
    return total, matched
