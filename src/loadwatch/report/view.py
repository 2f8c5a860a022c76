"""The regression report: one self-contained HTML file and a short Markdown twin, from the same view.

`build_view` turns the loosely-shaped report input (summary.json + history + this run's series; any part may be
missing) into plain, already-formatted values; the templates only lay them out. Templates ship as package data
(`loadwatch.templates`), so a non-editable install finds them from any directory. HTML is autoescaped; the only
markup passed through unescaped is the SVG that matplotlib and `charts.sparkline_svg` generate. Markdown output
is escaped by the environment's `finalize`, so a hostile name cannot open a tag, a link or a table cell."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from loadwatch.pipeline.compare import machine_busy
from loadwatch.report import charts
from loadwatch.report.charts import ALL, as_float, parse_time
from loadwatch.report.open_changes import open_changes_view

__all__ = ["build_view", "render_html", "render_markdown", "scenario_table", "write_report"]

SPARK_RUNS = 60  # runs in an HTML sparkline
MD_SPARK_RUNS = 30  # runs in a Markdown (unicode block) sparkline
MAX_INCIDENTS_HTML = 20
MAX_INCIDENTS_MD = 5
MIN_HISTORY = 10  # the gate's default minimum of comparable runs (stats.GateConfig.min_history)

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
VERDICTS = {
    "pass": ("PASS", "pass"),
    "regression": ("REGRESSION", "bad"),
    "threshold_breach": ("THRESHOLD BREACHED", "bad"),
    "insufficient_history": ("NOT ENOUGH HISTORY YET", "info"),
    "inconclusive": ("INCONCLUSIVE", "dark"),
    "failed": ("RUN FAILED", "dark"),
    "aborted": ("RUN ABORTED", "dark"),
}
OUTCOME_RANK = {"regression": 0, "suspect": 1, "improvement": 2, "insufficient_history": 3, "ok": 4}
_SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


# --- small, total helpers: every one accepts junk and returns something printable ---------------------------


def _map(x: Any) -> Mapping[str, Any]:
    return x if isinstance(x, Mapping) else {}


def _list(x: Any) -> list[Any]:
    return list(x) if isinstance(x, Sequence) and not isinstance(x, str | bytes) else []


def _text(x: Any) -> str:
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
    noise = _map(row.get("noise"))
    if "cv_percent" in noise:
        return (f"moves ±{fmt_num(noise.get('cv_percent'), 2)}% night to night; effects below "
                f"{fmt_num(noise.get('min_detectable_percent'), 2)}% cannot be seen")
    if "sd_points" in noise:
        return (f"moves ±{fmt_num(noise.get('sd_points'), 2)} pts night to night; effects below "
                f"{fmt_num(noise.get('min_detectable_points'), 2)} pts cannot be seen")
    return ""


def fmt_interval(ci: Any, unit: Any = "percent") -> str:
    """A 99% interval of the change: "+2.1 to +9.8%" (ratio) or "+0.2 to +1.1 pts" (error-rate points)."""
    c = _list(ci)
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
        return _text(x) or "–"
    zone = " UTC" if t.utcoffset() is not None and not t.utcoffset() else ""
    return t.strftime("%Y-%m-%d %H:%M") + zone


def fmt_p(v: Any) -> str:
    f = as_float(v)
    if f is None:
        return "–"
    return "< 0.0001" if f < 1e-4 else f"{f:.4f}"


def metric_label(metric: Any) -> str:
    m = _text(metric)
    return METRIC_LABELS.get(m, m)


def scenario_label(name: Any) -> str:
    return "all scenarios" if name == ALL else _text(name)


def unicode_spark(values: Sequence[float | None]) -> str:
    vals = [v for v in values if v is not None]
    if len(vals) < 2:
        return ""
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    return "".join(" " if v is None else _SPARK_BLOCKS[min(7, int((v - lo) / span * 8))] for v in values)


# --- the view: everything the templates show, computed once ---------------------------------------------------


def _finding(row: Mapping[str, Any], first_bad: Mapping[tuple[str, str], str], run_id: str) -> dict[str, Any]:
    scenario, metric = _text(row.get("scenario")), _text(row.get("metric"))
    checks = _map(row.get("checks"))
    ids = [_text(i) for i in _list(row.get("baseline_run_ids"))]
    return {
        "scenario": scenario,
        "scenario_label": scenario_label(scenario),
        "metric": metric,
        "metric_label": metric_label(metric),
        "outcome": _text(row.get("outcome")) or "ok",
        "latest": fmt_value(metric, row.get("value")),
        "baseline": fmt_value(metric, row.get("baseline")),
        "n_baseline": row.get("n_baseline") if isinstance(row.get("n_baseline"), int) else len(ids),
        "baseline_span": f"{ids[0]} … {ids[-1]}" if len(ids) > 1 else (ids[0] if ids else ""),
        "change": fmt_change(row),
        "change_value": as_float(row.get("change", row.get("change_percent"))),
        "interval": fmt_interval(row.get("ci"), row.get("ci_unit")),
        "noise": fmt_noise(row),
        "noisy": bool(_map(row.get("noise")).get("noisy")),
        "z": fmt_num(row.get("robust_z"), 2) if as_float(row.get("robust_z")) is not None else "–",
        "checks": [
            (name, "yes" if checks.get(key) is True else "no" if checks.get(key) is False else "n/a")
            for key, name in (("z", "z ≥ 4"), ("floor", "above floor"), ("ci", "interval excludes 0"))
        ],
        "first_bad": first_bad.get((scenario, metric), run_id),
    }


def _change(cp: Mapping[str, Any]) -> dict[str, Any]:
    metric = _text(cp.get("metric"))

    def ms(mean: Any, std: Any) -> str:
        s = as_float(std)
        return fmt_value(metric, mean) + (f" ± {fmt_num(s, 2)}" if s else "")

    return {
        "scenario": _text(cp.get("scenario")),
        "scenario_label": scenario_label(cp.get("scenario")),
        "metric_label": metric_label(metric),
        "direction": _text(cp.get("direction")) or "change",
        "state": _text(cp.get("state")) or "pending",
        "change": fmt_pct(cp.get("forward_change_percent")),
        "before": ms(cp.get("mean_before"), cp.get("std_before")),
        "after": ms(cp.get("mean_after"), cp.get("std_after")),
        "p": fmt_p(cp.get("p_value")),
        "runs_after": cp.get("runs_after") if isinstance(cp.get("runs_after"), int) else None,
        "size": abs(as_float(cp.get("forward_change_percent")) or 0.0),
    }


def _incidents(data: Mapping[str, Any], change_points: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    raw = [_map(i) for i in _list(data.get("incidents")) if isinstance(i, Mapping)]
    if not raw and change_points:
        groups: dict[str, dict[str, Any]] = {}
        for cp in change_points:
            g = groups.setdefault(
                _text(cp.get("run_id")), {"run_id": cp.get("run_id"), "time": cp.get("time"), "changes": []}
            )
            g["changes"].append(cp)
        raw = list(groups.values())
    out = []
    for inc in raw:
        changes = sorted(
            (_change(_map(c)) for c in _list(inc.get("changes")) if isinstance(c, Mapping)),
            key=lambda c: (c["direction"] != "regression", -c["size"]),
        )
        if not changes:
            continue
        out.append(
            {
                "run_id": _text(inc.get("run_id")),
                "time": fmt_time(inc.get("time")),
                "sort": parse_time(inc.get("time")),
                "changes": changes,
                "regressions": sum(1 for c in changes if c["direction"] == "regression"),
                "state": "confirmed" if any(c["state"] == "confirmed" for c in changes) else "pending",
            }
        )
    # newest first: the morning reader wants what changed last night on top
    out.sort(key=lambda i: (i["sort"], i["run_id"]), reverse=True)
    return out


def _threshold(t: Mapping[str, Any]) -> dict[str, Any]:
    unit = _text(t.get("unit"))
    metric = _text(t.get("metric"))

    def show(v: Any) -> str:
        f = as_float(v)
        if f is None:
            return "–"
        return fmt_num(f) + (f" {unit}" if unit and unit != "%" else unit)

    return {
        "expr": _text(t.get("expr")) + (" (default)" if t.get("default") else ""),
        "scenario_label": scenario_label(t.get("scenario") or ALL),
        "metric_label": metric_label(metric),
        "value": show(t.get("value")),
        "limit": show(t.get("limit")),
        "passed": bool(t.get("passed")),
    }


def _history_series(history: Sequence[Mapping[str, Any]], scenario: str, metric: str) -> list[float | None]:
    return [as_float(_map(_map(h.get("metrics")).get(scenario)).get(metric)) for h in history]


def _scenario_rows(
    summary: Mapping[str, Any],
    comparison: list[Mapping[str, Any]],
    history: Sequence[Mapping[str, Any]],
    change_points: list[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    load = _map(summary.get("load"))
    per = _map(load.get("scenarios"))
    by_key = {(_text(c.get("scenario")), _text(c.get("metric"))): c for c in comparison}
    names: list[str] = []
    for n in [ALL, *per, *(k[0] for k in by_key)]:
        if n and n not in names and (n != ALL or load or (ALL, "p95_ms") in by_key):
            names.append(n)
    if not names and history:
        names = charts.order_scenarios(history[-1:])
    flagged = {k[0] for k, c in by_key.items() if c.get("outcome") in ("regression", "suspect")}
    names.sort(key=lambda n: (n != ALL, n not in flagged, n))
    recent = history[-SPARK_RUNS:]
    index = {_text(h.get("run_id")): i for i, h in enumerate(recent)}
    rows = []
    for name in names:
        block = load if name == ALL else _map(per.get(name))
        p95 = _map(by_key.get((name, "p95_ms")))
        latest = p95.get("value") if p95 else _map(block.get("latency_ms")).get("p95")
        if latest is None and history:
            latest = _map(_map(history[-1].get("metrics")).get(name)).get("p95_ms")
        requests, errors = as_float(block.get("requests")), as_float(block.get("errors"))
        others = sorted(
            (OUTCOME_RANK.get(_text(c.get("outcome")), 9), metric_label(m), _text(c.get("outcome")))
            for (s, m), c in by_key.items()
            if s == name and m != "p95_ms" and c.get("outcome") in ("regression", "suspect", "improvement")
        )
        marks = [
            index[_text(c.get("run_id"))]
            for c in change_points
            if c.get("scenario") == name and _text(c.get("run_id")) in index and _text(c.get("metric")).startswith("p")
        ]
        series = _history_series(recent, name, "p95_ms")
        rows.append(
            {
                "name": name,
                "label": scenario_label(name),
                "requests": fmt_num(requests) if requests is not None else "–",
                "errors": fmt_num(errors) if errors is not None else "–",
                "error_rate": fmt_pct(100 * errors / requests, signed=False)
                if requests and errors is not None
                else "–",
                "rps": fmt_num(block.get("rps")),
                "latest": fmt_value("p95_ms", latest, "no answers" if requests else "–"),
                "latest_value": as_float(latest),
                "baseline": fmt_value("p95_ms", p95.get("baseline")),
                "baseline_value": as_float(p95.get("baseline")),
                "change": fmt_change(p95) if p95 else "–",
                "change_value": as_float(p95.get("change_percent")),
                "interval": fmt_interval(p95.get("ci"), p95.get("ci_unit")),
                "outcome": _text(p95.get("outcome")) or ("–" if not p95 else "ok"),
                "others": [f"{label} {outcome}" for _, label, outcome in others],
                "spark": Markup(charts.sparkline_svg(series, marks)),
                "spark_md": unicode_spark(series[-MD_SPARK_RUNS:]),
            }
        )
    return rows


def _errors(load: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    sources = [(ALL, _map(load.get("errors_by_kind")))]
    sources += [(_text(n), _map(_map(b).get("errors_by_kind"))) for n, b in _map(load.get("scenarios")).items()]
    for scenario, kinds in sources:
        for kind, info in kinds.items():
            info = info if isinstance(info, Mapping) else {"count": info}
            rows.append(
                {
                    "scenario_label": scenario_label(scenario),
                    "kind": _text(kind),
                    "count": fmt_num(info.get("count")),
                    "n": as_float(info.get("count")) or 0,
                    "sample": _text(info.get("sample"))[:300],
                }
            )
    rows.sort(key=lambda r: (r["scenario_label"] != "all scenarios", -r["n"]))
    return rows[:40]


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
        cpu, rss = _map(r.get("cpu_percent")), _map(r.get("rss_mb"))
        rows.append(
            {
                "group": _text(group),
                "samples": fmt_num(r.get("samples")),
                "cpu": f"{fmt_num(cpu.get('avg'))} / {fmt_num(cpu.get('max'))}",
                "rss": f"{fmt_num(rss.get('avg'))} / {fmt_num(rss.get('max'))}",
            }
        )
    return rows


def _flat(m: Mapping[str, Any], prefix: str = "", limit: int = 60) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in m.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.extend(_flat(v, key + ".", limit))
        elif isinstance(v, list | tuple):
            out.append((key, ", ".join(_text(x) for x in v)[:200]))
        else:
            out.append((key, _text(v)[:200] if not isinstance(v, float) else fmt_num(v)))
        if len(out) >= limit:
            break
    return out[:limit]


def _profile(plan: Mapping[str, Any]) -> str:
    model = _text(plan.get("model"))
    parts = []
    if model == "open" and plan.get("rate") is not None:
        parts.append(f"open model, {fmt_num(plan.get('rate'))} req/s")
    elif model == "closed" and plan.get("users") is not None:
        parts.append(f"closed model, {fmt_num(plan.get('users'))} users")
    elif model:
        parts.append(f"{model} model")
    if plan.get("duration") is not None:
        parts.append(f"{fmt_num(plan.get('duration'))} s")
    if as_float(plan.get("warmup")):
        parts.append(f"warm-up {fmt_num(plan.get('warmup'))} s")
    n = len(_list(plan.get("scenarios")))
    if n:
        parts.append(f"{n} scenarios")
    return ", ".join(parts)


def _segments(text: str) -> list[tuple[bool, str]]:
    """(is code, text) parts of an explanation sentence: statements are quoted between backticks."""
    return [(i % 2 == 1, part) for i, part in enumerate(text.split("`")) if part]


def _md_keep_spaces(text: str) -> str:
    """md_escape, keeping the spaces at either end (they separate the text from a code span next to it)."""
    return (" " if text[:1].isspace() else "") + md_escape(text) + (" " if text[-1:].isspace() else "")


def _attribution(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The "why it regressed" section (loadwatch.pipeline.attribution): per regressed scenario its ranked candidates."""
    a = _map(summary.get("attribution"))
    explanations = []
    for e in (_map(x) for x in _list(a.get("explanations"))):
        cands = []
        for c in (_map(x) for x in _list(e.get("candidates"))):
            segs = _segments(_text(c.get("text")))
            md = "".join(md_code(t, limit=200) if code else _md_keep_spaces(t) for code, t in segs)
            cands.append({"rank": c.get("rank"), "kind": _text(c.get("kind")), "segments": segs, "md": MdRaw(md)})
        explanations.append({
            "scenario_label": scenario_label(e.get("scenario")),
            "metrics": ", ".join(metric_label(m) for m in _list(e.get("metrics"))),
            "candidates": cands,
            "nothing": _text(e.get("text")) if e.get("nothing_moved") else "",
        })
    if not explanations:
        return None
    return {"explanations": explanations, "missing": [_text(m) for m in _list(a.get("missing"))],
            "notes": [_text(n) for n in _list(a.get("notes"))]}


