"""The report's view: everything report.html and report.md show, computed once from the report input (summary.json
+ the comparable history + this run's series; any part may be missing) as plain, already-formatted values; the
templates only lay them out (loadwatch.report.render).

It is assembled from one sub-view per section: the header (loadwatch.report.header), the totals
(loadwatch.report.totals), the findings, incidents, thresholds and attribution (loadwatch.report.findings), the
scenario table over the history (loadwatch.report.history), the charts (loadwatch.report.figures) and the
capacity (loadwatch.report.capacity)."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

from loadwatch.report.capacity import capacity_view
from loadwatch.report.figures import charts_view
from loadwatch.report.findings import findings_view, incidents
from loadwatch.report.format import as_list, as_map, as_text
from loadwatch.report.header import header_view
from loadwatch.report.history import history_runs, history_view, scenario_rows
from loadwatch.report.totals import totals_view

__all__ = ["build_view", "scenario_table"]


def _rows(summary: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    return [as_map(c) for c in as_list(summary.get(key)) if isinstance(c, Mapping)]


def build_view(data: Mapping[str, Any], pool: Executor | None = None) -> dict[str, Any]:
    """Everything both templates show, formatted. Never raises on a missing or odd-shaped part. `pool`: processes
    to draw the charts in (loadwatch.report.figures.draw_charts)."""
    data = as_map(data)
    summary = as_map(data.get("summary"))
    history = history_runs(data)
    comparison = _rows(summary, "comparison")
    change_points = _rows(summary, "change_points")
    mode = as_text(data.get("mode")) or "run"
    header = header_view(mode, summary, history)
    found = incidents(data, change_points)
    findings = findings_view(summary, comparison, change_points, found, header["run_id"])
    # the trend chart puts the flagged scenarios and those of an incident first
    first = [f["scenario"] for f in findings["findings"]] + [c["scenario"] for i in found for c in i["changes"]]
    return {
        **header,
        "first_run": mode == "run" and len(history) <= 1 and not any(c.get("n_baseline") for c in comparison),
        **totals_view(summary),
        **findings,
        **history_view(summary, comparison, history, change_points),
        **charts_view(data, summary, history, change_points, first, pool),
        "capacity": capacity_view(as_map(summary.get("capacity"))),
    }


def scenario_table(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows for the Prefect table artifact: scenario, latest p95, baseline median, change %, interval, outcome."""
    view = as_map(data)
    summary = as_map(view.get("summary"))
    rows = scenario_rows(summary, _rows(summary, "comparison"), history_runs(view), [])

    def rnd(x: float | None, n: int = 3) -> float | None:
        return None if x is None else round(x, n)

    return [
        {
            "scenario": r["label"],
            "latest_p95_ms": rnd(r["latest_value"]),
            "baseline_median_p95_ms": rnd(r["baseline_value"]),
            "change_percent": rnd(r["change_value"], 1),
            "interval": r["interval"],
            "outcome": r["outcome"],
        }
        for r in rows
    ]
