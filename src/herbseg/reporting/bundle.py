"""The run bundle: a Workflow Run RO-Crate a lab can deposit and a reader can check.

A deposit (Zenodo, Figshare) outlives the machine the run happened on, so the bundle holds what
is needed to judge and repeat the run without it: the resolved configuration and the command,
the code that ran, package versions, the manifest of inputs with their checksums, the split, the
model and its card, every result table, the report, and the job logs. Predicted masks are too
many to copy for a whole collection; they are listed with size and sha256 (``results/masks.csv``)
so a reader holding them can prove they are the ones measured, and copied only on request.

The crate follows Workflow Run Crate 0.5 (with Process Run Crate 0.5 and Workflow RO-Crate 1.0,
on RO-Crate 1.1): the Snakefile is the ``ComputationalWorkflow`` main entity, and one
``CreateAction`` has it as ``instrument``, the inputs as ``object`` and the outputs as ``result``.
Every file entity carries ``contentSize`` and ``sha256``; ``checksums.sha256`` covers every file
in ``sha256sum -c`` form. :func:`verify_bundle` (``python -m herbseg.reporting.bundle BUNDLE``)
checks both.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import platform
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import yaml
from rocrate.model.contextentity import ContextEntity
from rocrate.rocrate import ROCrate

from herbseg.io.files import atomic_write_text, sha256_file
from herbseg.io.progress import Progress

CRATE_VERSION = "1.1"  # the RO-Crate version Workflow Run Crate 0.5 is written against
PROFILES = [
    ("https://w3id.org/ro/wfrun/process/0.5", "Process Run Crate", "0.5"),
    ("https://w3id.org/ro/wfrun/workflow/0.5", "Workflow Run Crate", "0.5"),
    ("https://w3id.org/workflowhub/workflow-ro-crate/1.0", "Workflow RO-Crate", "1.0"),
]
MASK_COLUMNS = ["sheet_id", "shard", "path", "bytes", "sha256"]
MASKS_TABLE = "results/masks.csv"
CHECKSUMS = "checksums.sha256"
MASKS_ID = "#predicted-masks"
KEY_PACKAGES = [
    "herbseg",
    "snakemake",
    "torch",
    "torchvision",
    "segmentation-models-pytorch",
    "albumentations",
    "numpy",
    "pandas",
    "pillow",
    "scikit-image",
    "matplotlib",
    "rocrate",
]
# Files of the repository that make up the workflow: what ran, copied so the bundle stands alone.
SOURCE_GLOBS = [
    "Snakefile",
    "workflow/rules/*.smk",
    "workflow/scripts/*.py",
    "workflow/schemas/*",
    "workflow/report/*",
    "envs/*",
    "config/*",
    "src/herbseg/*.py",
    "requirements.txt",
    "pyproject.toml",
    "Makefile",
    "README.md",
    "LICENSE*",
]
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
class _Placed:
    """A file copied into the bundle, with what the crate says about it."""

    dest: str
    size: int
    sha256: str


# --- mask references ------------------------------------------------------------------------


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


# --- run facts ------------------------------------------------------------------------------


def software_versions() -> dict:
    """Python, platform, the key packages, and every installed distribution.

    The full list is what lets a reader rebuild the environment; the key packages are what they
    read first.
    """
    dists = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:  # PEP 503 normal form: segmentation_models_pytorch → segmentation-models-pytorch
            dists[re.sub(r"[-_.]+", "-", name).lower()] = dist.version
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "key_packages": {p: dists.get(p) for p in KEY_PACKAGES},
        "packages": dict(sorted(dists.items())),
    }


def workflow_version(root: str | Path) -> str:
    """``git describe`` of the workflow's checkout (``-dirty`` when edited), else the package's."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        if out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return f"herbseg {metadata.version('herbseg')}"
    except metadata.PackageNotFoundError:
        return "unknown"


