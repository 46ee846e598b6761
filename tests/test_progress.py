"""Progress lines of long per-sheet loops: few enough to read, always a final one."""

from __future__ import annotations

from herbseg.io.progress import Progress, format_duration


def test_a_fast_loop_logs_only_its_final_line():
    lines: list[str] = []
    progress = Progress(1000, lines.append, "resized")
    for _ in range(1000):
        progress.update()
    assert len(lines) == 1
    assert lines[0].startswith("resized 1000/1000 sheets, ") and "sheets/s" in lines[0]


def test_a_slow_loop_logs_every_tenth_with_rate_and_eta(monkeypatch):
    clock = iter(range(0, 10_000, 10))  # every call to the clock: 10 s later
    monkeypatch.setattr("herbseg.io.progress.time.perf_counter", lambda: next(clock))
    lines: list[str] = []
    progress = Progress(20, lines.append, "measured", every_s=1e9)
    for _ in range(20):
        progress.update()
    assert [line.split(",")[0] for line in lines] == [
        f"measured {n}/20 sheets" for n in range(2, 21, 2)
    ]
    assert "eta 3 min" in lines[0]  # 2 sheets in 20 s, 18 to go


def test_durations_read_as_a_person_would_say_them():
    assert format_duration(42) == "42 s"
    assert format_duration(600) == "10 min"
    assert format_duration(7300) == "2 h 02 min"
