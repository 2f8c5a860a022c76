"""Assembling a run's summary.json, its stored record and the report's input, and writing the outputs."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from loadwatch import hist
from loadwatch.config import Plan
from loadwatch.pipeline.measures import ALL, run_metrics
from loadwatch.store.embedded import redact_url

__all__ = [
    "SCHEMA_VERSION",
    "RecordContext",
    "build_record",
    "new_run_id",
    "plan_info",
    "report_input",
    "spectrum",
    "write_summary",
]

SCHEMA_VERSION = 1
SPECTRUM_PERCENTILES = (50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0)


@dataclass(frozen=True)
class RecordContext:
    """Who started a run and what they said about it."""

    trigger: str
    flow_run_id: str | None = None
    notes: str | None = None
    tags: Sequence[str] = ()


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def plan_info(plan: Plan) -> dict[str, Any]:
    load = plan.load
    return {
        "name": plan.name,
        "hash": plan.plan_hash(),
        "target_url": redact_url(plan.target.url),
        "model": load.model,
        "rate": load.rate,
        "users": load.users,
        "arrival": load.arrival,
        "stages": [s.model_dump() for s in load.stages] if load.stages else None,
        "duration": load.total_duration,
        "warmup": load.warmup,
        "thresholds": list(plan.thresholds),
        "scenarios": [{"name": s.name, "weight": s.weight, "method": s.method, "path": s.path} for s in plan.scenarios],
    }


def _iso(ts: float | datetime | None) -> str | None:
    if ts is None:
        return None
    if isinstance(ts, datetime):
        return ts.isoformat()
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def build_record(
    *,
    run_id: str,
    started_at: datetime,
    finished_at: datetime,
    status: str,
    plan: Plan,
    environment: Mapping[str, Any],
    load: Any | None,  # engine LoadResult
    monitor: Any | None,  # monitor MonitorResult
    target_stats: Mapping[str, Any],
    findings: Mapping[str, Any],
    context: RecordContext,
    timings: Mapping[str, float],
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """The complete, JSON-able result of one run: what is stored, spooled, and rendered."""
    trigger, flow_run_id, notes, tags = context.trigger, context.flow_run_id, context.notes, context.tags
    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "status": status,
        "started_at": _iso(started_at),
        "finished_at": _iso(finished_at),
        "verdict": findings.get("verdict", "failed" if status != "completed" else "pass"),
        "verdict_reasons": list(findings.get("verdict_reasons", [])),
        "warnings": list(warnings),
        "baseline_run_ids": list(findings.get("baseline_run_ids", [])),
        "trigger": trigger,
        "flow_run_id": flow_run_id,
        "plan": plan_info(plan),
        "environment": dict(environment),
        "load": dict(load.summary) if load is not None else {},
        "resources": monitor.summary() if monitor is not None else {},
        "target_stats": {k: v for k, v in target_stats.items() if k != "probe"},
        "probe": target_stats.get("probe"),  # the machine-drift probe of this run (loadwatch.pipeline.probe)
        "comparison": list(findings.get("comparison", [])),
        "change_points": list(findings.get("change_points", [])),
        "incidents": list(findings.get("incidents", [])),
        "thresholds": list(findings.get("thresholds", [])),
        "score": dict(findings.get("score", {})),
        "attribution": dict(findings.get("attribution") or {}),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "notes": notes,
        "tags": list(tags),
    }
    return {
        "summary": summary,
        "status": status,
        "trigger": trigger,
        "flow_run_id": flow_run_id,
        "notes": notes,
        "tags": list(tags),
        "histograms": dict(load.histograms) if load is not None else {},
        "windows": list(load.windows) if load is not None else [],
        "timeline": list(load.timeline) if load is not None else [],
        "resource_samples": list(monitor.samples) if monitor is not None else [],
    }


def spectrum(h: HdrHistogram) -> list[list[float]]:
    """[[percentile, ms], ...] of a latency histogram (microseconds); [] when it is empty."""
    if h.get_total_count() == 0:
        return []
    return [[q, hist.percentile_us(h, q) / 1000.0] for q in SPECTRUM_PERCENTILES]


def report_input(
    record: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    *,
    mode: str = "run",
) -> dict[str, Any]:
    """The data the report renders: this run plus its comparable history (oldest first)."""
    s = record["summary"]
    baseline_ids = set(s.get("baseline_run_ids") or [])
    hist_rows = [
        {
            "run_id": h["run_id"],
            "started_at": _iso(h["started_at"]),
            "verdict": h.get("verdict"),
            "metrics": h.get("metrics") or {},
        }
        for h in history
    ]
    if mode == "run" and s.get("status") == "completed":
        hist_rows.append(
            {"run_id": s["run_id"], "started_at": s["started_at"], "verdict": s["verdict"], "metrics": run_metrics(s)}
        )
    current = (record.get("histograms") or {}).get(ALL, {}).get("latency")
    base = hist.merge_encoded(h["histograms"][ALL] for h in history if h["run_id"] in baseline_ids
                              and (h.get("histograms") or {}).get(ALL))
    return {
        "mode": mode,
        "summary": s,
        "history": hist_rows,
        "timeline": list(record.get("timeline") or []),
        "resource_samples": [
            {k: smp.get(k) for k in ("t", "group", "cpu_percent", "rss_mb")}
            for smp in record.get("resource_samples") or []
        ],
        "spectrum": {"current": spectrum(hist.decode(current or "")), "baseline": spectrum(base)},
        "incidents": list(s.get("incidents") or []),
    }


def write_summary(summary: Mapping[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "summary.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, default=str))
    tmp.replace(path)
    return path
