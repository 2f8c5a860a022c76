"""The report's header: which run of which plan, when, the verdict banner and its reasons, and the warnings about
the measurement itself (a generator that could not keep up, a busy machine, dropped or late sends)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loadwatch.findings import ConfirmationBlock
from loadwatch.pipeline.compare import format_change, machine_busy
from loadwatch.record import HistoryRow, RunSummary
from loadwatch.report.charts import as_float, parse_time
from loadwatch.report.format import as_list, as_map, as_text, fmt_num, fmt_time
from loadwatch.revision import Revision

__all__ = ["VERDICTS", "conditions", "header_view", "profile"]

VERDICTS = {
    "pass": ("PASS", "pass"),
    "regression": ("REGRESSION", "bad"),
    "threshold_breach": ("THRESHOLD BREACHED", "bad"),
    "insufficient_history": ("NOT ENOUGH HISTORY YET", "info"),
    "inconclusive": ("INCONCLUSIVE", "dark"),
    "failed": ("RUN FAILED", "dark"),
    "aborted": ("RUN ABORTED", "dark"),
    "imported": ("IMPORTED", "info"),  # `loadwatch import`: a seed script's run, stored as history, never judged
}
# the engine's counts of late sends shown only when non-zero (the totals' own counts: RunSummary.totals)


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


def _duration(summary: RunSummary) -> float | None:
    started = parse_time(summary.started_at)
    finished = parse_time(summary.finished_at)
    if started and finished and ((started.tzinfo is None) == (finished.tzinfo is None)):
        return (finished - started).total_seconds()
    return None


def _nonzero(value: float | None) -> str:
    return fmt_num(value) if as_float(value) else ""


def revision_text(rev: Revision | None) -> str:
    """The build measured, as one line: "version 1.4.2 · commit 3f2a9c1e · branch main" ("" when none is known)."""
    if not rev:
        return ""
    commit = rev.get("commit")
    parts = [("version", rev.get("version")), ("commit", commit[:12] if commit else None),
             ("branch", rev.get("branch"))]
    return " · ".join(f"{name} {value}" for name, value in parts if value)


def header_view(mode: str, summary: RunSummary, history: Sequence[HistoryRow]) -> dict[str, Any]:
    """Run, plan, time, verdict and the measurement's warnings, formatted."""
    load, plan, totals = summary.load, summary.plan, summary.totals
    run_id = summary.run_id or (history[-1]["run_id"] if history else "")
    label, css = VERDICTS[summary.verdict]
    duration = _duration(summary)
    return {
        "mode": mode,
        "run_id": run_id,
        "plan_name": as_text(plan.get("name")) or "load plan",
        "plan_hash": as_text(plan.get("hash"))[:12],
        "target_url": as_text(plan.get("target_url")),
        "profile": profile(plan),
        "started": fmt_time(summary.started_at) if summary.started_at else "",
        "duration": fmt_num(duration) if duration is not None else "",
        "trigger": summary.trigger,
        "revision": revision_text(summary.revision),
        "verdict": summary.verdict,
        "verdict_label": label,
        "verdict_class": css,
        "reasons": list(summary.verdict_reasons),
        "warnings": list(summary.warnings),
        "generator_bound": totals.generator_bound,
        "machine_busy": as_text(machine_busy({"target_stats": summary.target_stats})),
        # the engine's block beyond the totals (loadwatch.load_shapes.LoadSummary)
        "generator_reasons": [as_text(r) for r in as_list(as_map(load.get("generator")).get("reasons"))],
        "dropped": _nonzero(totals.dropped),
        "censored": _nonzero(totals.censored),
        "clamped": _nonzero(totals.clamped),
        "protocol_errors": _nonzero(totals.protocol_errors),
        "late_target": _nonzero(load.get("late_target")),
        "late": _nonzero(load.get("late")),
        "protocol_error_sample": as_text(load.get("protocol_error_sample")),
        "conditions": conditions(load, as_map(as_map(summary.target_stats).get("contention"))),
        "confirmation": confirmation_text(summary.confirmation),
    }


CONFIRMATION_OUTCOMES = {
    "reproduced": "reproduced every one",
    "partly_reproduced": "reproduced some",
    "not_reproduced": "reproduced none, so the night does not fail on them",
    "not_judged": "could not judge",
}


def confirmation_text(block: ConfirmationBlock | None) -> str:
    """The night's second load (docs/METHOD.md §3.7), one line: what it re-measured and what it decided."""
    if not block:
        return ""
    rows = ", ".join(f"{r['scenario']} {r['metric']} {format_change({**r, 'change': r['first_change']})} → "
                     f"{format_change(r)}" for r in block["rows"]) or ", ".join(block["series"])
    why = f" ({block['reason']})" if block.get("reason") else ""
    outcome = CONFIRMATION_OUTCOMES[block["outcome"]]
    return (f"Confirmation: the first load found {len(block['series'])} new regression(s); a second load "
            f"({block['requests']} requests, {fmt_num(block['duration_s'])} s) {outcome}{why}: {rows} "
            "(first load → second load).")


def conditions(load: Mapping[str, Any], contention: Mapping[str, Any]) -> str:
    """The readings of the two inconclusive rules, shown whatever they decided: the generator's lateness against its
    schedule and the target's queueing behind other processes, each beside its bound."""
    parts = []
    late = as_float(as_map(load.get("generator")).get("schedule_late_share"))
    if late is not None:
        parts.append(f"the generator's lateness against its schedule added {100 * late:.1f} % to the latency it "
                     "measured (generator-bound from 10 %)")
    queue, share = as_float(contention.get("queue_ms_per_request")), as_float(contention.get("queue_share"))
    if queue is not None and share is not None:
        parts.append(f"the target queued for a CPU behind other processes {queue:.3f} ms per request, "
                     f"{100 * share:.1f} % of its mean latency (busy machine from 5 % when others held most of the "
                     f"CPU; they held {100 * (as_float(contention.get('others_share')) or 0.0):.0f} %, "
                     f"{fmt_num(contention.get('others_cores'))} cores)")
    elif contention.get("reason") and not contention.get("busy"):
        parts.append(f"busy machine {as_text(contention.get('reason'))}")
    return ("Measurement conditions: " + "; ".join(parts) + ".") if parts else ""
