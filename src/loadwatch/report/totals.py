"""The report's totals of this run: requests, errors and latency of the whole run, the errors by kind, the
resources of each process group, the target's counters and the environment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadwatch.record import RunSummary
from loadwatch.report.charts import ALL, as_float
from loadwatch.report.format import as_list, as_map, as_text, fmt_num, fmt_value, scenario_label

__all__ = ["flat", "totals_view"]

MAX_ERROR_ROWS = 40


def _totals(summary: RunSummary) -> dict[str, str] | None:
    """Requests, errors, throughput and the latency percentiles; "≥" before a censored (at least) value. None
    when the run had no load (a failed preflight)."""
    if not summary.load:
        return None
    totals = summary.totals
    lat = totals.latency_ms
    at_least = {as_text(k) for k in as_list(summary.load.get("latency_at_least"))}
    return {
        "requests": fmt_num(totals.requests),
        "errors": fmt_num(totals.errors),
        "rps": fmt_num(totals.rps),
        **{k: ("≥ " if k in at_least else "") + fmt_value(f"{k}_ms", getattr(lat, k), "no answers")
           for k in ("p50", "p95", "p99", "max")},
    }


def _errors(load: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    sources = [(ALL, as_map(load.get("errors_by_kind")))]
    sources += [(as_text(n), as_map(as_map(b).get("errors_by_kind"))) for n, b in as_map(load.get("scenarios")).items()]
    for scenario, kinds in sources:
        for kind, info in kinds.items():
            info = info if isinstance(info, Mapping) else {"count": info}
            rows.append(
                {
                    "scenario_label": scenario_label(scenario),
                    "kind": as_text(kind),
                    "count": fmt_num(info.get("count")),
                    "n": as_float(info.get("count")) or 0,
                    "sample": as_text(info.get("sample"))[:300],
                }
            )
    rows.sort(key=lambda r: (r["scenario_label"] != "all scenarios", -r["n"]))
    return rows[:MAX_ERROR_ROWS]


def _resources(resources: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for group in (
        "target",
        "database",
        "generator",
        "host",
        *sorted(k for k in resources if k not in ("target", "database", "generator", "host")),
    ):
        r = resources.get(group)
        if not isinstance(r, Mapping):
            continue
        cpu, rss = as_map(r.get("cpu_percent")), as_map(r.get("rss_mb"))
        rows.append(
            {
                "group": as_text(group),
                "samples": fmt_num(r.get("samples")),
                "cpu": f"{fmt_num(cpu.get('avg'))} / {fmt_num(cpu.get('max'))}",
                "rss": f"{fmt_num(rss.get('avg'))} / {fmt_num(rss.get('max'))}",
            }
        )
    return rows


def flat(m: Mapping[str, Any], prefix: str = "", limit: int = 60) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in m.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.extend(flat(v, key + ".", limit))
        elif isinstance(v, list | tuple):
            out.append((key, ", ".join(as_text(x) for x in v)[:200]))
        else:
            out.append((key, as_text(v)[:200] if not isinstance(v, float) else fmt_num(v)))
        if len(out) >= limit:
            break
    return out[:limit]



def totals_view(summary: RunSummary) -> dict[str, Any]:
    """The totals, the errors by kind, and the blocks whose keys are data (process groups, the target's counters,
    the environment), flattened for a table."""
    return {
        "totals": _totals(summary),
        "errors": _errors(summary.load),
        "resources": _resources(summary.resources),
        "target_delta": flat(as_map(summary.target_stats.get("delta"))),
        "environment": flat(summary.environment),
        "score": summary.score,
    }
