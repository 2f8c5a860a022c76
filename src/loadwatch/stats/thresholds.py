"""k6-style thresholds from the plan, checked against a run's `load` summary.

    [SCENARIO:] METRIC OP NUMBER[UNIT]        e.g. "p95 < 50ms", "get_tool: p99.9 < 200ms", "error_rate < 1%"
    METRIC{scenario:SCENARIO} OP NUMBER[UNIT] e.g. "p95{scenario:get_tool} < 20ms" (k6 tag form)

METRIC: mean|avg, p50|med, p90, p95, p99, p99.9|p999, max, also k6's p(95); prefixed with `service_`
for service time (actual send -> response) instead of latency from the intended start; error_rate (percent),
rps, requests, errors, dropped, late. OP: < <= > >= == !=. Units: ms (default), s, us/µs for times; % (default)
for error_rate; /s for rps. An unknown metric, unit or scenario is InvalidInput, never a silent pass."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadwatch.errors import InvalidInput

__all__ = ["ALLOWED", "Threshold", "evaluate_thresholds", "parse_threshold"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_TIME_KEYS = {
    "mean": "mean",
    "avg": "mean",
    "p50": "p50",
    "med": "p50",
    "median": "p50",
    "p90": "p90",
    "p95": "p95",
    "p99": "p99",
    "p99.9": "p999",
    "p999": "p999",
    "max": "max",
}
_COUNTS = ("requests", "errors", "dropped", "late")
_TIME_UNITS = {"ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001}
ALLOWED = (
    "METRIC OP NUMBER[UNIT] with an optional 'SCENARIO:' prefix or '{scenario:NAME}' tag; METRIC one of "
    "mean, p50, p90, p95, p99, p99.9, max (or p(N), service_ prefix for service time), error_rate, rps, "
    "requests, errors, dropped, late; OP one of < <= > >= == !=; units ms, s, us for times, % for error_rate"
)

_RE = re.compile(
    r"""^\s*
    (?:(?P<prefix>[A-Za-z0-9_.\-/*]+)\s*:(?!\s*[=<>!]))?\s*     # optional "scenario:" prefix
    (?P<metric>[A-Za-z_][A-Za-z0-9_]*(?:\(\s*[0-9.]+\s*\))?(?:\.[0-9]+)?)
    (?:\{\s*scenario\s*:\s*(?P<tag>[^}]+?)\s*\})?\s*
    (?P<op><=|>=|==|!=|<|>)\s*
    (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*
    (?P<unit>ms|s|us|µs|%|/s|rps)?\s*$""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Threshold:
    """One parsed threshold: scenario ("*" = whole run), canonical metric, operator and limit in canonical units
    (milliseconds, percent, requests per second, counts)."""

    expr: str
    scenario: str
    metric: str
    op: str
    limit: float
    unit: str

    def passes(self, value: float) -> bool:
        return _OPS[self.op](value, self.limit)


def _canonical(metric: str, expr: str, source: str) -> tuple[str, str]:
    """(canonical metric name, kind) for a metric as written."""
    m = metric.lower().replace(" ", "")
    service = m.startswith("service_")
    base = m[len("service_") :] if service else m
    k6 = re.fullmatch(r"p\(([0-9.]+)\)", base)
    if k6:
        num = k6.group(1).rstrip("0").rstrip(".") if "." in k6.group(1) else k6.group(1)
        base = f"p{num}"
    if base in _TIME_KEYS:
        return ("service_" if service else "") + _TIME_KEYS[base], "time"
    if not service and base == "error_rate":
        return "error_rate", "percent"
    if not service and base == "rps":
        return "rps", "rate"
    if not service and base in _COUNTS:
        return base, "count"
    raise InvalidInput(f"unknown metric {metric!r} in {expr!r}; allowed: {ALLOWED}", source=source, field="thresholds")


def parse_threshold(expr: str, *, source: str = "plan") -> Threshold:
    """Parse one threshold expression; InvalidInput names the expression and what is allowed."""
    if not isinstance(expr, str) or not expr.strip():
        raise InvalidInput(f"empty threshold; allowed: {ALLOWED}", source=source, field="thresholds")
    m = _RE.match(expr)
    if not m:
        raise InvalidInput(f"cannot parse threshold {expr!r}; allowed: {ALLOWED}", source=source, field="thresholds")
    prefix, tag = m.group("prefix"), m.group("tag")
    if prefix and tag and prefix != tag:
        raise InvalidInput(f"two different scenarios in {expr!r}", source=source, field="thresholds")
    scenario = (prefix or tag or "*").strip()
    metric, kind = _canonical(m.group("metric"), expr, source)
    limit = float(m.group("num"))
    unit = m.group("unit") or ""
    if not math.isfinite(limit):
        raise InvalidInput(f"limit must be a finite number in {expr!r}", source=source, field="thresholds")
    if kind == "time":
        if unit not in ("", *_TIME_UNITS):
            raise InvalidInput(
                f"unit {unit!r} is not a time unit (ms, s, us) in {expr!r}", source=source, field="thresholds"
            )
        limit *= _TIME_UNITS.get(unit or "ms", 1.0)
        unit = "ms"
    elif kind == "percent":
        if unit not in ("", "%"):
            raise InvalidInput(
                f"error_rate takes a percentage (e.g. 1%) in {expr!r}", source=source, field="thresholds"
            )
        unit = "%"
    elif kind == "rate":
        if unit not in ("", "/s", "rps"):
            raise InvalidInput(
                f"rps takes requests per second (e.g. 10 or 10/s) in {expr!r}", source=source, field="thresholds"
            )
        unit = "/s"
    elif unit:
        raise InvalidInput(f"{metric} is a count and takes no unit in {expr!r}", source=source, field="thresholds")
    return Threshold(expr=expr, scenario=scenario, metric=metric, op=m.group("op"), limit=limit, unit=unit)


def _value(t: Threshold, block: Mapping[str, Any], source: str) -> float | None:
    """The measured value, or None when there is nothing to measure (no answers for a latency, no requests for
    an error rate): a threshold on no data is breached, never passed (docs/METHOD.md §5)."""

    def num(x: Any) -> float:
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(float(x)):
            raise InvalidInput(
                f"{t.metric} is not available for scenario {t.scenario!r} in this run ({t.expr!r})",
                source=source,
                field="thresholds",
            )
        return float(x)

    if t.metric == "error_rate":
        requests = num(block.get("requests"))
        return 100.0 * num(block.get("errors", 0)) / requests if requests > 0 else None
    if t.metric in ("rps", *_COUNTS):
        return num(block.get(t.metric))
    group, key = (
        ("service_time_ms", t.metric[len("service_") :])
        if t.metric.startswith("service_")
        else ("latency_ms", t.metric)
    )
    stats = block.get(group)
    if isinstance(stats, Mapping) and key in stats and stats[key] is None:
        return None  # the scenario had no successful answer: nothing to measure
    return num((stats or {}).get(key))


def evaluate_thresholds(exprs: Sequence[str], load: Mapping[str, Any], *, source: str = "plan") -> list[dict[str, Any]]:
    """Check every threshold against the run's `load` summary: one {expr, scenario, metric, value, limit, op, unit,
    passed} per expression. Parse errors, unknown metrics and unknown scenarios raise InvalidInput."""
    parsed = [parse_threshold(e, source=source) for e in exprs]
    scenarios = load.get("scenarios") or {}
    out: list[dict[str, Any]] = []
    for t in parsed:
        if t.scenario == "*":
            block: Mapping[str, Any] = load
        elif t.scenario in scenarios:
            block = scenarios[t.scenario]
        else:
            known = ", ".join(sorted(scenarios)) or "none"
            raise InvalidInput(
                f"unknown scenario {t.scenario!r} in threshold {t.expr!r}; scenarios in this run: {known}",
                source=source,
                field="thresholds",
            )
        value = _value(t, block, source)
        row = {
            "expr": t.expr,
            "scenario": t.scenario,
            "metric": t.metric,
            "op": t.op,
            "value": value,
            "limit": t.limit,
            "unit": t.unit,
            "passed": value is not None and t.passes(value),
        }
        if value is None:
            row["reason"] = "no requests to measure" if t.metric == "error_rate" else "no answers to measure"
        out.append(row)
    return out