def snakemake_command(
    configfiles: Iterable[str],
    snakefile: str | Path | None = None,
    default: str = "config/config.yaml",
) -> str:
    """The command that repeats the run, rebuilt from the config files Snakemake was given.

    The parent's own command line is not visible to a job, but the config files are all that
    shape the results (``--cores`` changes speed, not output); the Snakefile's default config is
    loaded anyway and is left out. ``--snakefile`` appears when the run's working directory is
    not the workflow's checkout.
    """
    parts = ["snakemake", "--cores", "all"]
    cwd = Path.cwd()
    if snakefile is not None and Path(snakefile).resolve().parent != cwd.resolve():
        parts += ["--snakefile", str(snakefile)]
    for f in configfiles:
        path = Path(f)
        if str(f) == default:
            continue
        if path.is_absolute() and path.is_relative_to(cwd):
            path = path.relative_to(cwd)
        parts += ["--configfile", str(path)]
    return " ".join(parts)


def _run_times(results_dir: Path) -> tuple[str | None, str]:
    """Start and end of the jobs behind the current results, from Snakemake's benchmark files.

    A benchmark is written when its job ends and records the job's seconds, so the earliest
    (end − duration) is when the oldest result still in place began to be made.
    """
    starts, ends = [], []
    for tsv in (results_dir / "benchmarks").rglob("*.tsv"):
        try:
            seconds = float(pd.read_csv(tsv, sep="\t")["s"].iloc[0])
        except (OSError, ValueError, KeyError, IndexError, pd.errors.ParserError):
            continue
        end = tsv.stat().st_mtime
        starts.append(end - seconds)
        ends.append(end)

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")

    end = max(ends) if ends else datetime.now(UTC).timestamp()
    return (iso(min(starts)) if starts else None), iso(end)


# --- building -------------------------------------------------------------------------------


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


class _Bundle:
    """Copies files into the bundle folder and remembers their size and checksum."""

    def __init__(self, root: Path, threads: int = 1) -> None:
        self.root = root
        self.threads = threads
        self.placed: dict[str, _Placed] = {}

    def copy(self, src: str | Path, dest: str) -> _Placed:
        target = self.root / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        return self.record(dest)

    def write_text(self, dest: str, text: str) -> _Placed:
        target = self.root / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, text)
        return self.record(dest)

    def record(self, dest: str) -> _Placed:
        target = self.root / dest
        placed = _Placed(dest, target.stat().st_size, sha256_file(target))
        self.placed[dest] = placed
        return placed

    def copy_tree(self, src: str | Path, dest: str, skip: Iterable[Path] = ()) -> list[_Placed]:
        """Copy a folder; files are hashed in threads (a folder of masks can be large)."""
        src = Path(src)
        skip = {Path(s).resolve() for s in skip}
        pairs = [
            (f, f"{dest}/{f.relative_to(src).as_posix()}")
            for f in sorted(src.rglob("*"))
            if f.is_file() and f.resolve() not in skip and f.name != ".snakemake_timestamp"
        ]
        with ThreadPoolExecutor(max_workers=max(1, self.threads)) as pool:
            return list(pool.map(lambda p: self.copy(*p), pairs))


def _file_props(placed: _Placed, name: str, description: str | None = None, **extra) -> dict:
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
class _Packed:
    """What was copied into the bundle, waiting to be described."""

    results: list[tuple[str, list[_Placed], bool]]  # (path under results/, files, is folder)
    masks: pd.DataFrame
    masks_csv: _Placed
    copied_masks: list[str]
    report: _Placed | None
    traces: list[str]
    config: _Placed
    given: list[tuple[str, _Placed]]
    source: list[_Placed]
    facts: list[tuple[_Placed, str, str]]  # run.json, software.json, checksums: (file, name, text)
    run: dict


