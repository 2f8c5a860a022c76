"""The report's header: which run of which plan, when, the verdict banner and its reasons, and the warnings about
the measurement itself (a generator that could not keep up, a busy machine, dropped or late sends)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loadwatch.pipeline.compare import machine_busy
from loadwatch.report.charts import as_float, parse_time
from loadwatch.report.format import as_list, as_map, as_text, fmt_num, fmt_time

__all__ = ["VERDICTS", "header_view", "profile"]

VERDICTS = {
    "pass": ("PASS", "pass"),
    "regression": ("REGRESSION", "bad"),
    "threshold_breach": ("THRESHOLD BREACHED", "bad"),
    "insufficient_history": ("NOT ENOUGH HISTORY YET", "info"),
    "inconclusive": ("INCONCLUSIVE", "dark"),
    "failed": ("RUN FAILED", "dark"),
    "aborted": ("RUN ABORTED", "dark"),
}
# the load block's counts shown only when non-zero
_COUNTS = ("dropped", "censored", "clamped", "protocol_errors", "late_target", "late")


def profile(plan: Mapping[str, Any]) -> str:
    """The load profile in a few words: "open model, 50 req/s, 60 s, warm-up 5 s, 6 scenarios"."""
    model = as_text(plan.get("model"))
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
    n = len(as_list(plan.get("scenarios")))
    if n:
        parts.append(f"{n} scenarios")
    return ", ".join(parts)


def _duration(summary: Mapping[str, Any]) -> float | None:
    started = parse_time(summary.get("started_at"))
    finished = parse_time(summary.get("finished_at"))
    if started and finished and ((started.tzinfo is None) == (finished.tzinfo is None)):
        return (finished - started).total_seconds()
    return None


def header_view(mode: str, summary: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Run, plan, time, verdict and the measurement's warnings, formatted."""
    load = as_map(summary.get("load"))
    plan = as_map(summary.get("plan"))
    run_id = as_text(summary.get("run_id")) or (as_text(history[-1].get("run_id")) if history else "")
    verdict = as_text(summary.get("verdict")) or "unknown"
    label, css = VERDICTS.get(verdict, (verdict.upper().replace("_", " "), "dark"))
    duration = _duration(summary)
    return {
        "mode": mode,
        "run_id": run_id,
        "plan_name": as_text(plan.get("name")) or "load plan",
        "plan_hash": as_text(plan.get("hash"))[:12],
        "target_url": as_text(plan.get("target_url")),
        "profile": profile(plan),
        "started": fmt_time(summary.get("started_at")) if summary.get("started_at") else "",
        "duration": fmt_num(duration) if duration is not None else "",
        "trigger": as_text(summary.get("trigger")),
        "verdict": verdict,
        "verdict_label": label,
        "verdict_class": css,
        "reasons": [as_text(r) for r in as_list(summary.get("verdict_reasons"))],
        "warnings": [as_text(w) for w in as_list(summary.get("warnings"))],
        "generator_bound": bool(load.get("generator_bound")),
        "machine_busy": as_text(machine_busy(summary)),
        "generator_reasons": [as_text(r) for r in as_list(as_map(load.get("generator")).get("reasons"))],
        **{k: fmt_num(load.get(k)) if as_float(load.get(k)) else "" for k in _COUNTS},
        "protocol_error_sample": as_text(load.get("protocol_error_sample")),
    }
