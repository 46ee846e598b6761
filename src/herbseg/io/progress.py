"""Progress lines for long per-sheet loops: count, rate and time left.

A shard of a thousand 24 MP scans takes minutes per stage; a person watching the console (or
reading the job's log after a crash) should see how far it got and when it will end, without a
line per sheet drowning the log of a million-sheet run.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def format_duration(seconds: float) -> str:
    """Short human form, because an ETA of "5234 s" makes the reader do arithmetic."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    hours, rest = divmod(seconds, 3600)
    return f"{hours:.0f} h {rest / 60:02.0f} min"


class Progress:
    """Count finished items and log ``<verb> done/total <unit>, rate, eta`` now and then.

    A line is written every ``every_n`` items (default: a tenth of the total) or every
    ``every_s`` seconds, whichever comes first, and always for the last item, so a long shard
    logs about ten lines and a slow one still shows signs of life. Lines are at least
    ``min_gap_s`` apart: a shard done in a second needs its final line only.
    """

    def __init__(
        self,
        total: int,
        log: Callable[[str], None],
        verb: str,
        unit: str = "sheets",
        every_n: int | None = None,
        every_s: float = 60.0,
        min_gap_s: float = 5.0,
    ) -> None:
        self.total = total
        self.log = log
        self.verb = verb
        self.unit = unit
        self.every_n = every_n or max(1, total // 10)
        self.every_s = every_s
        self.min_gap_s = min_gap_s
        self.done = 0
        self._start = time.perf_counter()
        self._last_n = 0
        self._last_t = self._start

    def update(self, n: int = 1) -> None:
        """Record ``n`` more finished items; logs when a reporting interval has passed."""
        self.done += n
        now = time.perf_counter()
        since = now - self._last_t
        due = (
            self.done >= self.total
            or since >= self.every_s
            or (self.done - self._last_n >= self.every_n and since >= self.min_gap_s)
        )
        if due:
            self._last_n, self._last_t = self.done, now
            self.log(self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.perf_counter()) - self._start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = format_duration(left) if left != float("inf") else "unknown"
        return (
            f"{self.verb} {self.done}/{self.total} {self.unit}, {rate:.2f} {self.unit}/s, "
            f"elapsed {format_duration(elapsed)}, eta {eta}"
        )
