"""Provenance of a run: the software it ran on, the workflow version, the command that repeats
it, and when its results were made; what the run bundle's ``run.json`` and ``software.json`` say.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from herbseg.io.versions import herbseg_version, installed_packages

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


def software_versions() -> dict:
    """Python, platform, the key packages, and every installed distribution.

    The full list is what lets a reader rebuild the environment; the key packages are what they
    read first.
    """
    dists = installed_packages()
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
    return f"herbseg {herbseg_version()}"


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


def run_times(results_dir: Path) -> tuple[str | None, str]:
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
