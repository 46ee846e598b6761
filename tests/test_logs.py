"""The job log holds everything from a script's first line: warnings, stderr, an import error."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")

SCRIPT = """
import os, warnings
from herbseg.io.logs import job_log

with job_log({log!r}) as log:
    log("started")
    warnings.warn("a dubious setting")
    os.write(2, b"written to descriptor 2 by C code\\n")
    import herbseg_no_such_module  # a heavy import that fails
"""


def run_script(tmp_path: Path) -> tuple[subprocess.CompletedProcess, str]:
    log = tmp_path / "logs" / "job.log"
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT.format(log=str(log))))
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env)
    return done, log.read_text()


def test_warning_stderr_and_import_error_reach_the_log(tmp_path):
    done, log = run_script(tmp_path)
    assert done.returncode != 0
    assert "started" in log
    assert "UserWarning: a dubious setting" in log
    assert "written to descriptor 2 by C code" in log
    assert "ModuleNotFoundError" in log and "herbseg_no_such_module" in log
    # the console keeps the log lines, the warning and the error
    assert "started" in done.stderr and "a dubious setting" in done.stderr
    assert "herbseg_no_such_module" in done.stderr


def test_log_starts_empty_and_stderr_is_restored(tmp_path):
    from herbseg.io.logs import job_log

    path = tmp_path / "a.log"
    path.write_text("an earlier run\n")
    with job_log(path) as log:
        log("this run")
    with job_log(path) as log:
        log("the next run")
    text = path.read_text()
    assert "earlier" not in text and "this run" not in text and "the next run" in text
    os.write(2, b"")  # descriptor 2 is usable again
