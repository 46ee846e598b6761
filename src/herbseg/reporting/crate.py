"""The bundle's ``ro-crate-metadata.json``: what each file is, and the run that made them.

The crate follows Workflow Run Crate 0.5 (with Process Run Crate 0.5 and Workflow RO-Crate 1.0,
on RO-Crate 1.1): the Snakefile is the ``ComputationalWorkflow`` main entity, and one
``CreateAction`` has it as ``instrument``, the inputs as ``object`` and the outputs as ``result``.
Every file entity carries ``contentSize`` and ``sha256``. The files themselves are copied by
:mod:`herbseg.reporting.bundle`, which hands over what it placed (:class:`Packed`).
"""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rocrate.model.contextentity import ContextEntity
from rocrate.rocrate import ROCrate

CRATE_VERSION = "1.1"  # the RO-Crate version Workflow Run Crate 0.5 is written against
PROFILES = [
    ("https://w3id.org/ro/wfrun/process/0.5", "Process Run Crate", "0.5"),
    ("https://w3id.org/ro/wfrun/workflow/0.5", "Workflow Run Crate", "0.5"),
    ("https://w3id.org/workflowhub/workflow-ro-crate/1.0", "Workflow RO-Crate", "1.0"),
]
MASKS_ID = "#predicted-masks"
# What a reader needs to know about each result, by its path under the results folder.
DESCRIPTIONS = {
    "ingest/manifest.csv": "Manifest: every sheet file found, with size, dimensions, DPI, status "
    "and the sha256 of the raw file; the run's inputs",
    "ingest/problems.csv": "Sheets and annotations the run could not use, with the reason",
    "ingest/shards.csv": "The shards sheets were processed in",
    "split/split.csv": "Train / validation / test assignment of the annotated sheets",
    "train/model": "The trained DeepLabV3+ (segmentation-models-pytorch save_pretrained layout) "
    "and its model card",
    "train/history.csv": "Loss and validation IoU per training epoch",
    "train/model_card.json": "Model card: training settings, data checksums, versions and the "
    "test-split scores",
    "evaluate/per_sheet.csv": "Test-split scores per sheet",
    "evaluate/summary.csv": "Test-split scores pooled over all test pixels",
    "leaf_area.csv": "One row per sheet file: leaf area (mm²), leaf count, scale and status",
    "leaf_traits.csv": "One row per leaf: area, perimeter, length, width and shape",
    "specimens.csv": "One row per specimen: its sheets' leaf area summed, the median of its "
    "intact leaves' traits",
    "dwc/meta.xml": "Darwin Core Archive descriptor: occurrence core + MeasurementOrFact extension",
    "dwc/occurrence.txt": "Darwin Core Archive core: one occurrence per measured specimen",
    "dwc/measurementorfact.txt": "Darwin Core MeasurementOrFact: one row per (occurrence, "
    "measurement), linked by the occurrence id",
    "report/training.png": "Figure: training curves",
    "report/evaluation.png": "Figure: test scores",
    "report/collection.png": "Figure: leaf area and leaf count over the collection",
    "report/overlays": "Figures: sheets with predicted (and annotated) mask outlines",
    "masks.csv": "The predicted masks, not copied: path under the results folder, bytes, sha256",
    "report.html": "The Snakemake report of the run",
    "logs": "Log of every job",
    "benchmarks": "Run time and memory of every job (Snakemake benchmark files)",
}


@dataclass
class Placed:
    """A file copied into the bundle, with what the crate says about it."""

    dest: str
    size: int
    sha256: str


def _mime(path: str) -> str:
    if Path(path).name == "Snakefile":
        return "text/x-python"  # Snakemake's language is a Python superset
    suffix = Path(path).suffix.lower()
    known = {
        ".csv": "text/csv",
        ".tsv": "text/tab-separated-values",
        ".yaml": "application/yaml",
        ".yml": "application/yaml",
        ".json": "application/json",
        ".smk": "text/x-python",
        ".py": "text/x-python",
        ".rst": "text/x-rst",
        ".md": "text/markdown",
        ".log": "text/plain",
        ".safetensors": "application/octet-stream",
    }
    return known.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def _file_props(placed: Placed, name: str, description: str | None = None, **extra) -> dict:
    props = {
        "name": name,
        "contentSize": str(placed.size),
        "sha256": placed.sha256,
        "encodingFormat": _mime(placed.dest),
    }
    if description:
        props["description"] = description
    return props | extra