def _pack(
    b: _Bundle,
    *,
    results_dir: Path,
    results: Iterable[str | Path],
    mask_tables: Iterable[str | Path],
    config: dict,
    configfiles: list[str],
    source_root: Path,
    report: str | Path | None,
    copy_masks: bool,
    run: dict,
    software: dict,
) -> _Packed:
    """Copy everything into the bundle first, so each file is hashed once, from its copy."""
    entries: list[tuple[str, list[_Placed], bool]] = []
    for item in map(Path, results):
        rel = item.relative_to(results_dir).as_posix()
        if item.is_dir():
            entries.append((rel, b.copy_tree(item, f"results/{rel}"), True))
        else:
            entries.append((rel, [b.copy(item, f"results/{rel}")], False))
    masks = pd.concat(
        [pd.read_csv(t, dtype={"sheet_id": str, "shard": str}) for t in mask_tables]
        or [pd.DataFrame(columns=MASK_COLUMNS)],
        ignore_index=True,
    )
    masks_csv = b.write_text(MASKS_TABLE, masks.to_csv(index=False))
    copied_masks = []
    if copy_masks:
        with ThreadPoolExecutor(max_workers=max(1, b.threads)) as pool:
            list(pool.map(lambda p: b.copy(results_dir / p, f"results/{p}"), masks["path"]))
        copied_masks = [f"results/predict/{s}/masks" for s in sorted(masks["shard"].unique())]
    report_placed = b.copy(report, "results/report.html") if report else None
    # This job's own log and benchmark are unfinished (or from its previous run): not the record.
    own = [results_dir / "logs" / "bundle.log", results_dir / "benchmarks" / "bundle.tsv"]
    traces = []
    for folder in ("logs", "benchmarks"):
        if (results_dir / folder).is_dir():
            b.copy_tree(results_dir / folder, f"results/{folder}", skip=own)
            traces.append(f"results/{folder}")
    config_placed = b.write_text("config.yaml", yaml.safe_dump(config, sort_keys=False))
    given = [
        (f, b.copy(f, f"configfiles/{i:02d}-{Path(f).name}"))
        for i, f in enumerate(configfiles, start=1)
        if Path(f).is_file()
    ]
    source = [
        b.copy(f, f"source/{f.relative_to(source_root).as_posix()}")
        for pattern in SOURCE_GLOBS
        for f in sorted(source_root.glob(pattern))
        if f.is_file() and "__pycache__" not in f.parts
    ]
    facts = [
        (
            b.write_text("run.json", json.dumps(run, indent=2) + "\n"),
            "run.json",
            "The command, config files, workflow version and run times",
        ),
        (
            b.write_text("software.json", json.dumps(software, indent=2) + "\n"),
            "software.json",
            "Python, platform and every package version",
        ),
    ]
    lines = [f"{p.sha256}  {p.dest}" for p in sorted(b.placed.values(), key=lambda p: p.dest)]
    facts.append(
        (
            b.write_text(CHECKSUMS, "\n".join(lines) + "\n"),
            CHECKSUMS,
            "sha256 of every other file in the bundle (sha256sum -c)",
        )
    )
    return _Packed(
        entries,
        masks,
        masks_csv,
        copied_masks,
        report_placed,
        traces,
        config_placed,
        given,
        source,
        facts,
        run,
    )


