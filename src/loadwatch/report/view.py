"""The report's view: everything report.html and report.md show, computed once from the report input (summary.json
+ the comparable history + this run's series), validated once into a typed ReportSource (loadwatch.report.source:
the summary through the run record's model), as plain, already-formatted values; the templates only lay them out
(loadwatch.report.render).

It is assembled from one sub-view per section: the header (loadwatch.report.header), the totals
(loadwatch.report.totals), the findings, incidents, thresholds and attribution (loadwatch.report.findings), the
scenario table over the history (loadwatch.report.history), the charts (loadwatch.report.figures), the
capacity (loadwatch.report.capacity), the open changes (loadwatch.report.open_changes), and what the load did with
its sessions (loadwatch.report.sessions), journeys (loadwatch.report.journeys) and data sources
(loadwatch.report.data_sources)."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

from loadwatch.report.ab import ab_view
from loadwatch.report.capacity import capacity_view
from loadwatch.report.data_sources import data_sources_view
from loadwatch.report.figures import charts_view
from loadwatch.report.findings import findings_view, incidents
from loadwatch.report.header import header_view
from loadwatch.report.history import history_view, scenario_rows
from loadwatch.report.journeys import LATENCY_NOTE, journeys_view
from loadwatch.report.open_changes import open_changes_view
from loadwatch.report.sessions import sessions_view
from loadwatch.report.source import ReportSource, capacity_block, load_state, report_source
from loadwatch.report.totals import totals_view

__all__ = ["build_view", "scenario_table"]


def build_view(data: Mapping[str, Any] | ReportSource, pool: Executor | None = None) -> dict[str, Any]:
    """Everything both templates show, formatted. `data` is validated once (loadwatch.report.source: InvalidInput
    naming the field when it does not validate); a missing part (no history, no load, no timeline) is shown as
    missing. `pool`: processes to draw the charts in (loadwatch.report.figures.draw_charts)."""
    src = report_source(data)
    summary, history = src.summary, src.history
    header = header_view(src.mode, summary, history)
    found = incidents(src.incidents, summary.change_points)
    findings = findings_view(summary, found, header["run_id"])
    # the trend chart puts the flagged scenarios and those of an incident first
    first = [f["scenario"] for f in findings["findings"]] + [c["scenario"] for i in found for c in i["changes"]]
    state = load_state(summary)
    return {
        **header,
        "first_run": src.mode == "run" and len(history) <= 1 and not any(c["n_baseline"] for c in summary.comparison),
        **totals_view(summary),
        **findings,
        **history_view(summary, history),
        **charts_view(src, first, pool),
        "capacity": capacity_view(capacity_block(summary)),
        "ab": ab_view(summary.ab),
        "open_changes": open_changes_view(summary.open_changes),
        # each absent (None or empty) when the run had none: the templates leave the section out
        "sessions": sessions_view(state.sessions, summary.totals.errors_by_kind),
        "journeys": journeys_view(state.journeys, state.steps, summary.comparison),
        "journeys_note": LATENCY_NOTE,
        "data_sources": data_sources_view(state.data),
    }


def scenario_table(data: Mapping[str, Any] | ReportSource) -> list[dict[str, Any]]:
    """Rows for the Prefect table artifact: scenario, latest p95, baseline median, change %, interval, outcome."""
    src = report_source(data)
    rows = scenario_rows(src.summary, src.history, [])

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
