"""The open-change lifecycle as a pure function (loadwatch.pipeline.open_changes.track): rows in, tonight's view
of every change out."""

from __future__ import annotations

from loadwatch.changes import OpenChange
from loadwatch.pipeline.open_changes import change_id, describe, track


def _row(metric: str, outcome: str, value: float, change: float = 40.0) -> dict:
    return {"scenario": "s", "metric": metric, "outcome": outcome, "value": value, "baseline": 10.0,
            "change_percent": change, "change": change, "ci": [30.0, 50.0]}


def _open(status: str = "open", level: float = 14.0, metric: str = "p95_ms") -> OpenChange:
    return OpenChange(change_id=change_id("r1", "s", metric), scenario="s", metric=metric, status=status,
                      change_percent=40.0, ci=(30.0, 50.0), first_run_id="r1",
                      first_seen_at="2026-12-02T02:00:00+00:00", nights_open=3, failing=True, level=level)


def test_a_regression_row_opens_one_change_with_its_size_and_versions():
    t = track([_row("p95_ms", "regression", 14.0)], [], [], run_id="r9", started_at="2026-12-07T02:00:00+00:00",
              versions=("1.4", "1.5"))
    [c] = t.changes
    assert (c.change_id, c.status, c.failing, c.held, c.nights_open) == (change_id("r9", "s", "p95_ms"), "open",
                                                                          True, True, 1)
    assert c.ci == (30.0, 50.0) and (c.version_before, c.version_after) == ("1.4", "1.5") and c.level == 14.0
    assert c.reason == describe(c) and "since 2026-12-07, open 1 night (change c" in c.reason


def test_followed_changes_fail_per_policy_and_recover():
    kw = {"run_id": "r5", "started_at": "2026-12-05T02:00:00+00:00"}
    still = [_row("p95_ms", "suspect", 14.0)]
    assert track(still, [], [_open()], **kw).changes[0].failing  # fail: every night while open
    warn = track(still, [], [_open()], policy="warn", **kw)
    assert not warn.changes[0].failing and ("s", "p95_ms") in warn.excused
    assert track([_row("p95_ms", "regression", 14.0 * 1.3)], [], [_open()], policy="warn", **kw).changes[0].failing
    back = track([_row("p95_ms", "ok", 10.1)], [], [_open()], **kw).changes[0]
    assert back.status == "recovered" and not back.failing and not back.held and back.nights_open == 4


def test_a_followed_night_says_whether_the_change_was_seen_again():
    kw = {"run_id": "r5", "started_at": "2026-12-05T02:00:00+00:00"}
    [opened] = track([_row("p95_ms", "regression", 14.0)], [], [], **kw).changes
    assert opened.seen_tonight  # the opening night shows it
    again = track([_row("p95_ms", "regression", 14.2)], [], [_open()], **kw).changes[0]
    kept = track([_row("p95_ms", "suspect", 11.0)], [], [_open().model_copy(update={"seen_tonight": True})],
                 **kw).changes[0]
    assert again.seen_tonight and again.held
    assert kept.held and not kept.seen_tonight  # held by a suspect night: tonight did not show it again


def test_a_confirmed_change_fails_only_beyond_its_level():
    kw = {"run_id": "r5", "started_at": "2026-12-05T02:00:00+00:00"}
    at_level = track([_row("p95_ms", "regression", 14.5)], [], [_open("confirmed")], **kw)
    assert not at_level.changes[0].failing and at_level.changes[0].held and not at_level.failing
    worse = track([_row("p95_ms", "regression", 14.0 * 1.2)], [], [_open("confirmed")], **kw)
    assert worse.changes[0].failing


def test_a_confirmed_change_point_opens_a_change_in_points_for_the_error_rate():
    cp = {"scenario": "s", "metric": "error_rate", "mean_before": 0.2, "mean_after": 3.2,
          "forward_change_percent": 1500.0}
    [c] = track([], [cp], [], run_id="r7", started_at="2026-12-07T02:00:00+00:00").changes
    assert c.source == "change_point" and c.unit == "points" and abs((c.change_percent or 0) - 3.0) < 1e-9
