"""What a run of the workflow would do with a config, in words (``herbseg check``).

Read from the inputs the way ingest reads them (names only, no image decoded), so a 10,000-sheet
folder is described in seconds.
"""

from __future__ import annotations

import math
import re
from typing import Any

from herbseg.io.annotations import annotation_matches
from herbseg.io.sheets import discover_sheets, skipped_files


def describe_plan(config: dict[str, Any]) -> str:
    """A few lines: inputs found, what is trained or used, shards, and where results go."""
    ingest = config["ingest"]
    lines = []
    if config["synth"]["enabled"]:
        n = config["synth"]["n_sheets"]
        lines.append(f"sheets: {n} synthetic demo sheets generated into {config['sheets']}")
        n_sheets, n_annotated = n, n
    else:
        sheets = discover_sheets(
            config["sheets"], ingest["extensions"], media_root=ingest["media_root"],
            id_column=ingest["id_column"],
        )  # fmt: skip
        n_sheets = len(sheets)
        lines.append(f"sheets: {n_sheets} listed in {config['sheets']}")
        skipped = skipped_files(config["sheets"], ingest["extensions"])
        if skipped:
            counts = ", ".join(f"{n} {label}" for label, n in sorted(skipped.items()))
            lines.append(f"  not sheets (counted in problems.csv): {counts}")
        n_annotated = 0
        if config["annotations"]:
            total, n_annotated = annotation_matches(
                sheets, config["annotations"], ingest["extensions"]
            )
            lines.append(
                f"annotations: {n_annotated} of {total} in {config['annotations']} match a sheet"
            )
        else:
            lines.append("annotations: none")
    size = ingest["shard_size"]
    model = config["model"]
    if n_annotated:
        lines.append(
            f"train: DeepLabv3+ ({model['encoder']}, {model['encoder_weights'] or 'no'} "
            f"pretrained weights) on the annotated sheets' train split, up to "
            f"{config['train']['epochs']} epochs, batch {config['train']['batch_size']}, device "
            f"{config['train']['device']}; evaluate on the test split"
        )
    lines.append(
        f"predict + measure: {n_sheets} sheets in about {max(1, math.ceil(n_sheets / size))} "
        f"shards of up to {size} (device {config['predict']['device']})"
    )
    results = config["results"]
    outputs = ["leaf_area.csv", "leaf_traits.csv", "specimens.csv"]
    if config["dwc_export"]["enabled"]:
        outputs.append("dwc/ (Darwin Core MeasurementOrFact)")
    if config["bundle"]["enabled"]:
        outputs.append("bundle/ (RO-Crate)")
    lines.append(f"results: {results}/ — " + ", ".join(outputs))
    return "\n".join(lines)


_STATS_ROW = re.compile(r"\s*([a-z_]+)\s+(\d+)\s*")


def job_stats(text: str) -> dict[str, int]:
    """Planned jobs per rule, read from the "Job stats" table of ``snakemake -n`` output.

    Snakemake's own count, not a re-derivation of the DAG: the tests that check what a change
    reruns and the dry-run benchmark both read the plan from here, so a change in Snakemake's
    table format is fixed in one place. Empty when the text has no table (nothing to do).
    """
    stats = text.split("Job stats:")[-1] if "Job stats:" in text else ""
    jobs = {}
    for line in stats.splitlines():
        m = _STATS_ROW.fullmatch(line)
        if m and m.group(1) != "total":
            jobs[m.group(1)] = int(m.group(2))
    return jobs