def _history(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The runs, each with metrics as scenario -> {metric: value} mappings (anything else dropped)."""
    out = []
    for h in _list(data.get("history")):
        if isinstance(h, Mapping):
            metrics = {_text(k): v for k, v in _map(h.get("metrics")).items() if isinstance(v, Mapping)}
            out.append({**h, "metrics": metrics})
    return out


def _draw_charts(pool: Executor | None, jobs: Mapping[str, tuple[Callable[..., str | None], tuple[Any, ...]]]
                 ) -> dict[str, str | None]:
    """Each chart's SVG; drawn in `pool` when given (the year-long report draws them in a worker process that
    imported matplotlib while the store was being read), else here. A worker that fails costs nothing but
    time: that chart is drawn here instead."""
    if pool is None:
        return {k: fn(*args) for k, (fn, args) in jobs.items()}
    futures = {k: pool.submit(fn, *args) for k, (fn, args) in jobs.items()}
    out: dict[str, str | None] = {}
    for k, fut in futures.items():
        try:
            out[k] = fut.result()
        except Exception:  # BrokenProcessPool, pickling: draw it here
            fn, args = jobs[k]
            out[k] = fn(*args)
    return out


def build_view(data: Mapping[str, Any], pool: Executor | None = None) -> dict[str, Any]:
    """Everything both templates show, formatted. Never raises on a missing or odd-shaped part."""
    data = _map(data)
    summary = _map(data.get("summary"))
    load = _map(summary.get("load"))
    plan = _map(summary.get("plan"))
    history = _history(data)
    comparison = [_map(c) for c in _list(summary.get("comparison")) if isinstance(c, Mapping)]
    change_points = [_map(c) for c in _list(summary.get("change_points")) if isinstance(c, Mapping)]
    thresholds = [_threshold(_map(t)) for t in _list(summary.get("thresholds")) if isinstance(t, Mapping)]
    run_id = _text(summary.get("run_id")) or (_text(history[-1].get("run_id")) if history else "")
    verdict = _text(summary.get("verdict")) or "unknown"
    label, css = VERDICTS.get(verdict, (verdict.upper().replace("_", " "), "dark"))

    # the first bad run of a series: its regression change point when one was found, else this run
    first_bad: dict[tuple[str, str], str] = {}
    for cp in change_points:
        if cp.get("direction") == "regression":
            first_bad[(_text(cp.get("scenario")), _text(cp.get("metric")))] = _text(cp.get("run_id"))
    findings = [_finding(c, first_bad, run_id) for c in comparison if c.get("outcome") in ("regression", "suspect")]
    findings.sort(key=lambda f: (OUTCOME_RANK.get(f["outcome"], 9), -abs(f["change_value"] or 0.0)))
    improvements = [_finding(c, {}, run_id) for c in comparison if c.get("outcome") == "improvement"]
    counts: dict[str, int] = {}
    for c in comparison:
        o = _text(c.get("outcome")) or "ok"
        counts[o] = counts.get(o, 0) + 1
    n_baseline = max([int(c["n_baseline"]) for c in comparison if isinstance(c.get("n_baseline"), int)] or [0])
    baseline_ids = [_text(i) for i in _list(summary.get("baseline_run_ids"))]
    incidents = _incidents(data, change_points)
    breaches = [t for t in thresholds if not t["passed"]]
    flagged = [f["scenario"] for f in findings]
    scenario_rows = _scenario_rows(summary, comparison, history, change_points)

    trend_scenarios = charts.order_scenarios(
        history, flagged + [c["scenario"] for i in incidents for c in i["changes"]]
    )
    chart_svgs = _draw_charts(pool, {
        "trend": (charts.trend_chart, (history, change_points, trend_scenarios)),
        "throughput": (charts.throughput_chart, (history, change_points)),
        "timeline": (charts.run_timeline_chart, (
            [_map(r) for r in _list(data.get("timeline"))], [_map(s) for s in _list(data.get("resource_samples"))]
        )),
        "spectrum": (charts.spectrum_chart, (_map(data.get("spectrum")),)),
        "capacity": (charts.capacity_chart, (_map(summary.get("capacity")),)),
    })
    mode = _text(data.get("mode")) or "run"
    first_run = mode == "run" and len(history) <= 1 and not any(c.get("n_baseline") for c in comparison)
    started = parse_time(summary.get("started_at"))
    finished = parse_time(summary.get("finished_at"))
    duration = (
        (finished - started).total_seconds()
        if started and finished and ((started.tzinfo is None) == (finished.tzinfo is None))
        else None
    )
    lat = _map(load.get("latency_ms"))
    at_least = {_text(k) for k in _list(load.get("latency_at_least"))}
    return {
        "mode": mode,
        "run_id": run_id,
        "plan_name": _text(plan.get("name")) or "load plan",
        "plan_hash": _text(plan.get("hash"))[:12],
        "target_url": _text(plan.get("target_url")),
        "profile": _profile(plan),
        "started": fmt_time(summary.get("started_at")) if summary.get("started_at") else "",
        "duration": fmt_num(duration) if duration is not None else "",
        "trigger": _text(summary.get("trigger")),
        "verdict": verdict,
        "verdict_label": label,
        "verdict_class": css,
        "reasons": [_text(r) for r in _list(summary.get("verdict_reasons"))],
        "warnings": [_text(w) for w in _list(summary.get("warnings"))],
        "generator_bound": bool(load.get("generator_bound")),
        "machine_busy": _text(machine_busy(summary)),
        "generator_reasons": [_text(r) for r in _list(_map(load.get("generator")).get("reasons"))],
        "dropped": fmt_num(load.get("dropped")) if as_float(load.get("dropped")) else "",
        "censored": fmt_num(load.get("censored")) if as_float(load.get("censored")) else "",
        "clamped": fmt_num(load.get("clamped")) if as_float(load.get("clamped")) else "",
        "protocol_errors": fmt_num(load.get("protocol_errors")) if as_float(load.get("protocol_errors")) else "",
        "protocol_error_sample": _text(load.get("protocol_error_sample")),
        "late_target": fmt_num(load.get("late_target")) if as_float(load.get("late_target")) else "",
        "late": fmt_num(load.get("late")) if as_float(load.get("late")) else "",
        "totals": {
            "requests": fmt_num(load.get("requests")),
            "errors": fmt_num(load.get("errors")),
            "rps": fmt_num(load.get("rps")),
            **{k: ("≥ " if k in at_least else "") + fmt_value(f"{k}_ms", lat.get(k), "no answers")
               for k in ("p50", "p95", "p99", "max")},
        }
        if load
        else None,
        "baseline": {
            "n": len(baseline_ids) or n_baseline,
            "first": baseline_ids[0] if baseline_ids else "",
            "last": baseline_ids[-1] if baseline_ids else "",
            "needed": MIN_HISTORY,
        },
        "counts": counts,
        "noisy_series": sum(1 for c in comparison if _map(c.get("noise")).get("noisy")),
        "gated": len(comparison),
        "first_run": first_run,
        "findings": findings,
        "improvements": improvements,
        "incidents": incidents[:MAX_INCIDENTS_HTML],
        "incidents_hidden": max(0, len(incidents) - MAX_INCIDENTS_HTML),
        "incidents_md": incidents[:MAX_INCIDENTS_MD],
        "incidents_md_hidden": max(0, len(incidents) - MAX_INCIDENTS_MD),
        "breaches": breaches,
        "thresholds": thresholds,
        "scenarios": scenario_rows,
        "charts": {k: Markup(v) if v else None for k, v in chart_svgs.items()},
        "history_n": len(history),
        "history_first": fmt_time(history[0].get("started_at")) if history else "",
        "history_last": fmt_time(history[-1].get("started_at")) if history else "",
        "errors": _errors(load),
        "resources": _resources(_map(summary.get("resources"))),
        "target_delta": _flat(_map(_map(summary.get("target_stats")).get("delta"))),
        "environment": _flat(_map(summary.get("environment"))),
        "score": _map(summary.get("score")),
        "has_timeline": bool(_list(data.get("timeline"))),
        "attribution": _attribution(summary),
        "capacity": _capacity(_map(summary.get("capacity"))),
        "open_changes": open_changes_view(summary.get("open_changes")),
    }


def _capacity(c: Mapping[str, Any]) -> dict[str, Any] | None:
    """The capacity stage's answer, formatted; None when the run had no capacity stage."""
    if not c:
        return None
    bracket = [*_list(c.get("bracket")), None, None]
    return {
        "value": fmt_value("capacity_rps", c.get("capacity_rps")),
        "found": as_float(c.get("capacity_rps")) is not None,
        "last_good": fmt_value("capacity_rps", bracket[0]),
        "first_bad": fmt_value("capacity_rps", bracket[1]),
        "width": fmt_pct(c.get("bracket_width_percent")),
        "binding_slo": _text(c.get("binding_slo")),
        "outcome": _text(c.get("outcome")).replace("_", " "),
        "reason": _text(c.get("reason")),
        "slos": [_text(x) for x in _list(c.get("slos"))],
        "steps": len(_list(c.get("steps"))),
        "elapsed": fmt_num(c.get("elapsed_s")),
        "budget": fmt_num(c.get("budget_s")),
    }


