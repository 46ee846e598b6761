"""Logging for workflow scripts: one line per event, to the job's log file and to the console.

A person following a long run sees progress on the console, and the same lines stay in the rule's
log file for later. The log must also hold what goes wrong before the first ``log(...)`` line:
a script imports its heavy libraries inside :func:`job_log`, so an import error, a Python warning
and anything a C extension prints to stderr (a CUDA or libtiff message, a segfault's traceback
from :mod:`faulthandler`) land in the log, not only on a console nobody kept. Hence, while the
context is open, file descriptor 2 itself points at the log file (C code writes there, not to
``sys.stderr``), Python warnings are logged (``logging.captureWarnings``), and the console gets
the log lines through a copy of the original stderr.
"""

from __future__ import annotations

import atexit
import functools
import gc
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

_FORMAT = logging.Formatter("%(asctime)s %(name)s %(message)s", "%Y-%m-%d %H:%M:%S")


@contextmanager
def _stderr_into(path: Path) -> Iterator[IO[str] | None]:
    """Point file descriptor 2 at ``path`` (appending) and yield a stream to the old stderr (the
    console); None, and nothing redirected, when the process has no usable descriptor 2."""
    try:
        saved = os.dup(2)
    except OSError:
        yield None
        return
    _flush()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    os.dup2(fd, 2)
    os.close(fd)
    console = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
    try:
        yield console
    finally:
        _flush()
        os.dup2(saved, 2)
        os.close(saved)
        console.close()


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass


@functools.cache
def _freeze_at_exit() -> None:
    """Have the process's exit skip the cyclic garbage collector's passes over every object.

    A job's process ends right after its script, and Python's finalisation then searches all
    live objects for reference cycles several times: with torch, timm and sympy imported that
    is about 1 s of every network job, which Snakemake waits for (``benchmarks/job_imports.py``).
    Freezing them (:func:`gc.freeze`) when the interpreter starts to end skips that work and
    nothing else: exit callbacks and module teardown still run, files are already closed, and
    the operating system takes the memory back. Registered once per process (cached).
    """
    atexit.register(gc.freeze)


@contextmanager
def job_log(path: str | Path, name: str = "herbseg") -> Iterator[Callable[[str], None]]:
    """Yield a ``log(message)`` function; a failure inside is logged with its traceback.

    The log file is started empty. Everything written to stderr while the context is open, and
    every Python warning, goes into it as well (see the module docstring).
    """
    _freeze_at_exit()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")  # each run's log starts empty; everything below appends
    logger = logging.getLogger(f"{name}.{path.stem}")
    warned = logging.getLogger("py.warnings")
    saved_state = (logger.level, logger.propagate, warned.propagate)
    with _stderr_into(path) as console:
        handlers: list[logging.Handler] = [logging.FileHandler(path, mode="a", encoding="utf-8")]
        # No descriptor to redirect: the console handler goes to sys.stderr as before.
        handlers.append(logging.StreamHandler(console if console is not None else sys.stderr))
        for h in handlers:
            h.setFormatter(_FORMAT)
            logger.addHandler(h)
            warned.addHandler(h)
        logger.setLevel(logging.INFO)
        logger.propagate = warned.propagate = False
        logging.captureWarnings(True)
        try:
            yield logger.info
        except BaseException:
            logger.error(traceback.format_exc())
            raise
        finally:
            logging.captureWarnings(False)
            for h in handlers:
                logger.removeHandler(h)
                warned.removeHandler(h)
                h.close()
            logger.level, logger.propagate, warned.propagate = saved_state
