"""Fixtures shared by test modules, and the test tiers.

Tiers (markers, registered in pyproject.toml; ``make test-fast`` runs the unit tier):

* unit (no marker): library calls in this process, no Snakemake;
* ``workflow``: starts Snakemake (a real run or a dry run). :func:`tests.helpers.run_snakemake`
  refuses to start it from a test without the marker, so the fast tier cannot slowly grow one;
* ``slurm``, ``browser``: need a SLURM cluster / headless Chromium (CI installs both);
* ``shared``: reads the real sheets in ``../shared`` (given automatically to tests that use the
  ``shared_data`` fixture).

The finished tiny run is built once per session (:func:`tiny_run`); tests that change it work
on a copy (:func:`tests.helpers.copy_run`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import helpers
from tests.helpers import SHARED, TINY, run_snakemake, synth_config, write_mask_file, write_sheet


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Remember the running test (before its fixtures start) for run_snakemake's marker check."""
    helpers.CURRENT_TEST = item


def pytest_runtest_teardown(item: pytest.Item) -> None:
    helpers.CURRENT_TEST = None


# CI prints only a window of its output, and pytest's failure sections come after every test has
# run: the first failures' causes are written as they happen instead, among the progress dots.
EARLY_REASONS = 3


@dataclass
class _EarlyReasons:
    terminal: Any = None  # the controller's terminal reporter
    shown: int = 0


_early = _EarlyReasons()


def pytest_sessionstart(session: pytest.Session) -> None:
    _early.terminal = session.config.pluginmanager.get_plugin("terminalreporter")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """In CI (``CI`` set), the cause of each of the first failures (the last lines of its
    traceback), the moment the controller hears of it; then only the failing test's id."""
    if not report.failed or not os.environ.get("CI") or _early.terminal is None:
        return
    lines = [line[:240] for line in report.longreprtext.strip().splitlines() if line.strip()]
    _early.shown += 1
    tail = lines[-12:] if _early.shown <= EARLY_REASONS else lines[-1:]
    _early.terminal.write_line("")
    _early.terminal.write_line(f"{report.when} failed: {report.nodeid}")
    for line in tail:
        _early.terminal.write_line(f"    {line}")


# The session's finished runs, and the modules that read them: those share one xdist worker, so
# each run is built once per suite instead of once on every worker that needs it. The controller
# schedules before any test module is imported, so the list is written here; collection checks it.
FINISHED_RUNS = frozenset({"tiny_run", "synth_run"})
FINISHED_RUN_MODULES = frozenset(
    {"test_bundle.py", "test_cli.py", "test_model_path.py", "test_report.py", "test_workflow.py"}
)
FINISHED_RUNS_GROUP = "finished-runs"


# Modules that compile models with OpenVINO in the test process: they run last on their worker.
# After OpenVINO has compiled in bf16 or int8 (or read a damaged model file), a later test in the
# same process that forks (DataLoader workers, a killed subprocess) dies with SIGSEGV while it
# reaps the child. The workflow never mixes the two in one process (predict and train are
# separate jobs), so this is the tests' order to keep, not a product setting.
OPENVINO_MODULES = frozenset({"test_runtime.py"})


# Modules that mostly wait: the SLURM test sleeps between the cluster's status checks (12 s per
# stage whatever the job's length). With ``-n auto`` they get a worker of their own beyond the
# cores (:func:`pytest_xdist_auto_num_workers`), which takes nothing else, so their waits do not
# hold a core's worth of the other tests back.
WAITING_MODULES = frozenset({"test_slurm.py"})
SPARE_WORKER = pytest.StashKey[bool]()


