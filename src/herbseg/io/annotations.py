"""Pairing annotations with sheets: mask images by id or file stem, COCO images by file name.

The rules live here once so that ingest (which renders and records the pairs), the start-up
checks and ``herbseg plan`` (which only count them) can never disagree about which annotation
belongs to which sheet.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from herbseg.io import coco
from herbseg.io.sheets import has_ext, safe_id, sheet_id_for

MASK_SUFFIXES = ("_mask", "-mask", ".mask", "_label", "_labels", "_seg")


def mask_keys(path: Path, root: Path) -> list[str]:
    """A mask matches a sheet by relative id, or by file stem with or without a _mask suffix."""
    keys = [sheet_id_for(path, root)]
    stem = safe_id(path.stem)
    keys.append(stem)
    for suffix in MASK_SUFFIXES:
        if stem.lower().endswith(suffix):
            base = stem[: -len(suffix)]
            keys.append(base)
            keys.append(sheet_id_for(path.with_name(base + path.suffix), root))
    return list(dict.fromkeys(keys))


def sheet_stems(sheets: pd.DataFrame) -> dict[str, list[str]]:
    """Sheet ids by their last part (the file stem), for annotations named by stem only."""
    stems: dict[str, list[str]] = {}
    for sid in sheets["sheet_id"]:
        stems.setdefault(sid.split("__")[-1], []).append(sid)
    return stems


def match_target(keys: list[str], ids: set[str], stems: dict[str, list[str]]) -> str | None:
    """The sheet an annotation belongs to: an exact id first, else one unambiguous file stem."""
    target = next((k for k in keys if k in ids), None)
    if target is None:
        cands = {c for k in keys for c in stems.get(k, [])}
        target = cands.pop() if len(cands) == 1 else None
    return target


def annotation_files(source: Path, extensions: Iterable[str]) -> tuple[list[Path], list[Path]]:
    """Mask images and JSON files of an annotations folder (or the one JSON file it names)."""
    if source.is_file() and source.suffix.lower() == ".json":
        return [], [source]
    if not source.is_dir():
        raise FileNotFoundError(f"annotations {str(source)!r} is neither a folder nor a .json")
    files = sorted(Path(d) / n for d, _, names in os.walk(source) for n in names)
    images = [f for f in files if has_ext(f.name, extensions)]
    return images, [f for f in files if f.suffix.lower() == ".json"]


def coco_keys(file_name: str) -> list[str]:
    """A COCO image matches a sheet by its relative ``file_name`` (id rule) or by its stem."""
    rel = "__".join(safe_id(p) for p in coco.relative_parts(file_name))
    return list(dict.fromkeys([rel, *(safe_id(k) for k in coco.name_keys(file_name))]))


def annotation_matches(
    sheets: pd.DataFrame, annotations: str | os.PathLike, extensions: Iterable[str]
) -> tuple[int, int]:
    """How many annotations there are (mask images and COCO images) and how many of them pair
    with a sheet, by the same rules as ingest; only names are read, no mask is decoded."""
    source = Path(annotations)
    images, jsons = annotation_files(source, extensions)
    ids, stems = set(sheets["sheet_id"]), sheet_stems(sheets)
    matched = sum(match_target(mask_keys(m, source), ids, stems) is not None for m in images)
    total = len(images)
    for jpath in jsons:
        try:
            data = coco.load(jpath)
        except (OSError, ValueError):
            continue
        for image in data.get("images", []) if isinstance(data.get("images"), list) else []:
            name = str(image.get("file_name", ""))
            total += 1
            matched += match_target(coco_keys(name), ids, stems) is not None
    return total, matched
