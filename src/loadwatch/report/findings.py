"""The report's findings: what the same-night gate flagged (regressions, suspects, improvements) with their
evidence, the incidents of the history (change points grouped by the run they start at), the thresholds, and why a
regression happened (loadwatch.pipeline.attribution's ranked candidates)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loadwatch.findings import Attribution, Candidate, ChangePointRow, ComparisonRow, Incident, ThresholdRow
from loadwatch.pipeline.compare import recorded_gate_config
from loadwatch.record import RunSummary
from loadwatch.report.charts import ALL, as_float, parse_time
from loadwatch.report.format import (
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

__all__ = ["MAX_INCIDENTS_HTML", "MAX_INCIDENTS_MD", "OUTCOME_RANK", "attribution_view",
           "findings_view", "incidents"]

MAX_INCIDENTS_HTML = 20
MAX_INCIDENTS_MD = 5
OUTCOME_RANK = {"regression": 0, "suspect": 1, "improvement": 2, "insufficient_history": 3, "ok": 4}


def _finding(row: ComparisonRow, first_bad: Mapping[tuple[str, str], str], run_id: str) -> dict[str, Any]:
    scenario, metric = row["scenario"], row["metric"]
    checks = row["checks"]
    ids = list(row.get("baseline_run_ids", []))
    return {
        "scenario": scenario,
        "scenario_label": scenario_label(scenario),
        "metric": metric,
        "metric_label": metric_label(metric),
        "outcome": row["outcome"] or "ok",
        "latest": fmt_value(metric, row["value"]),
        "baseline": fmt_value(metric, row["baseline"]),
        "n_baseline": row["n_baseline"],
        "baseline_span": f"{ids[0]} … {ids[-1]}" if len(ids) > 1 else (ids[0] if ids else ""),
        "change": fmt_change(row),
        "change_value": as_float(row.get("change", row["change_percent"])),
        "interval": fmt_interval(row["ci"], row["ci_unit"]),
        "noise": fmt_noise(row),
        "noisy": bool((row.get("noise") or {}).get("noisy")),
        "z": fmt_num(row["robust_z"], 2) if as_float(row["robust_z"]) is not None else "–",
        "checks": [
            (name, "yes" if check is True else "no" if check is False else "n/a")
            for check, name in ((checks["z"], "z ≥ 4"), (checks["floor"], "above floor"),
                                (checks["ci"], "interval excludes 0"))
        ],
        "first_bad": first_bad.get((scenario, metric), run_id),
    }


def _change(cp: ChangePointRow) -> dict[str, Any]:
    metric = cp["metric"]

    def ms(mean: float | None, std: float | None) -> str:
        s = as_float(std)
        return fmt_value(metric, mean) + (f" ± {fmt_num(s, 2)}" if s else "")

    return {
        "scenario": cp["scenario"],
        "scenario_label": scenario_label(cp["scenario"]),
        "metric_label": metric_label(metric),
        "direction": cp["direction"] or "change",
        "state": cp["state"] or "pending",
        "change": fmt_pct(cp["forward_change_percent"]),
        "before": ms(cp.get("mean_before"), cp.get("std_before")),
        "after": ms(cp.get("mean_after"), cp.get("std_after")),
        "p": fmt_p(cp["p_value"]),
        "runs_after": cp["runs_after"],
        "size": abs(as_float(cp["forward_change_percent"]) or 0.0),
        "builds": _builds(cp),
    }


def _builds(cp: ChangePointRow) -> str:
    """"between 1.4.1 and 1.4.2 (3f2a9c1e)": the builds a change point happened between ("" when neither is
    known, "at 1.4.2" when only its own run's is)."""
    before, after = cp.get("version_before"), cp.get("version_after")
    if before and after:
        return f"between {before} and {after}" if before != after else f"at {after} (the same build before)"
    return f"at {after}" if after else (f"after {before}" if before else "")


def incidents(stored: Sequence[Incident], change_points: Sequence[ChangePointRow]) -> list[dict[str, Any]]:
    """The incidents newest first, each with its changes (regressions first, largest first); grouped here from the
    change points by their run when none were stored (a trend review)."""
    raw: list[Mapping[str, Any]] = list(stored)
    if not raw and change_points:
        groups: dict[str, dict[str, Any]] = {}
        for cp in change_points:
            g = groups.setdefault(
                as_text(cp["run_id"]), {"run_id": cp["run_id"], "time": cp.get("time"), "changes": []}
            )
            g["changes"].append(cp)
        raw = list(groups.values())
    out = []
    for inc in raw:
        changes = sorted((_change(c) for c in inc["changes"]), key=lambda c: (c["direction"] != "regression",
                                                                             -c["size"]))
        if not changes:
            continue
        out.append(
            {
                "run_id": as_text(inc["run_id"]),
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


def _threshold(t: ThresholdRow) -> dict[str, Any]:
    unit = t.get("unit", "")

    def show(v: float | None) -> str:
        f = as_float(v)
        if f is None:
            return "–"
        return fmt_num(f) + (f" {unit}" if unit and unit != "%" else unit)

    return {
        "expr": t["expr"] + (" (default)" if t.get("default") else ""),
        "scenario_label": scenario_label(t.get("scenario") or ALL),
        "metric_label": metric_label(t.get("metric")),
        "value": show(t["value"]),
        "limit": show(t.get("limit")),
        "passed": t["passed"],
    }


def _candidate(c: Candidate) -> dict[str, Any]:
    segs = segments(c["text"])
    md = "".join(md_code(t, limit=200) if code else md_keep_spaces(t) for code, t in segs)
    return {"rank": c.get("rank"), "kind": c["kind"], "segments": segs, "md": MdRaw(md)}


def attribution_view(a: Attribution) -> dict[str, Any] | None:
    """The "why it regressed" section (loadwatch.pipeline.attribution): per regressed scenario its ranked candidates."""
    explanations = [
        {
            "scenario_label": scenario_label(e["scenario"]),
            "metrics": ", ".join(metric_label(m) for m in e["metrics"]),
            "candidates": [_candidate(c) for c in e["candidates"]],
            "nothing": e["text"] if e["nothing_moved"] else "",
            # statements that moved but are another scenario's (their calls follow its share of the traffic)
            "elsewhere": [segments(x) for x in e.get("elsewhere", [])],
            "elsewhere_md": [MdRaw("".join(md_code(t, limit=200) if code else md_keep_spaces(t)
                                           for code, t in segments(x))) for x in e.get("elsewhere", [])],
        }
        for e in a.get("explanations", [])
    ]
    if not explanations:
        return None
    return {"explanations": explanations, "missing": list(a.get("missing", [])), "notes": list(a.get("notes", []))}


def _first_bad(change_points: Sequence[ChangePointRow]) -> dict[tuple[str, str], str]:
    """The first bad run of each series: its regression change point, when one was found (else this run)."""
    return {(cp["scenario"], cp["metric"]): as_text(cp["run_id"])
            for cp in change_points if cp["direction"] == "regression"}


def _counts(comparison: Sequence[ComparisonRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in comparison:
        o = c["outcome"] or "ok"
        counts[o] = counts.get(o, 0) + 1
    return counts


def findings_view(summary: RunSummary, found: Sequence[dict[str, Any]], run_id: str) -> dict[str, Any]:
    """Findings worst first, improvements, outcome counts, the baseline, incidents (`found`: see `incidents`,
    newest first), thresholds and the attribution."""
    comparison = summary.comparison
    first_bad = _first_bad(summary.change_points)
    findings = [_finding(c, first_bad, run_id) for c in comparison if c["outcome"] in ("regression", "suspect")]
    findings.sort(key=lambda f: (OUTCOME_RANK.get(f["outcome"], 9), -abs(f["change_value"] or 0.0)))
    n_baseline = max([c["n_baseline"] for c in comparison] or [0])
    baseline_ids = summary.baseline_run_ids
    thresholds = [_threshold(t) for t in summary.thresholds]
    return {
        "baseline": {
            "n": len(baseline_ids) or n_baseline,
            "first": baseline_ids[0] if baseline_ids else "",
            "last": baseline_ids[-1] if baseline_ids else "",
            "needed": recorded_gate_config(summary.plan or {}).min_history,
        },
        "counts": _counts(comparison),
        "noisy_series": sum(1 for c in comparison if (c.get("noise") or {}).get("noisy")),
        "gated": len(comparison),
        "findings": findings,
        "improvements": [_finding(c, {}, run_id) for c in comparison if c["outcome"] == "improvement"],
        "incidents": list(found[:MAX_INCIDENTS_HTML]),
        "incidents_hidden": max(0, len(found) - MAX_INCIDENTS_HTML),
        "incidents_md": list(found[:MAX_INCIDENTS_MD]),
        "incidents_md_hidden": max(0, len(found) - MAX_INCIDENTS_MD),
        "breaches": [t for t in thresholds if not t["passed"]],
        "thresholds": thresholds,
        "attribution": attribution_view(summary.attribution),
    }
