"""Crash anywhere, rerun, same results: fault injection across every stage of the workflow.

A small demo collection (synthetic sheets, 64 px frames, a 3-epoch deterministic CPU training)
runs once uninterrupted: the reference. Each case then runs the same workflow, hits it at one
point with a fault, and recovers as the README tells a user to:

    snakemake --unlock && snakemake --rerun-incomplete

and every final output (every file under results/ except logs/ and benchmarks/) is compared
byte for byte with the reference's. Faults:

* ``kill``: SIGKILL to the whole Snakemake process tree (a node dying, ``kill -9``);
* ``term``: SIGTERM to the whole tree (Ctrl-C's cousin; what SLURM sends at a job's time limit);
* ``budget``: training ends at ``train.max_minutes`` (a tiny budget: one epoch), and the rerun
  with the budget lifted resumes training to the same model;
* ``disk``: the results live on a small tmpfs that fills during a write; the run must fail
  loudly (non-zero exit, ``No space left`` in a log) and, once the tmpfs is grown, finish.

Kill points are chosen by watching files and log lines (a job's log appearing, a line in it, a
temp file appearing), plus a delay, not by sleeping from the start. Cases of stages after
``split`` start from a copy of the reference's folder (outputs, mtimes and Snakemake metadata)
with the stage forced to rerun (``--forcerun``): the same state a run reaching that stage is in,
without paying for the stages before it again.

    .venv/bin/python benchmarks/fault_injection.py                  # every case
    .venv/bin/python benchmarks/fault_injection.py --cases train    # names containing 'train'

Writes benchmarks/results/fault_injection.txt. Runs on CPU only (byte equality needs it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_report  # noqa: E402

RES = "demo/results"
CONFIG = {
    "sheets": "demo/sheets",
    "annotations": "demo/masks",
    "results": RES,
    "synth": {
        "enabled": True,
        "n_sheets": 8,
        "seed": 3,
        "width": 300,
        "height": 450,
        "dpi": 60,
        "truth": "demo/truth.csv",
    },
    "ingest": {"shard_size": 4},
    "resize": {"size": 64},
    "model": {"encoder": "resnet18", "encoder_weights": None},
    "train": {
        "epochs": 3,
        "batch_size": 4,
        "num_workers": 0,
        "lr": 1e-3,
        "device": "cpu",
        "deterministic": True,
        "seed": 0,
    },
    "predict": {"batch_size": 4, "device": "cpu"},
    "measure": {"min_leaf_px": 20},
    "report": {"n_worst": 2, "n_random": 2, "long_side": 300},
    "threads": {"ingest": 1, "resize": 1, "train": 1, "predict": 1, "measure": 1},
}
# Outside the comparison: what a run says about itself (logs, timings), not what it found; also
# where the bundle copies them to.
SKIP_PARTS = ("logs", "benchmarks")


# --------------------------------------------------------------------------- running


def snakemake_cmd(work: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(work / "config.yaml"),
        "--cores",
        "1",
        *args,
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(REPO / "src")}


def run(work: Path, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    return subprocess.run(
        snakemake_cmd(work, *args),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_env(),
        timeout=timeout,
    )


def write_config(work: Path, config: dict) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.yaml").write_text(yaml.safe_dump(config))


def running_jobs(proc: subprocess.Popen) -> list[str]:
    """The workflow scripts running under Snakemake now (``.snakemake/scripts/tmpXXX.NAME.py``)."""
    names = []
    try:
        for p in psutil.Process(proc.pid).children(recursive=True):
            for arg in p.cmdline():
                if "/.snakemake/scripts/" in arg:
                    names.append(Path(arg).name.split(".")[1])
    except psutil.Error:
        pass
    return sorted(names)


def kill_tree(proc: subprocess.Popen, sig: int) -> int:
    """Send ``sig`` to Snakemake and every process below it; returns how many got it.

    A second pass catches a process started while the first was being sent.
    """
    seen: set[int] = set()
    for _ in range(2):
        try:
            procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in procs:
            if p.pid in seen:
                continue
            try:
                p.send_signal(sig)
                seen.add(p.pid)
            except psutil.NoSuchProcess:
                pass
    return len(seen)


# --------------------------------------------------------------------------- kill points


@dataclass
class Trigger:
    """A moment in a run: ``what`` describes it, ``ready(work)`` says it has come."""

    what: str
    ready: Callable[[Path], bool]
    delay: float = 0.0  # seconds after ready
    clear: str = "-"  # files (glob under results/) a copied reference must not hold


def appears(pattern: str, delay: float = 0.0) -> Trigger:
    def ready(work: Path) -> bool:
        return any((work / RES).glob(pattern))

    return Trigger(f"{pattern} appears" + (f" +{delay:g}s" if delay else ""), ready, delay, pattern)


def log_line(log: str, text: str, count: int = 1, delay: float = 0.0) -> Trigger:
    def ready(work: Path) -> bool:
        try:
            return (work / RES / "logs" / log).read_text().count(text) >= count
        except OSError:
            return False

    what = f"logs/{log} has {count}x {text!r}" + (f" +{delay:g}s" if delay else "")
    return Trigger(what, ready, delay, f"logs/{log}")


def history_rows(n: int, delay: float = 0.0) -> Trigger:
    def ready(work: Path) -> bool:
        try:
            return len((work / RES / "train/history.csv").read_text().splitlines()) - 1 >= n
        except OSError:
            return False

    return Trigger(
        f"history.csv has {n} epoch(s)" + (f" +{delay:g}s" if delay else ""), ready, delay
    )


@dataclass
class Case:
    name: str
    stage: str
    trigger: Trigger | None
    fault: str = "kill"  # kill | term | budget | disk
    forcerun: str | None = None  # start from the reference with this rule forced
    reset: tuple[str, ...] = ()  # paths under results/ removed in that copy
    notes: list[str] = field(default_factory=list)


def cases() -> list[Case]:
    c: list[Case] = []
    # From scratch: synth, ingest, resize, split.
    c += [
        Case("synth-start", "synth", appears("logs/synth.log")),
        Case("synth-mid", "synth", appears("logs/synth.log", 1.5)),
        Case("ingest-start", "ingest", appears("logs/ingest.log")),
        Case("ingest-mid", "ingest", appears("logs/ingest.log", 1.0)),
        Case("resize-shard1", "resize", appears("logs/resize/*.log")),
        Case("resize-mid", "resize", appears("logs/resize/*.log", 1.0)),
        Case("split", "split", appears("logs/split.log")),
    ]
    # Training, from the reference with train/ emptied (checkpoint and snapshots too).
    t = {"forcerun": "train", "reset": ("train",)}
    c += [
        Case("train-start", "train", appears("logs/train.log"), **t),
        Case("train-before-ckpt", "train", log_line("train.log", "training "), **t),
        Case("train-ckpt-write", "train", appears("train/.checkpoint.*"), **t),
        Case("train-after-epoch1", "train", history_rows(1), **t),
        Case("train-between-1-2", "train", history_rows(1, 0.5), **t),
        Case("train-after-epoch2", "train", history_rows(2), **t),
        Case("train-model-swap", "train", appears("train/.model.*"), **t),
        Case("train-after-last", "train", history_rows(3), **t),
        Case("train-stopped", "train", log_line("train.log", "stopped:"), **t),
        Case("train-done", "train", log_line("train.log", "training done"), **t),
        Case("train-term-mid", "train", history_rows(1), fault="term", **t),
        Case("train-budget", "train", None, fault="budget", **t),
    ]
    # After training: the stage forced on a copy of the reference.
    for stage, log, delays in (
        ("evaluate", "logs/evaluate.log", (0, 1.5)),
        ("predict", "logs/predict/*.log", (0, 1.5, 3)),
        ("measure", "logs/measure/*.log", (0, 1.0)),
        ("aggregate", "logs/aggregate.log", (0,)),
        ("baseline", "logs/baseline.log", (0,)),
        ("plot_collection", "logs/report/plot_collection.log", (0,)),
        ("overlays", "logs/report/overlays.log", (0.5,)),
        ("mask_checksums", "logs/mask_checksums/*.log", (0,)),
        ("bundle", "logs/bundle.log", (0, 1.0)),
    ):
        for d in delays:
            c.append(Case(f"{stage}+{d:g}s", stage, appears(log, d), forcerun=stage))
    c.append(
        Case(
            "predict-term",
            "predict",
            appears("logs/predict/*.log", 1.0),
            fault="term",
            forcerun="predict",
        )
    )
    # The disk fills once the forced predict jobs have started (they first delete their old
    # outputs, which would free the space a filler written before the run took).
    c.append(
        Case(
            "predict-disk-full",
            "predict",
            appears("logs/predict/*.log"),
            fault="disk",
            forcerun="predict",
        )  # fmt: skip
    )
    return c


# --------------------------------------------------------------------------- comparing


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    """A JSON document as ``{key path: leaf value}``."""
    if isinstance(obj, dict):
        return {k: v for key, val in obj.items() for k, v in _flat(val, f"{prefix}/{key}").items()}
    if isinstance(obj, list):
        return {k: v for i, val in enumerate(obj) for k, v in _flat(val, f"{prefix}[{i}]").items()}
    return {prefix: obj}


def _parts(path: Path) -> dict[str, Any] | None:
    """The comparable parts of a table (columns) or JSON file (leaves); None for other files."""
    try:
        if path.suffix == ".csv":
            import pandas as pd

            df = pd.read_csv(path, dtype=str, keep_default_na=False)
            return {c: df[c].tolist() for c in df.columns}
        if path.suffix == ".json":
            return _flat(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None
    return None


@dataclass
class Reference:
    """The reference run's results, and what differs between two uninterrupted runs."""

    root: Path
    digest: dict[str, str]
    volatile: dict[str, set[str] | None]  # file -> differing columns/keys (None: whole file)


