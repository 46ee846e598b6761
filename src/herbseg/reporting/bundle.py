"""The run bundle: a Workflow Run RO-Crate a lab can deposit and a reader can check.

A deposit (Zenodo, Figshare) outlives the machine the run happened on, so the bundle holds what
is needed to judge and repeat the run without it: the resolved configuration and the command,
the code that ran, package versions, the manifest of inputs with their checksums, the split, the
model and its card, every result table, the report, and the job logs. Predicted masks are too
many to copy for a whole collection; they are listed with size and sha256 (``results/masks.csv``)
so a reader holding them can prove they are the ones measured, and copied only on request.

The crate (:mod:`herbseg.reporting.crate`) describes every file with its size and sha256;
``checksums.sha256`` covers every file in ``sha256sum -c`` form. :func:`verify_bundle`
(``python -m herbseg.reporting.bundle BUNDLE``) checks both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pandas as pd
import yaml
from rocrate.rocrate import ROCrate

from herbseg.io.files import atomic_write_text, sha256_file
from herbseg.model.card import model_facts
from herbseg.reporting.crate import Packed, Placed, describe
from herbseg.reporting.mask_checksums import MASK_COLUMNS
from herbseg.reporting.provenance import (
    run_times,
    snakemake_command,
    software_versions,
    workflow_version,
)

MASKS_TABLE = "results/masks.csv"
CHECKSUMS = "checksums.sha256"
# Files of the repository that make up the workflow: what ran, copied so the bundle stands alone.
SOURCE_GLOBS = [
    "Snakefile",
    "workflow/rules/*.smk",
    "workflow/scripts/*.py",
    "workflow/schemas/*",
    "workflow/report/*",
    "envs/*",
    "config/*",
    "src/herbseg/**/*.py",  # the library, every layer
    "requirements.txt",
    "pyproject.toml",
    "Makefile",
    "README.md",
    "LICENSE*",
]


class _Bundle:
    """Copies files into the bundle folder and remembers their size and checksum."""

    def __init__(self, root: Path, threads: int = 1) -> None:
        self.root = root
        self.threads = threads
        self.placed: dict[str, Placed] = {}

    def copy(self, src: str | Path, dest: str) -> Placed:
        target = self.root / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        return self.record(dest)

    def write_text(self, dest: str, text: str) -> Placed:
        target = self.root / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, text)
        return self.record(dest)

    def record(self, dest: str) -> Placed:
        target = self.root / dest
        placed = Placed(dest, target.stat().st_size, sha256_file(target))
        self.placed[dest] = placed
        return placed

    def copy_tree(self, src: str | Path, dest: str, skip: Iterable[Path] = ()) -> list[Placed]:
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
) -> Packed:
    """Copy everything into the bundle first, so each file is hashed once, from its copy."""
    entries: list[tuple[str, list[Placed], bool]] = []
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
    return Packed(
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
    ``results/`` in the bundle); ``mask_tables`` are the per-shard
    :func:`herbseg.reporting.mask_checksums.mask_checksums` tables.
    """
    out, results_dir, source_root = Path(out_dir), Path(results_dir), Path(source_root)
    configfiles = [str(f) for f in configfiles]
    out.mkdir(parents=True, exist_ok=True)
    start, end = run_times(results_dir)
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
    crate, outputs = describe(
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


def run(
    inputs: Any,
    outputs: Any,
    params: Any,
    *,
    threads: int,
    log: Callable[[str], None],
    config: dict,
    source_root: str | Path,
) -> None:
    """Rule bundle: every result among ``inputs`` (and the report, once it exists) and the
    per-shard ``inputs.checksums`` → the bundle folder ``outputs[0]``.

    ``config`` is the run's whole resolved configuration and ``source_root`` the checkout holding
    the Snakefile; they are passed apart from ``params`` so that a config change with no effect
    on the results does not rerun the bundle.
    """
    results_dir = Path(outputs[0]).parent  # <results>/bundle
    named = inputs.items() if hasattr(inputs, "items") else vars(inputs).items()
    results = [
        path
        for name, value in named
        if name not in ("checksums", "report")
        for path in ([value] if isinstance(value, str) else value)
        # a saved model (model.path) lives elsewhere: run.json records it by sha256
        if Path(path).resolve().is_relative_to(results_dir.resolve())
    ]
    settings = params.bundle
    build_bundle(
        outputs[0],
        results_dir=results_dir,
        results=results,
        mask_tables=inputs.checksums,
        config=config,
        configfiles=params.configfiles,
        source_root=source_root,
        report=getattr(inputs, "report", None),
        copy_masks=settings["copy_masks"],
        name=settings["name"],
        license=settings["license"],
        authors=settings["authors"],
        threads=threads,
        log=log,
        model=model_facts(params.model),
    )


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