def _describe(
    packed: _Packed,
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

    def add(placed: _Placed, label: str, description: str | None = None, **extra):
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
        "description": f"{len(masks)} predicted masks (PNG, 0/255, in each sheet's geometry), "
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


def build_bundle(
    out_dir: str | Path,
    *,
    results_dir: str | Path,
    results: Iterable[str | Path],
    mask_tables: Iterable[str | Path],
    config: dict,
    configfiles: Iterable[str],
    source_root: str | Path,
    report: str | Path | None = None,
    copy_masks: bool = False,
    name: str | None = None,
    license: str = "CC-BY-4.0",
    authors: Iterable[dict] = (),
    threads: int = 1,
    log: Callable[[str], None] = print,
    model: dict | None = None,
) -> Path:
    """Write the bundle folder and its ``ro-crate-metadata.json``; returns the folder.

    ``results`` are files and folders under ``results_dir`` (kept at the same relative path under
    ``results/`` in the bundle); ``mask_tables`` are the per-shard :func:`mask_checksums` tables.
    """
    out, results_dir, source_root = Path(out_dir), Path(results_dir), Path(source_root)
    configfiles = [str(f) for f in configfiles]
    out.mkdir(parents=True, exist_ok=True)
    start, end = _run_times(results_dir)
    run = {
        "command": snakemake_command(configfiles, source_root / "Snakefile"),
        "working_directory": os.getcwd(),
        "configfiles": configfiles,
        "results": str(results_dir),
        "workflow_version": workflow_version(source_root),
        "start_time": start,
        "end_time": end,
        "report_command": f"snakemake --report {report}" if report else None,
        "bundled_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        # the model that measured the sheets: folder, weights sha256, card summary (issue 13)
        "model": model,
    }
    software = software_versions()
    b = _Bundle(out, threads)
    packed = _pack(
        b,
        results_dir=results_dir,
        results=results,
        mask_tables=mask_tables,
        config=config,
        configfiles=configfiles,
        source_root=source_root,
        report=report,
        copy_masks=copy_masks,
        run=run,
        software=software,
    )
    log(f"copied {len(b.placed)} files into {out}")
    crate, outputs = _describe(
        packed,
        out,
        results_dir=results_dir,
        config=config,
        software=software,
        name=name,
        license=license,
        authors=authors,
    )
    crate.write(out)
    how = "copied" if copy_masks else "referenced"
    log(
        f"wrote {out / 'ro-crate-metadata.json'}: {len(outputs)} results, "
        f"{len(packed.masks)} masks {how}"
    )
    return out


def _sheet_counts(leaf_area: Path) -> tuple[int, int]:
    try:
        status = pd.read_csv(leaf_area, usecols=["status"], dtype=str)["status"]
    except (OSError, ValueError):
        return 0, 0
    return len(status), int((status == "ok").sum())


# --- checking -------------------------------------------------------------------------------


def verify_bundle(bundle: str | Path, results_dir: str | Path | None = None) -> list[str]:
    """Every problem found, as text; empty when the bundle is intact.

    Checks each file entity of the crate (present, size, sha256), every line of
    ``checksums.sha256``, and, given the run's results folder, every referenced mask.
    """
    bundle = Path(bundle)
    problems: list[str] = []
    crate = ROCrate(bundle)
    for entity in crate.get_by_type("File"):
        ident = entity.id
        if ident.startswith(("#", "http://", "https://")) or ident == "ro-crate-metadata.json":
            continue
        path = bundle / unquote(ident)
        if not path.is_file():
            problems.append(f"{ident}: listed but missing")
            continue
        size = entity.get("contentSize")
        if size is not None and int(size) != path.stat().st_size:
            problems.append(f"{ident}: size {path.stat().st_size}, listed {size}")
        if entity.get("sha256") and sha256_file(path) != entity["sha256"]:
            problems.append(f"{ident}: sha256 differs from the crate's")
    sums = bundle / CHECKSUMS
    if sums.is_file():
        for line in sums.read_text().splitlines():
            digest, _, rel = line.partition("  ")
            path = bundle / rel
            if not path.is_file():
                problems.append(f"{rel}: in {CHECKSUMS} but missing")
            elif sha256_file(path) != digest:
                problems.append(f"{rel}: sha256 differs from {CHECKSUMS}")
    else:
        problems.append(f"{CHECKSUMS} missing")
    if results_dir is not None:
        masks = pd.read_csv(bundle / MASKS_TABLE, dtype=str, keep_default_na=False)
        for row in masks.itertuples():
            path = Path(results_dir) / row.path
            if not path.is_file():
                problems.append(f"mask {row.path}: missing under {results_dir}")
            elif sha256_file(path) != row.sha256:
                problems.append(f"mask {row.path}: sha256 differs from masks.csv")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m herbseg.reporting.bundle",
        description="Check a herbseg run bundle: every file's size and sha256, and optionally "
        "the referenced masks under the run's results folder.",
    )
    parser.add_argument("bundle", help="the bundle folder (holding ro-crate-metadata.json)")
    parser.add_argument("--results", help="the run's results folder, to check the masks too")
    args = parser.parse_args(argv)
    problems = verify_bundle(args.bundle, args.results)
    for p in problems:
        print(p)
    print(f"{args.bundle}: {'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
