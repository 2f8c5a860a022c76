"""The report's findings: what the same-night gate flagged (regressions, suspects, improvements) with their
evidence, the incidents of the history (change points grouped by the run they start at), the thresholds, and why a
regression happened (loadwatch.pipeline.attribution's ranked candidates)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loadwatch.report.charts import ALL, as_float, parse_time
from loadwatch.report.format import (
    as_list,
    as_map,
    as_text,
    fmt_change,
    fmt_interval,
    fmt_noise,
    fmt_num,
    fmt_p,
    fmt_pct,
    fmt_time,
    fmt_value,
    metric_label,
    scenario_label,
)
from loadwatch.report.markdown import MdRaw, md_code, md_keep_spaces, segments

__all__ = ["MAX_INCIDENTS_HTML", "MAX_INCIDENTS_MD", "MIN_HISTORY", "OUTCOME_RANK", "attribution_view",
           "findings_view", "incidents"]

MAX_INCIDENTS_HTML = 20
MAX_INCIDENTS_MD = 5
MIN_HISTORY = 10  # the gate's default minimum of comparable runs (stats.GateConfig.min_history)
OUTCOME_RANK = {"regression": 0, "suspect": 1, "improvement": 2, "insufficient_history": 3, "ok": 4}


def _finding(row: Mapping[str, Any], first_bad: Mapping[tuple[str, str], str], run_id: str) -> dict[str, Any]:
    scenario, metric = as_text(row.get("scenario")), as_text(row.get("metric"))
    checks = as_map(row.get("checks"))
    ids = [as_text(i) for i in as_list(row.get("baseline_run_ids"))]
    return {
        "scenario": scenario,
        "scenario_label": scenario_label(scenario),
        "metric": metric,
        "metric_label": metric_label(metric),
        "outcome": as_text(row.get("outcome")) or "ok",
        "latest": fmt_value(metric, row.get("value")),
        "baseline": fmt_value(metric, row.get("baseline")),
        "n_baseline": row.get("n_baseline") if isinstance(row.get("n_baseline"), int) else len(ids),
        "baseline_span": f"{ids[0]} … {ids[-1]}" if len(ids) > 1 else (ids[0] if ids else ""),
        "change": fmt_change(row),
        "change_value": as_float(row.get("change", row.get("change_percent"))),
        "interval": fmt_interval(row.get("ci"), row.get("ci_unit")),
        "noise": fmt_noise(row),
        "noisy": bool(as_map(row.get("noise")).get("noisy")),
        "z": fmt_num(row.get("robust_z"), 2) if as_float(row.get("robust_z")) is not None else "–",
        "checks": [
            (name, "yes" if checks.get(key) is True else "no" if checks.get(key) is False else "n/a")
            for key, name in (("z", "z ≥ 4"), ("floor", "above floor"), ("ci", "interval excludes 0"))
        ],
        "first_bad": first_bad.get((scenario, metric), run_id),
    }


def _change(cp: Mapping[str, Any]) -> dict[str, Any]:
    metric = as_text(cp.get("metric"))

    def ms(mean: Any, std: Any) -> str:
        s = as_float(std)
        return fmt_value(metric, mean) + (f" ± {fmt_num(s, 2)}" if s else "")

    return {
        "scenario": as_text(cp.get("scenario")),
        "scenario_label": scenario_label(cp.get("scenario")),
        "metric_label": metric_label(metric),
        "direction": as_text(cp.get("direction")) or "change",
        "state": as_text(cp.get("state")) or "pending",
        "change": fmt_pct(cp.get("forward_change_percent")),
        "before": ms(cp.get("mean_before"), cp.get("std_before")),
        "after": ms(cp.get("mean_after"), cp.get("std_after")),
        "p": fmt_p(cp.get("p_value")),
        "runs_after": cp.get("runs_after") if isinstance(cp.get("runs_after"), int) else None,
        "size": abs(as_float(cp.get("forward_change_percent")) or 0.0),
    }


def incidents(data: Mapping[str, Any], change_points: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    raw = [as_map(i) for i in as_list(data.get("incidents")) if isinstance(i, Mapping)]
    if not raw and change_points:
        groups: dict[str, dict[str, Any]] = {}
        for cp in change_points:
            g = groups.setdefault(
                as_text(cp.get("run_id")), {"run_id": cp.get("run_id"), "time": cp.get("time"), "changes": []}
            )
            g["changes"].append(cp)
        raw = list(groups.values())
    out = []
    for inc in raw:
        changes = sorted(
            (_change(as_map(c)) for c in as_list(inc.get("changes")) if isinstance(c, Mapping)),
            key=lambda c: (c["direction"] != "regression", -c["size"]),
        )
        if not changes:
            continue
        out.append(
            {
                "run_id": as_text(inc.get("run_id")),
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
    unit = as_text(t.get("unit"))
    metric = as_text(t.get("metric"))

    def show(v: Any) -> str:
        f = as_float(v)
        if f is None:
            return "–"
        return fmt_num(f) + (f" {unit}" if unit and unit != "%" else unit)

    return {
        "expr": as_text(t.get("expr")),
        "scenario_label": scenario_label(t.get("scenario") or ALL),
        "metric_label": metric_label(metric),
        "value": show(t.get("value")),
        "limit": show(t.get("limit")),
        "passed": bool(t.get("passed")),
    }


def attribution_view(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The "why it regressed" section (loadwatch.pipeline.attribution): per regressed scenario its ranked candidates."""
    a = as_map(summary.get("attribution"))
    explanations = []
    for e in (as_map(x) for x in as_list(a.get("explanations"))):
        cands = []
        for c in (as_map(x) for x in as_list(e.get("candidates"))):
            segs = segments(as_text(c.get("text")))
            md = "".join(md_code(t, limit=200) if code else md_keep_spaces(t) for code, t in segs)
            cands.append({"rank": c.get("rank"), "kind": as_text(c.get("kind")), "segments": segs, "md": MdRaw(md)})
        explanations.append({
            "scenario_label": scenario_label(e.get("scenario")),
            "metrics": ", ".join(metric_label(m) for m in as_list(e.get("metrics"))),
            "candidates": cands,
            "nothing": as_text(e.get("text")) if e.get("nothing_moved") else "",
        })
    if not explanations:
        return None
    return {"explanations": explanations, "missing": [as_text(m) for m in as_list(a.get("missing"))],
            "notes": [as_text(n) for n in as_list(a.get("notes"))]}



