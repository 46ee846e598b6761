"""Logging for workflow scripts: one line per event, to the job's log file and to the console.

A person following a long run sees progress on the console, and the same lines stay in the rule's
log file for later; an exception is written to the log before the job fails.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def job_log(path: str | Path, name: str = "herbseg") -> Iterator[Callable[[str], None]]:
    """Yield a ``log(message)`` function; a failure inside is logged with its traceback."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"{name}.{Path(path).stem}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(name)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers = [logging.FileHandler(path, mode="w"), logging.StreamHandler(sys.stderr)]
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)
    try:
        yield logger.info
    except BaseException:
        logger.error(traceback.format_exc())
        raise
    finally:
        for h in handlers:
            logger.removeHandler(h)
            h.close()
