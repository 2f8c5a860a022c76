"""The compare stage: this run against its own history, its thresholds, and the seed's score.

Pure: takes the run's summary parts and the comparable history (oldest first), returns the findings and
the verdict. The statistics themselves live in loadwatch.stats (method: docs/METHOD.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from loadwatch import attribution, stats
from loadwatch.measures import run_metrics

__all__ = ["CONFIRM_AFTER", "GATING_OUTCOMES", "compare_stage", "decide_verdict", "newly_confirmed"]

GATING_OUTCOMES = ("regression",)
CONFIRM_AFTER = 3


def _point(p: Mapping[str, Any]) -> stats.RunPoint:
    return stats.RunPoint(
        run_id=p["run_id"],
        started_at=p["started_at"],
        metrics=p.get("metrics") or {},
        histograms=p.get("histograms") or {},
        excluded=bool(p.get("excluded")),
    )


def newly_confirmed(
    change_points: Sequence[Mapping[str, Any]],
    comparison: Sequence[Mapping[str, Any]] = (),
    confirm_after: int = CONFIRM_AFTER,
) -> list[Mapping[str, Any]]:
    """Regression change points that this run confirms (exactly `confirm_after` runs after the change):
    a slow drift the same-night gate missed fails one run, the one that confirms it, not every run after.
    Like the gate, a series the gate found noisy (or without enough history) is reported, never failing; nor does
    an attribution series (it explains a regression, it is not one)."""
    change_points = [c for c in change_points if c.get("metric") not in attribution.ATTRIBUTION_METRICS]
    untrusted = ("noisy", "insufficient_history")
    quiet = {(c["scenario"], c["metric"]) for c in comparison if c.get("outcome") not in untrusted}
    return [
        c for c in change_points
        if c.get("direction") == "regression" and c.get("state") == "confirmed"
        and c.get("runs_after") == confirm_after and (c.get("scenario"), c.get("metric")) in quiet
    ]


def decide_verdict(
    comparison: Sequence[Mapping[str, Any]],
    thresholds: Sequence[Mapping[str, Any]],
    *,
    n_baseline: int,
    min_history: int,
    change_points: Sequence[Mapping[str, Any]] = (),
) -> tuple[str, list[str]]:
    reasons: list[str] = []
    comparison = [c for c in comparison if c.get("metric") not in attribution.ATTRIBUTION_METRICS]
    breached = [t for t in thresholds if not t.get("passed")]
    regressions = [c for c in comparison if c.get("outcome") in GATING_OUTCOMES]
    confirmed = newly_confirmed(change_points, comparison)
    for t in breached:
        reasons.append(f"threshold breached: {t['expr']} (value {t.get('value')})")
    for c in regressions:
        reasons.append(f"regression: {c['scenario']} {c['metric']} {c.get('change_percent') or 0:+.1f}%")
    for c in confirmed:
        reasons.append(f"change point confirmed: {c['scenario']} {c['metric']} "
                       f"{c.get('forward_change_percent') or 0:+.1f}% since run {c['run_id']}")
    if regressions or confirmed:
        return "regression", reasons
    if breached:
        return "threshold_breach", reasons
    if n_baseline < min_history:
        reasons.append(f"insufficient history: {n_baseline} comparable run(s), the gate needs {min_history}")
        return "insufficient_history", reasons
    return "pass", reasons


def compare_stage(
    *,
    run_id: str,
    started_at: datetime,
    summary: Mapping[str, Any],
    histograms: Mapping[str, Mapping[str, str]],
    history: Sequence[Mapping[str, Any]],
    threshold_exprs: Sequence[str],
    plan_source: str,
    config: stats.GateConfig | None = None,
) -> dict[str, Any]:
    cfg = config or stats.GateConfig()
    current = stats.RunPoint(
        run_id=run_id,
        started_at=started_at,
        metrics=run_metrics(summary),
        histograms={sc: h["latency"] for sc, h in histograms.items() if h.get("latency")},
    )
    past = [_point(p) for p in history]
    usable = [p for p in past if not p.excluded]
    rows = stats.compare_run(current, past, cfg)
    all_change_points = stats.history_change_points([*past, current], confirm_after=CONFIRM_AFTER)
    # attribution series are judged like the rest but kept apart: they explain a regression, never are one
    comparison = [r for r in rows if r["metric"] not in attribution.ATTRIBUTION_METRICS]
    change_points = [c for c in all_change_points if c["metric"] not in attribution.ATTRIBUTION_METRICS]
    thresholds = stats.evaluate_thresholds(threshold_exprs, summary.get("load") or {}, source=plan_source)
    verdict, reasons = decide_verdict(
        comparison, thresholds, n_baseline=len(usable[-cfg.window :]), min_history=cfg.min_history,
        change_points=change_points,
    )
    explained = attribution.explain(
        summary=summary, current=current.metrics, comparison=comparison,
        rows=[r for r in rows if r["metric"] in attribution.ATTRIBUTION_METRICS],
        history=history, baseline_run_ids=[p.run_id for p in usable[-cfg.window :]], min_history=cfg.min_history,
    )
    explained["change_points"] = [c for c in all_change_points if c["metric"] in attribution.ATTRIBUTION_METRICS]
    return {
        "verdict": verdict,
        "verdict_reasons": reasons,
        "baseline_run_ids": [p.run_id for p in usable[-cfg.window :]],
        "comparison": comparison,
        "change_points": change_points,
        "incidents": stats.group_incidents(change_points),
        "thresholds": thresholds,
        "score": stats.score(summary.get("load") or {}),
        "attribution": explained,
    }