def _license(value: str) -> tuple[str, dict]:
    if value.startswith(("http://", "https://")):
        return value, {"@type": "CreativeWork", "name": value}
    return f"https://spdx.org/licenses/{value}", {"@type": "CreativeWork", "name": value}


def _person(author: dict) -> tuple[str, dict]:
    orcid = author.get("orcid")
    if orcid:
        ident = orcid if orcid.startswith("http") else f"https://orcid.org/{orcid}"
    else:
        ident = "#" + "-".join(author["name"].lower().split())
    props = {"@type": "Person", "name": author["name"]}
    if author.get("affiliation"):
        props["affiliation"] = author["affiliation"]
    return ident, props


@dataclass
class Packed:
    """What was copied into the bundle, waiting to be described."""

    results: list[tuple[str, list[Placed], bool]]  # (path under results/, files, is folder)
    masks: pd.DataFrame
    masks_csv: Placed
    copied_masks: list[str]
    report: Placed | None
    traces: list[str]
    config: Placed
    given: list[tuple[str, Placed]]
    source: list[Placed]
    facts: list[tuple[Placed, str, str]]  # run.json, software.json, checksums: (file, name, text)
    run: dict


def describe(
    packed: Packed,
    out: Path,
    *,
    results_dir: Path,
    config: dict,
    software: dict,
    name: str | None,
    license: str,
    authors: Iterable[dict],
) -> tuple[ROCrate, list]:
    """The crate: profiles, the workflow, one CreateAction from inputs to results."""
    run, version = packed.run, packed.run["workflow_version"]
    crate = ROCrate(version=CRATE_VERSION, gen_preview=True)
    n_sheets, n_ok = _sheet_counts(results_dir / "leaf_area.csv")
    crate.name = name or f"herbseg run: {results_dir}"
    crate.description = (
        f"Leaf masks and leaf measurements of {n_sheets} herbarium sheet files ({n_ok} measured) "
        f"made by the herbseg Snakemake workflow ({version}). Results are under results/, the "
        "workflow that made them under source/, the resolved configuration in config.yaml, the "
        "command in run.json and package versions in software.json."
    )

    def context(ident: str, props: dict):
        return crate.add(ContextEntity(crate, ident, properties=props))

    def add(placed: Placed, label: str, description: str | None = None, **extra):
        props = _file_props(placed, label, description, **extra)
        return crate.add_file(out / placed.dest, placed.dest, properties=props)

    crate.root_dataset["license"] = context(*_license(license))
    people = [context(*_person(a)) for a in authors]
    if people:
        crate.root_dataset["author"] = people
    snakefile = next(p for p in packed.source if p.dest == "source/Snakefile")
    workflow = crate.add_workflow(
        out / snakefile.dest,
        snakefile.dest,
        main=True,
        lang="snakemake",
        lang_version=software["key_packages"].get("snakemake"),
        properties=_file_props(
            snakefile,
            "herbseg",
            "Snakemake workflow: herbarium sheet scans to leaf masks and leaf measurements",
            version=version,
        ),
    )
    # Workflow RO-Crate 1.0 goes on the metadata descriptor (add_workflow puts it there); the run
    # profiles go on the root dataset, as Workflow Run Crate 0.5 requires.
    crate.root_dataset["conformsTo"] = [
        context(pid, {"@type": "CreativeWork", "name": pname, "version": pversion})
        for pid, pname, pversion in PROFILES
    ]
    crate.add_dataset(
        out / "source",
        "source",
        properties={
            "name": "workflow source",
            "description": f"The herbseg code that ran ({version}): Snakefile, rules, scripts, "
            "library, environment and default configuration",
            "hasPart": [workflow]
            + [add(p, p.dest.removeprefix("source/")) for p in packed.source if p is not snakefile],
        },
    )

    config_entity = add(
        packed.config,
        "resolved configuration",
        "The configuration the run used: every config file merged, schema defaults filled in",
    )
    inputs = [
        add(
            p,
            f"config file {Path(f).name}",
            f"Config file given to Snakemake: {f}",
            about=config_entity,
        )
        for f, p in packed.given
    ]
    listed = {
        "sheets": "each sheet file is listed with its size and sha256 in "
        "results/ingest/manifest.csv",
        "annotations": "the mask matched to each sheet is in the mask_path column of "
        "results/ingest/manifest.csv, unmatched masks are in results/ingest/problems.csv",
    }
    for key, what in (("sheets", "sheet scans"), ("annotations", "annotation masks")):
        if config.get(key):
            description = f"The {what} the run read from {config[key]} (not copied); {listed[key]}"
            inputs.append(
                context(
                    f"#input-{key}",
                    {
                        "@type": "Collection",
                        "name": f"input {what}",
                        "identifier": str(config[key]),
                        "description": description,
                    },
                )
            )

    outputs = []
    for rel, files, is_dir in packed.results:
        desc = DESCRIPTIONS.get(rel)
        if is_dir:
            parts = [add(p, p.dest.removeprefix(f"results/{rel}/")) for p in files]
            props = {"name": rel, "description": desc, "hasPart": parts}
            outputs.append(
                crate.add_dataset(out / f"results/{rel}", f"results/{rel}", properties=props)
            )
        else:
            outputs.append(add(files[0], rel, desc))
    masks, masks_entity = (
        packed.masks,
        add(packed.masks_csv, "masks.csv", DESCRIPTIONS["masks.csv"]),
    )
    where = (
        "copied into results/predict/"
        if packed.copied_masks
        else f"not copied: they stay under {results_dir}/predict/ of the run"
    )
    mask_props = {
        "@type": "Collection",
        "name": "predicted leaf masks",
        "description": f"{len(masks)} predicted masks (1-bit PNG, in each sheet's geometry), "
        f"{where}; each listed with path, bytes and sha256 in results/masks.csv",
        "contentSize": str(int(masks["bytes"].sum())) if len(masks) else "0",
        "subjectOf": masks_entity,
    }
    if packed.copied_masks:
        mask_props["hasPart"] = [
            crate.add_dataset(out / d, d, properties={"name": d}) for d in packed.copied_masks
        ]
    outputs += [context(MASKS_ID, mask_props), masks_entity]
    if packed.report:
        outputs.append(add(packed.report, "report.html", DESCRIPTIONS["report.html"]))

    end = run["end_time"]
    ident = uuid.uuid5(uuid.NAMESPACE_URL, f"{run['working_directory']}|{results_dir}|{end}")
    action = crate.add_action(
        workflow,
        identifier=f"#run-{ident}",
        object=[config_entity, *inputs],
        result=outputs,
        properties={
            "@type": "CreateAction",
            "name": f"herbseg run producing {results_dir}",
            "description": f"Run with: {run['command']}",
            "endTime": end,
            "actionStatus": {"@id": "http://schema.org/CompletedActionStatus"},
        },
    )
    if run["start_time"]:
        action["startTime"] = run["start_time"]
    if people:
        action["agent"] = people[0]
    crate.root_dataset["mentions"] = [action]
    for placed, label, desc in packed.facts:
        add(placed, label, desc, about=action)
    for trace in packed.traces:
        props = {"name": trace, "description": DESCRIPTIONS[Path(trace).name], "about": action}
        crate.add_dataset(out / trace, trace, properties=props)
    return crate, outputs


def _sheet_counts(leaf_area: Path) -> tuple[int, int]:
    try:
        status = pd.read_csv(leaf_area, usecols=["status"], dtype=str)["status"]
    except (OSError, ValueError):
        return 0, 0
    return len(status), int((status == "ok").sum())
