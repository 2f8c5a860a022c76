"""How the same-night A/B rows join the night's verdict (loadwatch.pipeline.ab_stage.judge_with_ab) and the session's
settings from the plan's `ab:` section (pure)."""

from __future__ import annotations

from loadwatch.config import AbSpec
from loadwatch.findings import AbBlock, AbRow, Findings
from loadwatch.pipeline.ab_stage import ab_settings, judge_with_ab


def _row(verdict: str, change: float | None = 12.0) -> AbRow:
    return AbRow(scenario="*", percentile="p50", verdict=verdict, reason="r", pairs=9, change_percent=change,
                 ci_low_percent=None if change is None else change - 4, ci_high_percent=None, same_night=True)


def _block(verdict: str, rows: list[AbRow], status: str = "completed", reason: str | None = None) -> AbBlock:
    return AbBlock(status=status, verdict=verdict, reason=reason, baseline="http://127.0.0.1:1",  # type: ignore[typeddict-item]
                   candidate="http://127.0.0.1:2", pairs=9, elapsed_s=60.0, warnings=[], rows=rows)


def test_an_ab_regression_fails_a_passing_night_and_leads_its_reasons():
    night = Findings(verdict="pass", verdict_reasons=["all within the baseline's band"])
    judged = judge_with_ab(night, _block("regression", [_row("regression"), _row("no_change", 0.3)]))
    assert judged.verdict == "regression"
    assert judged.verdict_reasons == [
        "same-night A/B regression, http://127.0.0.1:2 against http://127.0.0.1:1: * p50 +12.0 % [+8.0, +∞ %]",
        "all within the baseline's band",
    ]


def test_a_night_that_already_fails_keeps_its_verdict():
    night = Findings(verdict="threshold_breach", verdict_reasons=["p95 < 50ms breached"])
    assert judge_with_ab(night, _block("regression", [_row("regression")])).verdict == "threshold_breach"


def test_no_answer_and_inconclusive_are_said_and_fail_nothing():
    night = Findings(verdict="pass")
    failed = judge_with_ab(night, _block("inconclusive", [], status="failed", reason="build B did not start"))
    assert failed.verdict == "pass"
    assert failed.verdict_reasons == ["same-night A/B: no answer (build B did not start)"]
    unsure = judge_with_ab(night, _block("inconclusive", [_row("inconclusive", 3.0)]))
    assert unsure.verdict == "pass"
    assert unsure.verdict_reasons == ["same-night A/B inconclusive after 9 pair(s): * p50 +3.0 % [-1.0, +∞ %]"]
    assert judge_with_ab(night, _block("no_regression", [_row("no_change", 0.1)])) == night


def test_settings_from_the_plan_section():
    spec = AbSpec(baseline="http://127.0.0.1:1", candidate="http://127.0.0.1:2", percentiles=["p50", "p95"],
                  floors={"p95": 8}, budget=90, alpha=0.05, looks=2)
    s = ab_settings(spec, rate=50.0)
    assert s.budget_s == 90 and s.stats.alpha == 0.05 and s.stats.looks == 2
    assert s.stats.floors["p95"] == 0.08 and s.stats.floors["p50"] == 0.025  # the rest: the A/B defaults
    assert s.round_s >= 2.0  # long enough for p95 at 50 req/s (docs/METHOD.md §13)
    assert ab_settings(spec.model_copy(update={"round": 3.0}), rate=50.0).round_s == 3.0
