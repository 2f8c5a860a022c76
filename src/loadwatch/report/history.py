"""The report's history: the comparable runs (oldest first) and the scenario table, one row per scenario with this
run's p95 against its baseline, the gate's outcome and a sparkline of the recent runs (change points marked)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from loadwatch.findings import ChangePointRow, ComparisonRow
from loadwatch.record import HistoryRow, RunSummary
from loadwatch.report import charts
from loadwatch.report.charts import ALL, as_float
from loadwatch.report.findings import OUTCOME_RANK
from loadwatch.report.format import (
    as_map,
    fmt_change,
    fmt_interval,
    fmt_num,
    fmt_pct,
    fmt_time,
    fmt_value,
    metric_label,
    scenario_label,
    unicode_spark,
)

__all__ = ["MD_SPARK_RUNS", "SPARK_RUNS", "history_view", "scenario_rows"]

SPARK_RUNS = 60  # runs in an HTML sparkline
MD_SPARK_RUNS = 30  # runs in a Markdown (unicode block) sparkline


def _series(history: Sequence[HistoryRow], scenario: str, metric: str) -> list[float | None]:
    return [as_float(h["metrics"].get(scenario, {}).get(metric)) for h in history]


def _names(load: Mapping[str, Any], by_key: Mapping[tuple[str, str], ComparisonRow],
           history: Sequence[HistoryRow]) -> list[str]:
    """The scenarios of the table: the whole run first, then the flagged ones, then by name."""
    names: list[str] = []
    for n in [ALL, *as_map(load.get("scenarios")), *(k[0] for k in by_key)]:
        if n and n not in names and (n != ALL or load or (ALL, "p95_ms") in by_key):
            names.append(n)
    if not names and history:
        names = charts.order_scenarios(history[-1:])
    flagged = {k[0] for k, c in by_key.items() if c["outcome"] in ("regression", "suspect")}
    names.sort(key=lambda n: (n != ALL, n not in flagged, n))
    return names


def _p95(row: ComparisonRow | None) -> dict[str, Any]:
    """The p95 row's columns of the table; dashes when the gate did not judge the scenario's p95."""
    if row is None:
        return {"baseline": fmt_value("p95_ms", None), "baseline_value": None, "change": "–", "change_value": None,
                "interval": "–", "outcome": "–"}
    return {
        "baseline": fmt_value("p95_ms", row["baseline"]),
        "baseline_value": as_float(row["baseline"]),
        "change": fmt_change(row),
        "change_value": as_float(row["change_percent"]),
        "interval": fmt_interval(row["ci"], row["ci_unit"]),
        "outcome": row["outcome"] or "ok",
    }


def _row(name: str, block: Mapping[str, Any], by_key: Mapping[tuple[str, str], ComparisonRow],
         history: Sequence[HistoryRow], series: list[float | None], marks: list[int]) -> dict[str, Any]:
    """`block`: the scenario's part of the engine's load summary (its keys are the engine's, not typed here)."""
    p95 = by_key.get((name, "p95_ms"))
    latest = p95["value"] if p95 else as_map(block.get("latency_ms")).get("p95")
    if latest is None and history:
        latest = history[-1]["metrics"].get(name, {}).get("p95_ms")
    requests, errors = as_float(block.get("requests")), as_float(block.get("errors"))
    others = sorted(
        (OUTCOME_RANK.get(c["outcome"], 9), metric_label(m), c["outcome"])
        for (s, m), c in by_key.items()
        if s == name and m != "p95_ms" and c["outcome"] in ("regression", "suspect", "improvement")
    )
    return {
        "name": name,
        "label": scenario_label(name),
        "requests": fmt_num(requests) if requests is not None else "–",
        "errors": fmt_num(errors) if errors is not None else "–",
        "error_rate": fmt_pct(100 * errors / requests, signed=False) if requests and errors is not None else "–",
        "rps": fmt_num(block.get("rps")),
        "latest": fmt_value("p95_ms", latest, "no answers" if requests else "–"),
        "latest_value": as_float(latest),
        **_p95(p95),
        "others": [f"{label} {outcome}" for _, label, outcome in others],
        "spark": Markup(charts.sparkline_svg(series, marks)),
        "spark_md": unicode_spark(series[-MD_SPARK_RUNS:]),
    }


def scenario_rows(summary: RunSummary, history: Sequence[HistoryRow],
                  change_points: Sequence[ChangePointRow]) -> list[dict[str, Any]]:
    load = summary.load
    per = as_map(load.get("scenarios"))
    by_key = {(c["scenario"], c["metric"]): c for c in summary.comparison}
    recent = history[-SPARK_RUNS:]
    index = {h["run_id"]: i for i, h in enumerate(recent)}
    rows = []
    for name in _names(load, by_key, history):
        marks = [
            index[c["run_id"]]
            for c in change_points
            if c["scenario"] == name and c["run_id"] in index and c["metric"].startswith("p")
        ]
        block = load if name == ALL else as_map(per.get(name))
        rows.append(_row(name, block, by_key, history, _series(recent, name, "p95_ms"), marks))
    return rows


def history_view(summary: RunSummary, history: Sequence[HistoryRow]) -> dict[str, Any]:
    return {
        "scenarios": scenario_rows(summary, history, summary.change_points),
        "history_n": len(history),
        "history_first": fmt_time(history[0]["started_at"]) if history else "",
        "history_last": fmt_time(history[-1]["started_at"]) if history else "",
    }
