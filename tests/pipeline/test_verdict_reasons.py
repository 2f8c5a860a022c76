"""A night never passes in silence on a large change (rule 5): a change past its floor and its interval that the
history is too short to establish is named in the verdict's reasons, not failing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loadwatch.pipeline.compare import decide_verdict
from loadwatch.stats.gate import compare_run
from loadwatch.stats.model import GateConfig, RunPoint

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _run(i: int, p50: float) -> RunPoint:
    return RunPoint(run_id=f"r{i}", started_at=T0 + timedelta(days=i),
                    metrics={"search": {"p50_ms": p50}, "*": {"p50_ms": p50}})


def test_a_doubling_five_nights_cannot_establish_is_named_not_silent():
    # five nights with a ±9 % spread: z* at five nights is 10.9, which a doubling does not reach (z 7.4), while
    # its floor and its interval are met
    history = [_run(i, v) for i, v in enumerate([10.0, 10.9, 9.2, 10.4, 11.0])]
    cfg = GateConfig(min_history=5)
    rows = compare_run(_run(9, 20.0), history, cfg)
    row = next(r for r in rows if r["scenario"] == "search" and r["metric"] == "p50_ms")
    assert row["outcome"] == "suspect" and row["checks"] == {"z": False, "floor": True, "ci": True}, row
    verdict, reasons = decide_verdict(rows, [], n_baseline=5, min_history=5)
    assert verdict == "pass"
    line = next(r for r in reasons if r.startswith("not established: search p50_ms"))
    assert f"of the {row['z_critical']:.1f} needed with 5 baseline night(s)" in line, line
    assert line.endswith("suspect, not failing")


def test_a_quiet_night_has_no_such_line():
    history = [_run(i, v) for i, v in enumerate([10.0, 10.2, 9.9, 10.1, 10.0])]
    rows = compare_run(_run(9, 10.05), history, GateConfig(min_history=5))
    verdict, reasons = decide_verdict(rows, [], n_baseline=5, min_history=5)
    assert (verdict, reasons) == ("pass", [])
