"""Finding sheet files: a folder, a glob, a sheet list (CSV) or a Darwin Core Archive, and the
ids sheets get.

Ids come from the path relative to the input root (two ``IMG_0001.jpg`` in two folders are two
sheets), from a sheet-list column, or from a DwC-A record; they become file names under results/,
so they are kept portable. The ingest stage (:mod:`herbseg.stages.ingest`) builds the manifest
from what is found here; the start-up checks and ``herbseg plan`` look at the same list without
running the stage.
"""

from __future__ import annotations

import glob
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from herbseg.io import dwca

# Every raster format herbseg.io.images decodes (Pillow, tifffile) that a scanner or camera writes;
# the schema's `ingest.extensions` default is this list (tests/test_ingest.py holds them equal).
DEFAULT_EXTENSIONS = (
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".tif", ".tiff", ".webp", ".jp2", ".j2k", ".jpf",
    ".jpx", ".bmp", ".dib", ".gif", ".pnm", ".ppm", ".pgm", ".pbm", ".tga",
)  # fmt: skip
# Files an operating system or a file manager leaves beside images: counted as debris, by name.
OS_DEBRIS = frozenset({".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db", ".directory"})
# The manifest (herbseg.stages.ingest): one row per sheet file found, the workflow's contract.
MANIFEST_COLUMNS = [
    "sheet_id", "path", "bytes", "width", "height", "mode", "dpi_x", "dpi_y",
    "has_mask", "status", "error", "sha256", "mask_path", "shard",
]  # fmt: skip
# A discovered row that failed before any file was opened (a DwC-A image not found locally).
PRESET_ERROR = "_error"


def safe_id(text: str) -> str:
    """Sheet ids become file names in results/, so keep them portable."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "sheet"


def sheet_id_for(path: Path, root: Path | None) -> str:
    """Ids come from the path relative to the input root: two IMG_0001.jpg are two sheets."""
    rel = path.relative_to(root) if root is not None else Path(path.name)
    return "__".join(safe_id(p) for p in rel.with_suffix("").parts)


def has_ext(path: str, extensions: Iterable[str]) -> bool:
    """Case-insensitive suffix test: scanners write ``.JPG`` as often as ``.jpg``."""
    return path.lower().endswith(tuple(e.lower() for e in extensions))


def _is_debris(name: str) -> bool:
    """macOS ``._IMG_1.jpg`` (AppleDouble) files end like images but hold no picture."""
    return name.lower() in OS_DEBRIS or name.startswith("._")


def _takes(name: str, extensions: Iterable[str]) -> bool:
    """Whether ingest takes a file found in a sheets folder as a sheet."""
    return has_ext(name, extensions) and not _is_debris(name)


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
    ids = [safe_id(v) if str(v).strip() else f for v, f in zip(table[column], fallback)]
    paths = table["path"].astype(str).tolist() if "path" in table.columns else fallback
    files: dict[str, set[str]] = {}
    for i, p in zip(ids, paths):
        files.setdefault(i, set()).add(p)
    shared = {i for i, ps in files.items() if len(ps) > 1}
    return [f"{i}__{safe_id(Path(p).stem)}" if i in shared else i for i, p in zip(ids, paths)]


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
            ids.append(f"{safe_id(str(record))}__{safe_id(stem)}")
        elif local:
            ids.append(sheet_id_for(Path(row["path"]), root))
        else:
            ids.append(safe_id(stem))
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