# --- rendering --------------------------------------------------------------------------------------------------


class MdRaw(str):
    """Markdown the template built on purpose (a code span): `finalize` leaves it alone."""


_MD_SPECIAL = re.compile(r"[\\`*\[\]<>|~@!#]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|&")
_MD_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def md_escape(value: Any) -> str:
    """Inline Markdown text that cannot open a tag, link, table cell, emphasis or mention; one line."""
    if isinstance(value, MdRaw):
        return str(value)
    text = " ".join(_text(value).split())
    return _MD_SPECIAL.sub(lambda m: _MD_ENTITIES.get(m.group(0), "\\" + m.group(0)), text)


def md_code(value: Any, limit: int = 120) -> MdRaw:
    """A code span: literal text (no autolinks, no HTML); backticks and newlines cannot end it, pipes are escaped."""
    text = " ".join(_text(value).split())[:limit].replace("`", "'").replace("|", "\\|")
    return MdRaw(f"`{text}`") if text else MdRaw("")


@functools.lru_cache(maxsize=2)
def _env(kind: str) -> jinja2.Environment:
    loader = jinja2.PackageLoader("loadwatch.templates", ".")
    if kind == "html":
        env = jinja2.Environment(
            loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined
        )
    else:
        env = jinja2.Environment(
            loader=loader,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
            finalize=md_escape,
        )
        env.filters["code"] = md_code
    return env


def render_html(data: Mapping[str, Any]) -> str:
    return _env("html").get_template("report.html.j2").render(v=build_view(data))


def render_markdown(data: Mapping[str, Any], *, view: Mapping[str, Any] | None = None) -> str:
    text = _env("md").get_template("report.md.j2").render(v=view if view is not None else build_view(data))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write_report(data: Mapping[str, Any], out_dir: Path, pool: Executor | None = None) -> dict[str, Path]:
    """report.html and report.md in `out_dir` (created); the caller writes summary.json. `pool`: processes to
    draw the charts in (see _draw_charts)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    view = build_view(data, pool)
    html = _env("html").get_template("report.html.j2").render(v=view)
    return {
        "html": _write(out_dir / "report.html", html),
        "md": _write(out_dir / "report.md", render_markdown(data, view=view)),
    }


def scenario_table(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows for the Prefect table artifact: scenario, latest p95, baseline median, change %, interval, outcome."""
    view = _map(data)
    summary = _map(view.get("summary"))
    comparison = [_map(c) for c in _list(summary.get("comparison")) if isinstance(c, Mapping)]
    history = _history(view)
    rows = _scenario_rows(summary, comparison, history, [])

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
