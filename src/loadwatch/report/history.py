"""The report's history: the comparable runs (oldest first) and the scenario table, one row per scenario with this
run's p95 against its baseline, the gate's outcome and a sparkline of the recent runs (change points marked)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from loadwatch.report import charts
from loadwatch.report.charts import ALL, as_float
from loadwatch.report.findings import OUTCOME_RANK
from loadwatch.report.format import (
    as_list,
    as_map,
    as_text,
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

__all__ = ["MD_SPARK_RUNS", "SPARK_RUNS", "history_runs", "history_view", "scenario_rows"]

SPARK_RUNS = 60  # runs in an HTML sparkline
MD_SPARK_RUNS = 30  # runs in a Markdown (unicode block) sparkline


def history_runs(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The runs, each with metrics as scenario -> {metric: value} mappings (anything else dropped)."""
    out = []
    for h in as_list(data.get("history")):
        if isinstance(h, Mapping):
            metrics = {as_text(k): v for k, v in as_map(h.get("metrics")).items() if isinstance(v, Mapping)}
            out.append({**h, "metrics": metrics})
    return out


def _series(history: Sequence[Mapping[str, Any]], scenario: str, metric: str) -> list[float | None]:
    return [as_float(as_map(as_map(h.get("metrics")).get(scenario)).get(metric)) for h in history]


def _names(load: Mapping[str, Any], by_key: Mapping[tuple[str, str], Mapping[str, Any]],
           history: Sequence[Mapping[str, Any]]) -> list[str]:
    """The scenarios of the table: the whole run first, then the flagged ones, then by name."""
    names: list[str] = []
    for n in [ALL, *as_map(load.get("scenarios")), *(k[0] for k in by_key)]:
        if n and n not in names and (n != ALL or load or (ALL, "p95_ms") in by_key):
            names.append(n)
    if not names and history:
        names = charts.order_scenarios(history[-1:])
    flagged = {k[0] for k, c in by_key.items() if c.get("outcome") in ("regression", "suspect")}
    names.sort(key=lambda n: (n != ALL, n not in flagged, n))
    return names


def _row(name: str, block: Mapping[str, Any], by_key: Mapping[tuple[str, str], Mapping[str, Any]],
         history: Sequence[Mapping[str, Any]], series: list[float | None], marks: list[int]) -> dict[str, Any]:
    p95 = as_map(by_key.get((name, "p95_ms")))
    latest = p95.get("value") if p95 else as_map(block.get("latency_ms")).get("p95")
    if latest is None and history:
        latest = as_map(as_map(history[-1].get("metrics")).get(name)).get("p95_ms")
    requests, errors = as_float(block.get("requests")), as_float(block.get("errors"))
    others = sorted(
        (OUTCOME_RANK.get(as_text(c.get("outcome")), 9), metric_label(m), as_text(c.get("outcome")))
        for (s, m), c in by_key.items()
        if s == name and m != "p95_ms" and c.get("outcome") in ("regression", "suspect", "improvement")
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
        "baseline": fmt_value("p95_ms", p95.get("baseline")),
        "baseline_value": as_float(p95.get("baseline")),
        "change": fmt_change(p95) if p95 else "–",
        "change_value": as_float(p95.get("change_percent")),
        "interval": fmt_interval(p95.get("ci"), p95.get("ci_unit")),
        "outcome": as_text(p95.get("outcome")) or ("–" if not p95 else "ok"),
        "others": [f"{label} {outcome}" for _, label, outcome in others],
        "spark": Markup(charts.sparkline_svg(series, marks)),
        "spark_md": unicode_spark(series[-MD_SPARK_RUNS:]),
    }


def scenario_rows(
    summary: Mapping[str, Any],
    comparison: Sequence[Mapping[str, Any]],
    history: Sequence[Mapping[str, Any]],
    change_points: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    load = as_map(summary.get("load"))
    per = as_map(load.get("scenarios"))
    by_key = {(as_text(c.get("scenario")), as_text(c.get("metric"))): c for c in comparison}
    recent = history[-SPARK_RUNS:]
    index = {as_text(h.get("run_id")): i for i, h in enumerate(recent)}
    rows = []
    for name in _names(load, by_key, history):
        marks = [
            index[as_text(c.get("run_id"))]
            for c in change_points
            if c.get("scenario") == name and as_text(c.get("run_id")) in index
            and as_text(c.get("metric")).startswith("p")
        ]
        block = load if name == ALL else as_map(per.get(name))
        rows.append(_row(name, block, by_key, history, _series(recent, name, "p95_ms"), marks))
    return rows


def history_view(summary: Mapping[str, Any], comparison: Sequence[Mapping[str, Any]],
                 history: Sequence[Mapping[str, Any]], change_points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "scenarios": scenario_rows(summary, comparison, history, change_points),
        "history_n": len(history),
        "history_first": fmt_time(history[0].get("started_at")) if history else "",
        "history_last": fmt_time(history[-1].get("started_at")) if history else "",
    }