def _first_bad(change_points: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """The first bad run of each series: its regression change point, when one was found (else this run)."""
    first_bad: dict[tuple[str, str], str] = {}
    for cp in change_points:
        if cp.get("direction") == "regression":
            first_bad[(as_text(cp.get("scenario")), as_text(cp.get("metric")))] = as_text(cp.get("run_id"))
    return first_bad


def _counts(comparison: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in comparison:
        o = as_text(c.get("outcome")) or "ok"
        counts[o] = counts.get(o, 0) + 1
    return counts


def findings_view(summary: Mapping[str, Any], comparison: Sequence[Mapping[str, Any]],
                  change_points: Sequence[Mapping[str, Any]], found: Sequence[dict[str, Any]],
                  run_id: str) -> dict[str, Any]:
    """Findings worst first, improvements, outcome counts, the baseline, incidents (`found`: see `incidents`,
    newest first), thresholds and the attribution."""
    first_bad = _first_bad(change_points)
    findings = [_finding(c, first_bad, run_id) for c in comparison if c.get("outcome") in ("regression", "suspect")]
    findings.sort(key=lambda f: (OUTCOME_RANK.get(f["outcome"], 9), -abs(f["change_value"] or 0.0)))
    n_baseline = max([int(c["n_baseline"]) for c in comparison if isinstance(c.get("n_baseline"), int)] or [0])
    baseline_ids = [as_text(i) for i in as_list(summary.get("baseline_run_ids"))]
    thresholds = [_threshold(as_map(t)) for t in as_list(summary.get("thresholds")) if isinstance(t, Mapping)]
    return {
        "baseline": {
            "n": len(baseline_ids) or n_baseline,
            "first": baseline_ids[0] if baseline_ids else "",
            "last": baseline_ids[-1] if baseline_ids else "",
            "needed": MIN_HISTORY,
        },
        "counts": _counts(comparison),
        "noisy_series": sum(1 for c in comparison if as_map(c.get("noise")).get("noisy")),
        "gated": len(comparison),
        "findings": findings,
        "improvements": [_finding(c, {}, run_id) for c in comparison if c.get("outcome") == "improvement"],
        "incidents": list(found[:MAX_INCIDENTS_HTML]),
        "incidents_hidden": max(0, len(found) - MAX_INCIDENTS_HTML),
        "incidents_md": list(found[:MAX_INCIDENTS_MD]),
        "incidents_md_hidden": max(0, len(found) - MAX_INCIDENTS_MD),
        "breaches": [t for t in thresholds if not t["passed"]],
        "thresholds": thresholds,
        "attribution": attribution_view(summary),
    }
