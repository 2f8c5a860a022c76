"""The confirmation rule, pure (loadwatch.pipeline.confirm and judge(..., confirmation=...), docs/METHOD.md §3.7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loadwatch.changes import OpenChange
from loadwatch.pipeline.compare import judge
from loadwatch.pipeline.confirm import SecondLoad, confirmation_block, not_reproduced_reasons, reproduce, to_confirm
from loadwatch.stats.model import RunPoint

T0 = datetime(2026, 12, 1, tzinfo=UTC)
WIGGLE = (1.0, 1.01, 0.99, 1.02, 0.98, 1.005, 0.995, 1.015, 0.985, 1.0, 1.01, 0.99)


def _point(i: int, p50: float, run_id: str | None = None) -> RunPoint:
    return RunPoint(run_id=run_id or f"r{i:02d}", started_at=T0 + timedelta(days=i),
                    metrics={"items": {"p50_ms": p50, "error_rate": 0.0}})


HISTORY = [_point(i, 10.0 * w) for i, w in enumerate(WIGGLE)]


def _row(scenario: str, metric: str, outcome: str, change: float | None = 50.0) -> dict:
    return {"scenario": scenario, "metric": metric, "outcome": outcome, "change": change, "value": 1.0}


def _change(scenario: str, metric: str) -> OpenChange:
    return OpenChange(change_id="c1", scenario=scenario, metric=metric, status="open", change_percent=40.0,
                      first_run_id="r1", first_seen_at=T0.isoformat(), nights_open=2, failing=True)


def test_only_regressions_no_open_change_follows_are_to_be_confirmed():
    rows = [_row("a", "p50_ms", "regression"), _row("b", "p50_ms", "regression"), _row("c", "p95_ms", "suspect")]
    assert to_confirm(rows, [_change("b", "p50_ms")]) == [("a", "p50_ms")]
    assert to_confirm([_row("a", "p50_ms", "ok")], []) == []


def test_a_regression_stays_only_where_the_second_run_has_it_too():
    first = [_row("a", "p50_ms", "regression"), _row("b", "p95_ms", "regression"), _row("c", "p50_ms", "ok"),
             _row("d", "p99_ms", "regression")]
    second = [_row("a", "p50_ms", "regression", 48.0), _row("b", "p95_ms", "ok", 1.5), _row("c", "p50_ms", "ok")]
    merged, rows = reproduce(first, second, [("a", "p50_ms"), ("b", "p95_ms"), ("d", "p99_ms")])
    outcome = {(r["scenario"], r["metric"]): r["outcome"] for r in merged}
    assert outcome == {("a", "p50_ms"): "regression", ("b", "p95_ms"): "suspect", ("c", "p50_ms"): "ok",
                       ("d", "p99_ms"): "suspect"}
    # d: the second run could not judge that tail, which never lets one load alone fail the night
    assert [(r["scenario"], r["reproduced"], r["outcome"]) for r in rows] == [
        ("a", True, "regression"), ("b", False, "ok"), ("d", False, "not_judged")]
    assert merged[1]["confirmation"]["change"] == 1.5 and "confirmation" not in merged[2]
    reasons = not_reproduced_reasons(rows)
    assert reasons == [
        "not reproduced by a second load: b p95_ms +50.0 % on the first, +1.5 % (ok) on the second: suspect, "
        "not failing",
        "not reproduced by a second load: d p99_ms +50.0 % on the first, no value (not_judged) on the second: "
        "suspect, not failing"]


def test_the_second_load_needs_its_floor_and_interval_not_the_nights_critical_z():
    """The critical z guards a whole night's rows against chance; the second load tests the rows the first picked, so
    a row past its floor whose 99 % interval excludes "no change" reproduces even when its z falls short (seen: a
    cache that stopped caching, +19 % at z 5.7 of 5.2 on the first load, +16.7 % at z just short on the second)."""
    first = [_row(s, "p50_ms", "regression") for s in "abcd"]
    second = [
        {**_row("a", "p50_ms", "suspect", 16.7), "checks": {"z": False, "floor": True, "ci": True}},
        {**_row("b", "p50_ms", "suspect", 16.7), "checks": {"z": False, "floor": True, "ci": False}},  # could be 0
        {**_row("c", "p50_ms", "suspect", 3.0), "checks": {"z": True, "floor": False, "ci": True}},  # below floor
        {**_row("d", "p50_ms", "suspect", 16.7), "checks": {"z": False, "floor": True, "ci": None}},  # no interval
    ]
    merged, rows = reproduce(first, second, [(s, "p50_ms") for s in "abcd"])
    assert [r["outcome"] for r in merged] == ["regression", "suspect", "suspect", "suspect"]
    assert [r["reproduced"] for r in rows] == [True, False, False, False]


def test_the_block_says_what_was_decided():
    second = SecondLoad(series=[("a", "p50_ms")], metrics={"a": {"p50_ms": 3.0}}, load={"requests": 120},
                        duration_s=4.0)
    yes = {"scenario": "a", "metric": "p50_ms", "first_change": 50.0, "change": 48.0, "value": 3.0,
           "outcome": "regression", "reproduced": True}
    no = {**yes, "outcome": "ok", "reproduced": False}
    assert confirmation_block(second, [yes])["outcome"] == "reproduced"
    assert confirmation_block(second, [no])["outcome"] == "not_reproduced"
    assert confirmation_block(second, [yes, no])["outcome"] == "partly_reproduced"
    failed = SecondLoad(series=[("a", "p50_ms")], why_not="the second load failed: refused")
    assert confirmation_block(failed, [])["outcome"] == "not_judged"
    assert confirmation_block(second, [yes])["metrics"] == {"a": {"p50_ms": 3.0}}


def test_judge_passes_a_night_whose_second_load_is_back_at_the_baseline():
    tonight = _point(20, 15.0, "tonight")
    alone = judge(tonight, HISTORY, thresholds=[], load=None)
    assert alone["verdict"] == "regression"

    transient = judge(tonight, HISTORY, thresholds=[], load=None, changes=[],
                      confirmation=_point(20, 10.05, "tonight-confirm"))
    assert transient["verdict"] == "pass", transient["verdict_reasons"]
    assert transient["open_changes"] == []
    assert any(r.startswith("not reproduced by a second load: items p50_ms +") for r in transient["verdict_reasons"])

    lasting = judge(tonight, HISTORY, thresholds=[], load=None, changes=[],
                    confirmation=_point(20, 14.8, "tonight-confirm"))
    assert lasting["verdict"] == "regression"
    assert [c.metric for c in lasting["open_changes"]] == ["p50_ms"]
    assert lasting["confirmation_rows"][0]["reproduced"] is True


def test_a_followed_change_is_not_re_judged_by_a_second_load():
    tonight = _point(20, 15.0, "tonight")
    followed = judge(tonight, HISTORY, thresholds=[], load=None, changes=[_change("items", "p50_ms")],
                     confirmation=_point(20, 10.0, "tonight-confirm"))
    assert followed["confirmation_rows"] == []
    row = next(r for r in followed["comparison"] if r["metric"] == "p50_ms")
    assert row["outcome"] == "regression" and "confirmation" not in row
