"""The one way a benchmark script ends: print its table and keep it under benchmarks/results/."""

from __future__ import annotations

from pathlib import Path


def write_report(lines: list[str], out: Path) -> None:
    """Print ``lines`` and write them to ``out`` (folders created), so the figures quoted in
    BENCHMARKS.md are the file a rerun overwrites."""
    report = "\n".join(lines)
    print(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report + "\n")