def _start_order(item: pytest.Item) -> int:
    """Longest first: SLURM, the finished runs, the other workflow modules, then unit tests;
    the modules that compile OpenVINO models in process at the very end."""
    if item.path.name in OPENVINO_MODULES:
        return 4
    if item.get_closest_marker("slurm"):
        return 0
    if item.path.name in FINISHED_RUN_MODULES:
        return 1
    return 2 if item.get_closest_marker("workflow") else 3


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the ``shared`` tests and order the modules so that the longest start first (a
    worker takes whole groups in collection order: :func:`pytest_xdist_make_scheduler`)."""
    readers = set()
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared)
        if FINISHED_RUNS & set(getattr(item, "fixturenames", ())):
            readers.add(item.path.name)
    unlisted = readers - FINISHED_RUN_MODULES
    if unlisted:
        raise pytest.UsageError(
            f"{', '.join(sorted(unlisted))} read a session run ({', '.join(sorted(FINISHED_RUNS))})"
            " but are not in tests/conftest.py's FINISHED_RUN_MODULES: add them there"
        )
    items.sort(key=_start_order)


@pytest.hookimpl(wrapper=True, optionalhook=True)  # a hook of xdist's
def pytest_xdist_auto_num_workers(config: pytest.Config):
    """``-n auto``: one worker per core (xdist's count), plus one for :data:`WAITING_MODULES`
    unless the marker expression names ``slurm`` (``-m "not slurm"``, the fast tier, selects none;
    ``-m slurm`` selects nothing else)."""
    cores = yield
    spare = "slurm" not in (config.option.markexpr or "")
    config.stash[SPARE_WORKER] = spare
    return cores + 1 if spare else cores


@pytest.hookimpl(optionalhook=True)  # a hook of xdist's, absent with -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadfile``, with the modules of :data:`FINISHED_RUN_MODULES` as one unit and the
    units handed out in collection order (the longest first) rather than by their test count.

    xdist's own ``loadgroup`` would do the grouping from marks, but with pytest 9.2 it groups
    nothing (xdist 3.8 renames ``item._nodeid``, which pytest 9.2 no longer reads).
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    spare = config.stash.get(SPARE_WORKER, False)

    class FileScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return FINISHED_RUNS_GROUP if Path(module).name in FINISHED_RUN_MODULES else module

        def _waits(self, node) -> bool:
            return any(Path(s).name in WAITING_MODULES for s in self.assigned_work.get(node, {}))

        def schedule(self) -> None:
            first = self.collection is None
            super().schedule()
            idle = self.nodes[-1] if self.nodes else None
            if first and spare and idle and not any(self._waits(n) for n in self.nodes):
                if not idle.shutting_down:
                    idle.shutdown()  # nothing waits: the spare ends after its first unit

        def _reschedule(self, node) -> None:
            if spare and self._waits(node):  # the waiting worker takes nothing else
                if not node.shutting_down:
                    node.shutdown()
                return
            super()._reschedule(node)

    config.option.loadscopereorder = False
    return FileScheduling(config, log)


@pytest.fixture(scope="session", autouse=True)
def herbseg_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """herbseg's user cache (encoder names, OpenVINO conversions) in the session's temporary
    folder, for every test and every Snakemake the tests start: the suite leaves nothing in
    ``~/.cache`` and finds nothing an earlier suite put there."""
    cache = tmp_path_factory.mktemp("herbseg-cache")
    previous = os.environ.get("HERBSEG_CACHE_DIR")
    os.environ["HERBSEG_CACHE_DIR"] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop("HERBSEG_CACHE_DIR", None)
    else:
        os.environ["HERBSEG_CACHE_DIR"] = previous


@pytest.fixture
def shared_data() -> Path:
    """The read-only real sheets beside the repository; tests using it skip where it is absent."""
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip("../shared/data is not present")
    return data


@pytest.fixture(scope="session")
def synth_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """``(workdir, config)`` of one finished run on a tiny synthetic collection (results in
    ``demo/results``): the whole demo path, synth to demo_check, in two shards of 4 sheets.
    test_workflow.py checks its every table and rerun plan. Read-only, as ``tiny_run``.

    The classifier is not enabled here: on this collection the one-epoch model finds too few
    leaves to train it, and on one where it does (test_classify_workflow.py's) two sheets have no
    scale, which test_workflow.py's range checks refuse.
    """
    work = tmp_path_factory.mktemp("synth_run")
    base = synth_config(8, 3)
    config = {
        **base,
        "ingest": {**base["ingest"], "shard_size": 4},
        "predict": {"batch_size": 4},  # the CPU default runtime (OpenVINO), as users run it
    }
    run_snakemake(work, config)
    return work, config


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """``(workdir, config)`` of one finished run of the real Snakefile; results in ``results/``.

    A workflow run costs about a minute of job start-ups, so the report, bundle, CLI,
    model-path and broken-file tests all read this one. Treat it as read-only: a test that
    writes into it works on ``copy_run(work, tmp_path / "run")``. It is a user folder of 6 good
    sheets (two annotated at half size: masks mapped onto the sheet), a corrupt and a truncated
    scan (they add the collection shard ``c00000``), and an annotation that matches no sheet,
    so the report's problem tile has something to list.
    """
    work = tmp_path_factory.mktemp("tiny_run")
    sheets, masks = work / "sheets", work / "masks"
    for i in range(6):
        write_sheet(sheets / f"s{i}.jpg", 120, 180, dpi=300, seed=i)
        w, h = (60, 90) if i < 2 else (120, 180)  # another size: mapped onto the sheet
        write_mask_file(masks / f"s{i}_mask.png", w, h)
    write_mask_file(masks / "orphan_mask.png", 60, 90)  # matches no sheet: a problem
    (sheets / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is no jpeg")
    full = write_sheet(work / "full.jpg", 200, 300).read_bytes()
    (sheets / "truncated.jpg").write_bytes(full[: len(full) // 2])
    config = {
        **TINY,
        "sheets": "sheets",
        "annotations": "masks",
        "results": "results",
        "report": {"n_worst": 2, "n_doubtful": 1, "n_random": 2, "long_side": 300},
        "bundle": {"authors": [{"name": "Ada Curator", "orcid": "0000-0002-1825-0097"}]},
    }
    run_snakemake(work, config)
    return work, config
