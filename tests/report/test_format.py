"""The report's formatting (pure): numbers, changes in their own unit, intervals, noise, times and labels; every
function prints "–" for a missing or junk value instead of raising."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loadwatch.report.format import (
    fmt_change,
    fmt_interval,
    fmt_noise,
    fmt_num,
    fmt_p,
    fmt_pct,
    fmt_time,
    fmt_value,
    metric_label,
    scenario_label,
    unicode_spark,
)


@pytest.mark.parametrize(("value", "shown"), [
    (1234.5, "1,234"), (12.0, "12"), (0.01234, "0.0123"), (1.5, "1.50"), (0, "0"), (None, "–"), ("junk", "–"),
])
def test_fmt_num(value: object, shown: str) -> None:
    assert fmt_num(value) == shown


def test_values_in_their_units() -> None:
    assert fmt_value("p95_ms", 7.25) == "7.25 ms"
    assert fmt_value("capacity_rps", 812.5) == "812 req/s"
    assert fmt_value("error_rate", 0.5) == "0.500%"
    assert fmt_value("rss_mb", 120) == "120 MB"
    assert fmt_value("p95_ms", None, "no answers") == "no answers"
    assert fmt_pct(4.25) == "+4.2%" and fmt_pct(4.25, signed=False) == "4.2%" and fmt_pct(None) == "–"


def test_changes_and_intervals_in_their_own_unit() -> None:
    assert fmt_change({"metric": "p95_ms", "change_percent": 41.66}) == "+41.7%"
    assert fmt_change({"metric": "error_rate", "change": 17.2}) == "+17.2 pts"
    assert fmt_change({"metric": "p95_ms"}) == "–"
    assert fmt_interval([2.1, 9.8]) == "+2.1 to +9.8%"
    assert fmt_interval([0.2, 1.1], "points") == "+0.2 to +1.1 pts"
    assert fmt_interval([1.0]) == "–" and fmt_interval("x") == "–" and fmt_interval([None, 1]) == "–"


def test_noise_is_a_description() -> None:
    assert fmt_noise({"noise": {"cv_percent": 3.4, "min_detectable_percent": 8.0}}) == (
        "moves ±3.4% night to night; effects below 8% cannot be seen")
    assert fmt_noise({"noise": {"sd_points": 0.1, "min_detectable_points": 0.3}}).startswith("moves ±0.10 pts")
    assert fmt_noise({}) == ""


def test_times_p_values_labels_and_sparks() -> None:
    assert fmt_time(datetime(2026, 1, 20, 2, 0, tzinfo=UTC)) == "2026-01-20 02:00 UTC"
    assert fmt_time("2026-01-20T02:00:00+00:00") == "2026-01-20 02:00 UTC"
    assert fmt_time("not a time") == "not a time" and fmt_time(None) == "–"
    assert fmt_p(0.00001) == "< 0.0001" and fmt_p(0.01234) == "0.0123" and fmt_p(None) == "–"
    assert metric_label("p95_ms") == "p95" and metric_label("custom") == "custom"
    assert scenario_label("*") == "all scenarios" and scenario_label("a") == "a"
    assert unicode_spark([1.0, None, 2.0]) == "▁ █" and unicode_spark([1.0]) == ""
