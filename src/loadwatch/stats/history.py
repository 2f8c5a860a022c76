"""Change points over a run history, per scenario x metric, and their grouping into incidents by run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from loadwatch.stats.model import DIRECTION, ERROR_RATE_FLOOR_POINTS, FLOORS, METRICS, RunPoint

__all__ = ["group_incidents", "history_change_points"]


def _series(runs: Sequence[RunPoint], scenario: str, metric: str) -> list[tuple[RunPoint, float]]:
    out: list[tuple[RunPoint, float]] = []
    for r in runs:
        v = (r.metrics.get(scenario) or {}).get(metric)
        if v is not None and math.isfinite(float(v)):
            out.append((r, float(v)))
    return out


def history_change_points(
    runs: Sequence[RunPoint],
    *,
    window: int = 30,
    max_pvalue: float = 0.001,
    confirm_after: int = 3,
) -> list[dict[str, Any]]:
    """Change points of every scenario x metric series in `runs` (oldest first; excluded runs skipped), with
    min_magnitude = the metric's floor. A change with fewer than `confirm_after` runs after it is "pending"."""
    from loadwatch.stats.edivisive import detect_change_points  # numpy + scipy: only when detecting

    usable = [r for r in runs if not r.excluded]
    scenarios = sorted({sc for r in usable for sc in r.metrics})
    found: list[dict[str, Any]] = []
    for scenario in scenarios:
        for metric in METRICS:
            series = _series(usable, scenario, metric)
            if len(series) < 4:
                continue
            values = [v for _, v in series]
            cps = detect_change_points(
                values,
                window=window,
                max_pvalue=max_pvalue,
                min_magnitude=FLOORS[metric],
                min_abs_change=ERROR_RATE_FLOOR_POINTS if metric == "error_rate" else 0.0,
            )
            for cp in cps:
                run = series[cp.index][0]
                runs_after = len(series) - 1 - cp.index
                worse = DIRECTION[metric] * (cp.mean_after - cp.mean_before) > 0
                found.append(
                    {
                        "scenario": scenario,
                        "metric": metric,
                        "run_id": run.run_id,
                        "index": cp.index,
                        "time": run.started_at,
                        "forward_change_percent": cp.forward_change_percent
                        if math.isfinite(cp.forward_change_percent)
                        else None,
                        "magnitude": cp.magnitude if math.isfinite(cp.magnitude) else None,
                        "p_value": cp.p_value,
                        "mean_before": cp.mean_before,
                        "mean_after": cp.mean_after,
                        "std_before": cp.std_before,
                        "std_after": cp.std_after,
                        "runs_after": runs_after,
                        "state": "confirmed" if runs_after >= confirm_after else "pending",
                        "direction": "regression" if worse else "improvement",
                    }
                )
    found.sort(key=lambda c: (c["time"], c["scenario"], c["metric"]))
    return found


def group_incidents(change_points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Change points grouped by the run they start at, oldest first: {run_id, time, changes: [...]}."""
    groups: dict[str, dict[str, Any]] = {}
    for cp in change_points:
        g = groups.setdefault(cp["run_id"], {"run_id": cp["run_id"], "time": cp.get("time"), "changes": []})
        g["changes"].append(cp)
    for g in groups.values():
        g["regressions"] = sum(1 for c in g["changes"] if c.get("direction") == "regression")
        g["state"] = "confirmed" if any(c.get("state") == "confirmed" for c in g["changes"]) else "pending"
    return sorted(groups.values(), key=lambda g: (g["time"] is None, g["time"], g["run_id"]))
