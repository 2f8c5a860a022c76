"""The report's formatting: numbers, percentages, changes, intervals, times and labels as the report prints them.
Every function accepts junk and returns something printable ("–" for a missing value)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from loadwatch.report.charts import ALL, as_float, parse_time

__all__ = [
    "METRIC_LABELS",
    "as_list",
    "as_map",
    "as_text",
    "fmt_change",
    "fmt_interval",
    "fmt_noise",
    "fmt_num",
    "fmt_p",
    "fmt_pct",
    "fmt_time",
    "fmt_value",
    "metric_label",
    "scenario_label",
    "unicode_spark",
]

METRIC_LABELS = {
    "p50_ms": "p50",
    "p95_ms": "p95",
    "p99_ms": "p99",
    "rps": "throughput",
    "error_rate": "error rate",
    "cpu_percent": "target CPU",
    "rss_mb": "target RSS",
    "capacity_rps": "capacity",
}
_SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


def as_map(x: Any) -> Mapping[str, Any]:
    return x if isinstance(x, Mapping) else {}


def as_list(x: Any) -> list[Any]:
    return list(x) if isinstance(x, Sequence) and not isinstance(x, str | bytes) else []


def as_text(x: Any) -> str:
    return "" if x is None else str(x)


def fmt_num(v: Any, digits: int = 3) -> str:
    """A number with about `digits` significant digits, thousands separated; "–" when missing."""
    f = as_float(v)
    if f is None:
        return "–"
    a = abs(f)
    if a >= 10**digits or (f == int(f) and a >= 1):
        return f"{f:,.0f}"
    if a == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(a)))
    return f"{f:,.{min(decimals, 6)}f}"


def fmt_pct(v: Any, signed: bool = True) -> str:
    f = as_float(v)
    if f is None:
        return "–"
    return f"{f:+.1f}%" if signed else f"{f:.1f}%"


def fmt_value(metric: str, v: Any, missing: str = "–") -> str:
    """`missing` is what an absent value means here: "no answers" for a latency of a run with requests."""
    f = as_float(v)
    if f is None:
        return missing
    if metric.endswith("_ms"):
        return f"{fmt_num(f)} ms"
    if metric in ("rps", "capacity_rps"):
        return f"{fmt_num(f)} req/s"
    if metric in ("error_rate", "cpu_percent"):
        return f"{fmt_num(f)}%"
    if metric == "rss_mb":
        return f"{fmt_num(f)} MB"
    return fmt_num(f)


def fmt_change(row: Mapping[str, Any]) -> str:
    """A row's change in its own unit: "+41.7%" for ratios, "+17.2 pts" for the error rate."""
    unit = row.get("change_unit") or ("points" if row.get("metric") == "error_rate" else "percent")
    f = as_float(row.get("change", row.get("change_percent")))
    if f is None:
        return "–"
    return f"{f:+.1f} pts" if unit == "points" else f"{f:+.1f}%"


def fmt_noise(row: Mapping[str, Any]) -> str:
    """"moves ±X % night to night; effects below Y % cannot be seen" — a description, never an outcome."""
    noise = as_map(row.get("noise"))
    if "cv_percent" in noise:
        return (f"moves ±{fmt_num(noise.get('cv_percent'), 2)}% night to night; effects below "
                f"{fmt_num(noise.get('min_detectable_percent'), 2)}% cannot be seen")
    if "sd_points" in noise:
        return (f"moves ±{fmt_num(noise.get('sd_points'), 2)} pts night to night; effects below "
                f"{fmt_num(noise.get('min_detectable_points'), 2)} pts cannot be seen")
    return ""


def fmt_interval(ci: Any, unit: Any = "percent") -> str:
    """A 99% interval of the change: "+2.1 to +9.8%" (ratio) or "+0.2 to +1.1 pts" (error-rate points)."""
    c = as_list(ci)
    if len(c) != 2:
        return "–"
    lo, hi = as_float(c[0]), as_float(c[1])
    if lo is None or hi is None:
        return "–"
    suffix = " pts" if unit == "points" else "%"
    return f"{lo:+.1f} to {hi:+.1f}{suffix}"


def fmt_time(x: Any) -> str:
    t = parse_time(x)
    if t is None:
        return as_text(x) or "–"
    zone = " UTC" if t.utcoffset() is not None and not t.utcoffset() else ""
    return t.strftime("%Y-%m-%d %H:%M") + zone


def fmt_p(v: Any) -> str:
    f = as_float(v)
    if f is None:
        return "–"
    return "< 0.0001" if f < 1e-4 else f"{f:.4f}"


def metric_label(metric: Any) -> str:
    m = as_text(metric)
    return METRIC_LABELS.get(m, m)


def scenario_label(name: Any) -> str:
    return "all scenarios" if name == ALL else as_text(name)


def unicode_spark(values: Sequence[float | None]) -> str:
    vals = [v for v in values if v is not None]
    if len(vals) < 2:
        return ""
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    return "".join(" " if v is None else _SPARK_BLOCKS[min(7, int((v - lo) / span * 8))] for v in values)


# --- the view: everything the templates show, computed once ---------------------------------------------------
