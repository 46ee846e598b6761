"""Find every sheet and annotation, account for each file, and group sheets into shards.

The manifest is the contract of the whole workflow: every file a user handed over has exactly one
row, ``ok`` or with a reason, and every later table has one row per manifest row.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from herbseg.images import DEFAULT_MAX_MEGAPIXELS, SheetError, probe

DEFAULT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp")
MASK_SUFFIXES = ("_mask", "-mask", ".mask", "_label", "_labels", "_seg")
MANIFEST_COLUMNS = [
    "sheet_id", "path", "bytes", "width", "height", "mode", "dpi_x", "dpi_y",
    "has_mask", "status", "error", "sha256", "mask_path", "shard",
]  # fmt: skip
PROBLEM_COLUMNS = ["kind", "sheet_id", "path", "status", "error"]
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


def discover_sheets(
    source: str | os.PathLike,
    extensions: Iterable[str] = DEFAULT_EXTENSIONS,
    base_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """List sheets from a folder (recursive), a glob, or a CSV manifest with a ``path`` column.

    Extra CSV columns (catalogNumber, taxon, …) are carried through to the final tables. A CSV may
    name ``sheet_id`` itself; otherwise ids come from the relative path.
    """
    source_str = str(source)
    base = Path(base_dir) if base_dir else Path(".")
    src = Path(source_str)
    if src.is_file() and src.suffix.lower() in (".csv", ".tsv", ".txt"):
        sep = "\t" if src.suffix.lower() in (".tsv", ".txt") else ","
        table = pd.read_csv(src, sep=sep, dtype=str, keep_default_na=False)
        if "path" not in table.columns:
            raise ValueError(
                f"{src}: a sheet list needs a 'path' column, has {list(table.columns)}"
            )
        paths = [Path(p) if Path(p).is_absolute() else src.parent / p for p in table["path"]]
        root = Path(os.path.commonpath([str(p.parent) for p in paths])) if paths else None
        out = table.copy()
        out["path"] = [str(p) for p in paths]
        if "sheet_id" not in out.columns or (out["sheet_id"] == "").any():
            out["sheet_id"] = [sheet_id_for(p, root) for p in paths]
        else:
            out["sheet_id"] = [_safe_id(s) for s in out["sheet_id"]]
        return out
    if src.is_dir():
        root = src
        files = sorted(
            Path(dirpath) / name
            for dirpath, _, names in os.walk(src)
            for name in names
            if _has_ext(name, extensions)
        )
    else:
        pattern = source_str if Path(source_str).is_absolute() else str(base / source_str)
        files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        if not files:
            raise FileNotFoundError(f"no sheets found at {source_str!r} (folder, glob or CSV)")
        root = Path(os.path.commonpath([str(p.parent) for p in files]))
    return pd.DataFrame(
        {"sheet_id": [sheet_id_for(p, root) for p in files], "path": [str(p) for p in files]}
    )


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


def match_masks(
    sheets: pd.DataFrame,
    mask_dir: str | os.PathLike | None,
    extensions: Iterable[str] = DEFAULT_EXTENSIONS,
) -> tuple[dict[str, str], list[dict]]:
    """Pair masks with sheets; every mask that pairs with no sheet, or twice, is a problem row."""
    if not mask_dir:
        return {}, []
    root = Path(mask_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"annotations folder {str(root)!r} does not exist")
    ids = set(sheets["sheet_id"])
    stems: dict[str, list[str]] = {}
    for sid in sheets["sheet_id"]:
        stems.setdefault(sid.split("__")[-1], []).append(sid)
    found: dict[str, str] = {}
    problems: list[dict] = []
    masks = sorted(
        Path(d) / n for d, _, names in os.walk(root) for n in names if _has_ext(n, extensions)
    )
    for mpath in masks:
        target = next((k for k in _mask_keys(mpath, root) if k in ids), None)
        if target is None:
            cands = [c for k in _mask_keys(mpath, root) for c in stems.get(k, [])]
            target = cands[0] if len(set(cands)) == 1 else None
        if target is None:
            problems.append(
                _problem("annotation", "", mpath, "unmatched", "no sheet for this mask")
            )
        elif target in found:
            problems.append(
                _problem(
                    "annotation",
                    target,
                    mpath,
                    "duplicate",
                    f"sheet already has mask {found[target]}",
                )
            )
        else:
            found[target] = str(mpath)
    return found, problems


def _problem(kind: str, sheet_id: str, path: Path | str, status: str, error: str) -> dict:
    return {"kind": kind, "sheet_id": sheet_id, "path": str(path), "status": status, "error": error}


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Streamed, so a 500 MB TIFF never sits in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _inspect(path: str, max_megapixels: float, checksum: bool) -> dict:
    """Header facts and checksum of one file; the checksum is kept even for unusable files so a
    replaced file is noticed."""
    row: dict = {"bytes": None, "width": None, "height": None, "mode": "", "dpi_x": None,
                 "dpi_y": None, "status": "ok", "error": "", "sha256": ""}  # fmt: skip
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
) -> pd.DataFrame:
    """One row per sheet file with header facts, checksum and status; duplicates are flagged."""
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        rows = list(pool.map(lambda p: _inspect(p, max_megapixels, checksum), sheets["path"]))
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
    extras = [c for c in sheets.columns if c not in ("sheet_id", "path")]
    out = pd.concat([out, sheets[extras]], axis=1)
    return out[MANIFEST_COLUMNS + extras].reset_index(drop=True)


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
    shard = pd.Series([""] * len(manifest), index=manifest.index, dtype=object)
    counts: dict[str, int] = {}
    for i, (sid, kind) in enumerate(zip(manifest["sheet_id"], kinds)):
        old = previous.get(sid)
        if old and old.startswith(kind) and manifest.at[manifest.index[i], "status"] != "duplicate":
            shard.iat[i] = old
            counts[old] = counts.get(old, 0) + 1
    for i, kind in enumerate(kinds):
        if shard.iat[i]:
            continue
        open_shards = sorted(s for s, n in counts.items() if s.startswith(kind) and n < shard_size)
        if open_shards:
            name = open_shards[0]
        else:
            used = {int(s[1:]) for s in counts if s.startswith(kind)}
            used |= {int(s[1:]) for s in set(previous.values()) if s.startswith(kind)}
            name = f"{kind}{min(set(range(len(used) + 1)) - used):05d}"
        shard.iat[i] = name
        counts[name] = counts.get(name, 0) + 1
    return shard


def write_if_changed(path: Path, text: str) -> bool:
    """Leave an unchanged file untouched so its mtime does not trigger downstream reruns."""
    if path.exists() and path.read_text() == text:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True


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


def ingest(
    sheets_source: str,
    annotations: str | None,
    results_dir: Path,
    *,
    extensions: Iterable[str] = DEFAULT_EXTENSIONS,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    checksum: bool = True,
    shard_size: int = 1000,
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Run the whole stage: returns manifest, problems and the shard summary."""
    sheets = discover_sheets(sheets_source, extensions)
    log(f"found {len(sheets)} sheet files in {sheets_source}")
    masks, mask_problems = match_masks(sheets, annotations, extensions)
    manifest = build_manifest(
        sheets, masks, max_megapixels=max_megapixels, checksum=checksum, threads=threads
    )
    shards_dir = results_dir / "shards"
    manifest["shard"] = assign_shards(manifest, read_shard_assignment(shards_dir), shard_size)
    summary, changed = write_shards(manifest, shards_dir)
    bad = manifest[manifest["status"] != "ok"]
    problems = pd.concat(
        [
            pd.DataFrame(
                [
                    _problem("sheet", r.sheet_id, r.path, r.status, r.error)
                    for r in bad.itertuples()
                ],
                columns=PROBLEM_COLUMNS,
            ),
            pd.DataFrame(mask_problems, columns=PROBLEM_COLUMNS),
        ],
        ignore_index=True,
    )
    counts = manifest["status"].value_counts()
    log(
        f"sheets: found {len(manifest)}, ok {counts.get('ok', 0)}, error {counts.get('error', 0)}, "
        f"duplicate {counts.get('duplicate', 0)}; annotated {int(manifest['has_mask'].sum())}; "
        f"annotation problems {len(mask_problems)}; shards {len(summary)} "
        f"({changed} changed)"
    )
    return manifest, problems, summary