def digest(root: Path) -> dict[str, str]:
    """sha256 of every final output file under ``root`` (a results folder)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and not set(rel.parts[:-1]) & set(SKIP_PARTS):
            out[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def volatile_parts(a: Path, b: Path, da: dict, db: dict) -> dict[str, set[str] | None]:
    """Files that differ between two clean runs, narrowed to the columns or JSON keys that do."""
    out: dict[str, set[str] | None] = {}
    for k in sorted(set(da) & set(db)):
        if da[k] == db[k]:
            continue
        pa, pb = _parts(a / k), _parts(b / k)
        if pa is None or pb is None or set(pa) != set(pb):
            out[k] = None
        else:
            out[k] = {c for c in pa if pa[c] != pb[c]}
    return out


# Records of the run rather than results: when, where (the case's own folder) and with which
# commit it ran, and checksums of files that hold timings. Compared by presence, and the bundle
# must pass herbseg.reporting.bundle.verify_bundle (every file it lists there, whole, with its
# sha256).
RUN_RECORDS_UNDER = ("bundle/source/",)  # the workflow's source as the bundle found it
RUN_RECORDS = {
    "bundle/ro-crate-metadata.json",
    "bundle/ro-crate-preview.html",
    "bundle/run.json",
    "bundle/checksums.sha256",
}
# Figures of wall-clock time (seconds per epoch): compared by presence.
WALL_CLOCK = {"report/training.png", "bundle/results/report/training.png"}


def differences(ref: Reference, results: Path) -> list[str]:
    """Files missing, extra or different; a file that differs between two clean runs too is
    compared without its differing columns/keys (timings, dates), or by presence if not a table."""
    got = digest(results)
    diffs = [f"missing {k}" for k in sorted(set(ref.digest) - set(got))]
    diffs += [f"extra {k}" for k in sorted(set(got) - set(ref.digest))]
    for k in sorted(set(ref.digest) & set(got)):
        if ref.digest[k] == got[k] or k in RUN_RECORDS or k in WALL_CLOCK:
            continue
        if k.startswith(RUN_RECORDS_UNDER):
            continue
        if k not in ref.volatile:
            diffs.append(f"differs {k}")
            continue
        skip = ref.volatile[k]
        if skip is None:
            continue
        pa, pb = _parts(ref.root / RES / k), _parts(results / k)
        beyond = sorted(
            c
            for c in (set(pa or {}) | set(pb or {})) - skip
            if (pa or {}).get(c) != (pb or {}).get(c)
        )
        if pa is None or pb is None or beyond:
            diffs.append(f"differs {k} in {beyond[:5]}")
    if (results / "bundle").is_dir():
        from herbseg.reporting.bundle import verify_bundle

        diffs += [f"bundle: {p}" for p in verify_bundle(results / "bundle", results)]
    return diffs


def recompare(root: Path, names: list[str]) -> list[dict]:
    """Compare case folders a run left (its failures) again, e.g. after fixing the checks."""
    works = [root / "reference", root / "reference2"]
    da, db = (digest(w / RES) for w in works)
    ref = Reference(works[0], da, volatile_parts(works[0] / RES, works[1] / RES, da, db))
    rows = []
    for work in (root / n.replace("+", "_") for n in names):
        diffs = differences(ref, work / RES) + sheet_rows(work / RES)
        rows.append({"case": work.name, "ok": not diffs, "why": "; ".join(diffs)})
    return rows


def sheet_rows(results: Path) -> list[str]:
    """Lost or duplicated sheets in the final per-sheet tables."""
    import pandas as pd

    problems = []
    manifest = pd.read_csv(results / "ingest/manifest.csv", dtype={"sheet_id": str})
    ids = sorted(manifest["sheet_id"])
    for name in ("leaf_area.csv",):
        df = pd.read_csv(results / name, dtype={"sheet_id": str})
        if sorted(df["sheet_id"]) != ids:
            problems.append(f"{name}: {len(df)} rows for {len(ids)} sheets")
    traits = pd.read_csv(results / "leaf_traits.csv", dtype={"sheet_id": str})
    dup = traits.duplicated(["sheet_id", "leaf_id"]).sum()
    if dup:
        problems.append(f"leaf_traits.csv: {dup} duplicated leaves")
    return problems


# --------------------------------------------------------------------------- one case


def _watch(proc: subprocess.Popen, work: Path, trigger: Trigger, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if trigger.ready(work):
            if trigger.delay:
                time.sleep(trigger.delay)
            return proc.poll() is None
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    return False


def prepare(case: Case, ref: Path, work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    if case.forcerun:
        shutil.copytree(ref, work, symlinks=True)
        # The reference's logs would fire the watchers at once: drop the ones this case watches.
        for f in (work / RES).glob(case.trigger.clear if case.trigger else "-"):
            f.unlink()
        for rel in case.reset:
            shutil.rmtree(work / RES / rel, ignore_errors=True)
    else:
        write_config(work, CONFIG)


def run_case(case: Case, ref: Reference, root: Path) -> dict:
    work = root / case.name.replace("+", "_")
    prepare(case, ref.root, work)
    t0 = time.monotonic()
    force = ["--forcerun", case.forcerun] if case.forcerun else []
    row = {"case": case.name, "stage": case.stage, "fault": case.fault, "hit": "", "ok": False}
    if case.fault in ("kill", "term"):
        proc = subprocess.Popen(
            snakemake_cmd(work, *force),
            cwd=REPO,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        hit = _watch(proc, work, case.trigger, timeout=3600)
        sig = signal.SIGKILL if case.fault == "kill" else signal.SIGTERM
        jobs = running_jobs(proc) if hit else []
        n = kill_tree(proc, sig) if hit else 0
        try:
            proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            kill_tree(proc, signal.SIGKILL)
            proc.communicate()
        running = ", ".join(jobs) or "none (between jobs)"
        row["hit"] = (
            f"{case.trigger.what}: {n} processes, running: {running}"
            if hit
            else "run ended before the point"
        )
        if not hit:
            return {**row, "why": "kill point not reached", "seconds": time.monotonic() - t0}
    elif case.fault == "budget":
        cfg = yaml.safe_load((work / "config.yaml").read_text())
        cfg["train"]["max_minutes"] = 1e-4  # ends after its first epoch, as at a time limit
        write_config(work, cfg)
        first = run(work, *force)
        hist = (work / RES / "train/history.csv").read_text().splitlines()
        row["hit"] = f"max_minutes 1e-4: rc {first.returncode}, {len(hist) - 1} epoch(s)"
        write_config(work, CONFIG)  # the budget lifted: params changed, train reruns, resumes
    elif case.fault == "disk":
        row["hit"] = disk_full(case, work, force)
        if "FAIL" in row["hit"]:
            return {**row, "why": row["hit"], "seconds": time.monotonic() - t0}
    # The command that was interrupted, again, with --rerun-incomplete: a forced stage must be
    # forced again (see BENCHMARKS.md: a plain rerun keeps a later stage's older outputs).
    unlock = run(work, "--unlock")
    rerun = run(work, *force, "--rerun-incomplete")
    row["seconds"] = time.monotonic() - t0
    if unlock.returncode or rerun.returncode:
        return {**row, "why": f"rerun failed: {rerun.stderr[-800:]}"}
    diffs = differences(ref, work / RES)
    diffs += sheet_rows(work / RES)
    row["ok"] = not diffs
    row["why"] = "; ".join(diffs[:4]) + (f" (+{len(diffs) - 4})" if len(diffs) > 4 else "")
    if row["ok"]:
        shutil.rmtree(work, ignore_errors=True)
    return row


def disk_full(case: Case, work: Path, force: list[str]) -> str:
    """Results on a tmpfs too small for the rerun's writes: the run must fail with ENOSPC, then
    succeed once the tmpfs is grown (``mount -o remount,size=``). Needs root."""
    res = work / RES
    used = sum(p.stat().st_size for p in res.rglob("*") if p.is_file())
    keep = work / "results.keep"
    shutil.move(res, keep)
    res.mkdir()
    size = used + 2 * 2**20  # the reference's bytes and 2 MiB: not enough for the rerun's
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(res)],
            check=True,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        shutil.rmtree(res)
        shutil.move(keep, res)
        return f"FAIL: cannot mount a tmpfs ({exc})"
    subprocess.run(["cp", "-a", f"{keep}/.", str(res)], check=True)
    shutil.rmtree(keep)
    # Start the forced stage; once its jobs run (their old outputs deleted), fill the tmpfs so
    # their next writes run out of space.
    proc = subprocess.Popen(snakemake_cmd(work, *force), cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    hit = _watch(proc, work, case.trigger, timeout=3600)
    filler = res / "filler.bin"
    with open(filler, "wb") as f, __import__("contextlib").suppress(OSError):
        while True:
            f.write(b"\0" * 2**16)
    out, err = proc.communicate(timeout=1800)
    first = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    if not hit:
        filler.unlink()
        return "FAIL: the run ended before the disk was filled"
    logs = "\n".join(p.read_text(errors="replace") for p in (res / "logs").rglob("*.log"))
    loud = first.returncode != 0 and (
        "No space left" in first.stderr + logs or "Errno 28" in first.stderr + logs
    )
    filler.unlink()
    subprocess.run(["mount", "-o", f"remount,size={used * 3 + 64 * 2**20}", str(res)], check=True)
    return f"disk filled when {case.trigger.what}: rc {first.returncode}, loud={loud}" + (
        "" if loud else " FAIL"
    )


def cleanup_mounts(root: Path) -> None:
    for part in psutil.disk_partitions(all=True):
        if part.mountpoint.startswith(str(root)):
            subprocess.run(["umount", "-l", part.mountpoint], check=False)


# --------------------------------------------------------------------------- main


def reference(root: Path) -> Reference:
    """The uninterrupted run, and what differs between two of them (run side by side)."""
    works = [root / "reference", root / "reference2"]
    todo = [w for w in works if not (w / RES / "leaf_area.csv").exists()]  # --root reused
    for w in todo:
        write_config(w, CONFIG)
    t0 = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        procs = list(pool.map(run, todo))
    for proc in procs:
        if proc.returncode:
            raise SystemExit(f"reference run failed:\n{proc.stderr[-4000:]}")
    print(f"two reference runs: {time.monotonic() - t0:.0f} s", flush=True)
    da, db = (digest(w / RES) for w in works)
    if set(da) != set(db):
        raise SystemExit(f"reference runs wrote different files: {sorted(set(da) ^ set(db))}")
    return Reference(works[0], da, volatile_parts(works[0] / RES, works[1] / RES, da, db))


def _describe_volatile(volatile: dict[str, set[str] | None]) -> list[str]:
    out = []
    for k, v in sorted(volatile.items()):
        out.append(
            f"  {k}: " + ("whole file (presence checked)" if v is None else ", ".join(sorted(v)))
        )
    return out or ["  none"]


def report_from_log(log: Path, root: Path, out: Path, note: str) -> None:
    """The report of a run that was stopped or whose checks were fixed afterwards: its printed
    case lines, with the failed cases' folders (kept by the run) compared again."""
    import re

    by_name = {c.name: c for c in cases()}
    pat = re.compile(
        r"^(\S+)\s+(ok|FAIL) (.*?running: (?:none \(between jobs\)|(?:\w+, )*\w+))?(.*)$"
    )
    rows = []
    for line in log.read_text().splitlines():
        m = pat.match(line)
        if not m or m.group(1) not in by_name:
            continue
        name, result, hit, rest = m.groups()
        row = {
            "case": name,
            "stage": by_name[name].stage,
            "fault": by_name[name].fault,
            "hit": hit or rest.strip()[:120],
            "ok": result == "ok",
            "why": "",
        }
        if not row["ok"] and not (root / name.replace("+", "_") / RES / "leaf_area.csv").exists():
            row["why"] = "see the note above"
        elif not row["ok"]:
            again = recompare(root, [name])[0]
            row["ok"], row["why"] = again["ok"], again["why"] or "re-compared: same outputs"
        rows.append(row)
    done = {r["case"] for r in rows}
    lines = [
        "Fault injection (see benchmarks/fault_injection.py): a fault at each point, then",
        "`snakemake --unlock` + `snakemake --rerun-incomplete`; every final output under results/",
        "(logs/ and benchmarks/ aside) compared byte for byte with an uninterrupted reference run",
        "(CPU, train.deterministic: true). Exceptions: columns/keys that differ between two",
        "uninterrupted runs (history.csv 'seconds', model cards' 'created_utc'),",
        "report/training.png (plots seconds per epoch) and the bundle's run records (dates,",
        "folder, commit), which must pass verify_bundle instead.",
        note,
        "",
        f"{'case':<22} {'stage':<16} {'fault':<7} {'result':<6} fault point | why",
    ]
    for r in rows:
        lines.append(
            f"{r['case']:<22} {r['stage']:<16} {r['fault']:<7} "
            f"{'ok' if r['ok'] else 'FAIL':<6} {r['hit']}{' | ' + r['why'] if r['why'] else ''}"
        )
    for name, c in by_name.items():
        if name not in done:
            lines.append(f"{name:<22} {c.stage:<16} {c.fault:<7} {'--':<6} not run")
    n_ok = sum(r["ok"] for r in rows)
    kills = sum(r["ok"] and r["fault"] == "kill" for r in rows)
    lines += [
        "",
        f"{n_ok}/{len(rows)} cases run recovered to the reference's outputs "
        f"({kills} SIGKILL points); {len(by_name) - len(rows)} of {len(by_name)} not run",
    ]
    write_report(lines, out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--cases",
        default="",
        help="run only cases whose name contains one of these (comma-separated)",
    )
    ap.add_argument("--root", type=Path, default=None, help="work folder (default: a temp dir)")
    ap.add_argument("--jobs", type=int, default=2, help="cases run side by side")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/fault_injection.txt")
    ap.add_argument("--from-log", type=Path, help="report a stopped run from its printed lines")
    ap.add_argument("--note", default="", help="a line for the --from-log report")
    args = ap.parse_args(argv)
    if args.from_log:
        report_from_log(args.from_log, args.root, args.out, args.note)
        return
    root = args.root or Path(tempfile.mkdtemp(prefix="herbseg_faults_"))
    wanted = args.cases.split(",")
    chosen = [c for c in cases() if any(w in c.name for w in wanted)]
    t0 = time.monotonic()
    ref = reference(root)
    rows = []

    def one(case: Case) -> dict:
        try:
            row = run_case(case, ref, root)
        except Exception as exc:  # noqa: BLE001 - a broken case is a failed case, not a stop
            row = {
                "case": case.name,
                "stage": case.stage,
                "fault": case.fault,
                "hit": "",
                "ok": False,
                "why": f"{type(exc).__name__}: {exc}",
            }
        print(
            f"{row['case']:<22} {'ok' if row['ok'] else 'FAIL'} {row['hit']} {row['why']}",
            flush=True,
        )
        return row

    try:
        with ThreadPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(one, chosen))
    finally:
        cleanup_mounts(root)
    load = os.getloadavg()
    lines = [
        "Fault injection: kill/term/time-limit/full-disk at points across every stage, then",
        "`snakemake --unlock` + `snakemake --rerun-incomplete`; every final output under results/",
        "(logs/ and benchmarks/ aside) compared byte for byte with an uninterrupted reference run",
        "(CPU, train.deterministic: true).",
        f"command: .venv/bin/python benchmarks/fault_injection.py {' '.join(argv or sys.argv[1:])}",
        f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (2 cores, shared); "
        f"total {time.monotonic() - t0:.0f} s; {len(ref.digest)} output files compared per case",
        "Files that differ between two uninterrupted runs, compared without those columns/keys:",
        *_describe_volatile(ref.volatile),
        "",
        f"{'case':<22} {'stage':<16} {'fault':<7} {'result':<6} {'s':>5}  fault point | why",
    ]
    for r in rows:
        lines.append(
            f"{r['case']:<22} {r['stage']:<16} {r['fault']:<7} {'ok' if r['ok'] else 'FAIL':<6} "
            f"{r.get('seconds', 0):5.0f}  {r['hit']}{' | ' + r['why'] if r['why'] else ''}"
        )
    n_ok = sum(r["ok"] for r in rows)
    lines += ["", f"{n_ok}/{len(rows)} cases recovered to the reference's outputs"]
    write_report(lines, args.out)
    if n_ok < len(rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
