"""Size and sha256 of every predicted mask (rule mask_checksums), for the run bundle.

Masks are too many to copy into a bundle for a whole collection; the bundle lists them by size
and sha256 instead (``results/masks.csv``), so a reader holding them can prove they are the ones
measured. The table is made per shard, beside the predictions, so hashing runs in parallel jobs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from herbseg.io.files import sha256_file, write_csv
from herbseg.io.progress import Progress

MASK_COLUMNS = ["sheet_id", "shard", "path", "bytes", "sha256"]


def mask_checksums(
    predict_table: str | Path,
    results_dir: str | Path,
    shard: str,
    *,
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Size and sha256 of every predicted mask of one shard.

    Done per shard, beside the predictions, so a million-sheet collection hashes its masks in
    parallel jobs and adding sheets rehashes only the shards that changed. Paths are relative to
    the results folder, the part of the path that survives a move to another disk.
    """
    table = pd.read_csv(predict_table, dtype=str, keep_default_na=False)
    ok = table[(table["status"] == "ok") & (table["mask_path"] != "")]
    paths = list(ok["mask_path"])
    progress = Progress(len(paths), log, "hashed", unit="masks")

    facts = []
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for fact in pool.map(lambda p: (os.path.getsize(p), sha256_file(p)), paths):
            facts.append(fact)
            progress.update()
    return pd.DataFrame(
        {
            "sheet_id": list(ok["sheet_id"]),
            "shard": shard,
            "path": [os.path.relpath(p, results_dir) for p in paths],
            "bytes": [f[0] for f in facts],
            "sha256": [f[1] for f in facts],
        },
        columns=MASK_COLUMNS,
    )


def run(
    inputs: Any, outputs: Any, params: Any, *, threads: int, log: Callable[[str], None]
) -> None:
    """Rule mask_checksums: ``inputs.table`` (one shard's predict.csv) → ``outputs[0]``,
    ``<results>/checksums/masks/<shard>.csv``; the shard and the results folder come from that
    path."""
    out = Path(outputs[0])
    table = mask_checksums(inputs.table, out.parents[2], out.stem, threads=threads, log=log)
    write_csv(table, out)
