"""LoadResult and the exact combination of worker outputs (processes) or of LoadResults (shards).

Counts are summed; histograms are added counter by counter (never percentiles averaged), so merged
percentiles are those of the union. `generator_bound` rule, from the generator's own signals (any one of
these, per worker/shard):
  * CPU ≥ 90 % of one core over the run (the process was saturated; its latencies include its own queueing);
  * event-loop lag p99 > 50 ms (timers, and so send times and timeouts, were unreliable);
  * open model: the pacer reached more than 5 % of the measured sends more than 1 ms after their intended time
    (`sched_late`, however each then went out: on a free connection, queued for a busy one, or dropped at the
    in-flight cap; only the generator's own event loop falling behind makes the pacer late), and that lateness
    adds up to at least 10 % of all the latency the process measured (it is part of those latencies, since they
    run from the intended time: below that share it cannot carry a verdict by itself). A starved generator leaves
    its answers unread, so its connections stay busy and its sends queue or drop: counting only the late sends
    that found a connection free (`late`) blamed those on the target;
  * open model: sends + dropped < 95 % of intended (the pacer could not even attempt the schedule).
Sends that waited for a busy connection after the pacer reached them on time (`late_target`) and drops decided on
time at the in-flight cap (`dropped`, an error of kind `dropped` in its scenario) are the target's doing and never
mark the run by themselves; when the
generator was saturated or lagging, the run is generator_bound and its drops are the generator's too.

Lower bounds: a request abandoned at its total timeout is recorded at the time it had waited (`censored`), a
value beyond the histogram's range at the range's edge (`clamped`); `latency_at_least` and
`service_time_at_least` list the statistics that such values make lower bounds (see `hist.at_least`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from loadwatch import hist
from loadwatch.engine.data import merge_data_use
from loadwatch.load_shapes import (
    ErrorKind,
    LoadSummary,
    RefreshUse,
    ScenarioSummary,
    SessionsSummary,
    WorkerEntry,
)

__all__ = [
    "CPU_BOUND_PERCENT",
    "LoadResult",
    "combine_parts",
    "merge_results",
    "part_from_result",
]

CPU_BOUND_PERCENT = 90.0
SESSION_COUNTS = ("sessions", "logins", "login_failures", "refreshes", "refresh_failures")
LATE_BOUND_FRACTION = 0.05
# Late sends mark the run only when their delay is a material share of the latency the generator reported: a loaded
# host makes some sends a millisecond late, which a 30 ms service does not notice and a 1 ms service does. 10 %:
# twice the smallest latency floor (p50, 5 %), so the generator's own delay alone cannot carry a verdict; the nights
# it is compared with carry a similar delay (the end-to-end proof's pinned core: 6 % on a night of a real slowdown).
LATE_BOUND_SHARE = 0.10
ACHIEVED_MIN_FRACTION = 0.95
LAG_BOUND_MS = 50.0


@dataclass
class LoadResult:
    started_at: float
    finished_at: float
    summary: LoadSummary
    histograms: dict[str, dict[str, str]] = field(default_factory=dict)
    windows: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    # sessions' login steps and journeys in the workers' form (encoded histograms), so shards merge them exactly
    parts_extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "load": self.summary,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "histograms": self.histograms,
            "timeline": self.timeline,
            "windows": self.windows,
        }


def _min_us(values: Sequence[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _schedule_lateness(w: dict[str, Any]) -> tuple[int, int, float]:
    """(sends the pacer reached late, sends intended, their lateness as a share of the latency the process measured):
    the generator's lateness against its schedule (engine.pacer `sched_late`; a part of an older version has only
    `late`, the late sends that found a connection free)."""
    late = w.get("sched_late", w.get("late", 0)) or 0
    late_ms = float(w.get("sched_late_ms_sum", w.get("late_ms_sum")) or 0.0)
    total_ms = float(w.get("latency_ms_sum") or 0.0)
    share = late_ms / total_ms if total_ms > 0 else (1.0 if late_ms > 0 else 0.0)
    return int(late), int(w.get("intended") or 0), share


def _reasons(w: dict[str, Any], model: str) -> list[str]:
    out: list[str] = []
    who = f"worker {w.get('index', 0)}" if "shard" not in w else f"shard {w['shard']}"
    if w.get("cpu_percent", 0.0) >= CPU_BOUND_PERCENT:
        out.append(f"{who}: CPU {w['cpu_percent']:.0f}% of a core (≥ {CPU_BOUND_PERCENT:.0f}%)")
    if model == "open" and w.get("intended"):
        sends = w.get("measured_sends") or 0
        late, intended, share = _schedule_lateness(w)
        if late > LATE_BOUND_FRACTION * max(intended, 1) and share >= LATE_BOUND_SHARE:
            out.append(f"{who}: reached {late} of {intended} sends late against its schedule (> "
                       f"{LATE_BOUND_FRACTION:.0%}), adding {share:.0%} to the latency it measured "
                       f"(≥ {LATE_BOUND_SHARE:.0%})")
        if sends + w.get("dropped", 0) < ACHIEVED_MIN_FRACTION * w["intended"]:
            out.append(f"{who}: attempted {sends + w.get('dropped', 0)} of {w['intended']} intended sends")
    lag = (w.get("loop_lag_ms") or {}).get("p99", 0.0)
    if lag > LAG_BOUND_MS:
        out.append(f"{who}: event-loop lag p99 {lag:.0f} ms (> {LAG_BOUND_MS:.0f} ms)")
    return out


class _Merged(NamedTuple):
    """One scenario merged over the parts: its summary entry, its histograms and its censoring minima."""

    entry: ScenarioSummary
    lat: Any
    svc: Any
    cmin_lat: int | None
    cmin_svc: int | None


def _merge_scenario(subs: Sequence[dict[str, Any]], measured_s: float) -> _Merged:
    """One scenario's entries of several parts: counts summed, histograms added, error kinds and classes joined."""
    lat = hist.merge_encoded(s["latency"] for s in subs)
    svc = hist.merge_encoded(s["service"] for s in subs)
    kinds: dict[str, ErrorKind] = {}
    classes: dict[str, int] = defaultdict(int)
    for s in subs:
        for k, v in s["errors_by_kind"].items():
            d = kinds.setdefault(k, {"count": 0, "sample": v["sample"]})
            d["count"] += v["count"]
        for c, n in s["status_classes"].items():
            classes[c] += n
    req = sum(s["requests"] for s in subs)
    err = sum(s["errors"] for s in subs)
    cmin_lat = _min_us([(s.get("censored_min_us") or {}).get("latency") for s in subs])
    cmin_svc = _min_us([(s.get("censored_min_us") or {}).get("service") for s in subs])
    lat_ms = hist.stats_ms(lat)
    svc_ms = hist.stats_ms(svc)
    entry: ScenarioSummary = {
        "requests": req,
        "errors": err,
        "rps": round(req / measured_s, 2),
        "error_rate": round(err / req, 6) if req else 0.0,
        "latency_ms": lat_ms,
        "latency_at_least": hist.at_least(lat_ms, cmin_lat),
        "service_time_ms": svc_ms,
        "service_time_at_least": hist.at_least(svc_ms, cmin_svc),
        "censored": sum(s.get("censored", 0) for s in subs),
        "clamped": sum(s.get("clamped", 0) for s in subs),
        "censored_min_ms": {
            "latency": cmin_lat / 1000.0 if cmin_lat is not None else None,
            "service": cmin_svc / 1000.0 if cmin_svc is not None else None,
        },
        "errors_by_kind": dict(sorted(kinds.items())),
        "status_classes": dict(sorted(classes.items())),
    }
    return _Merged(entry, lat, svc, cmin_lat, cmin_svc)


def _as_part(m: _Merged) -> dict[str, Any]:
    """A merged entry back in the workers' form (encoded histograms): what a shard hands to the merge."""
    e = m.entry
    return {
        **{k: e[k] for k in ("requests", "errors", "errors_by_kind", "status_classes", "censored", "clamped")},
        "latency": hist.encode(m.lat),
        "service": hist.encode(m.svc),
        "censored_min_us": {"latency": m.cmin_lat, "service": m.cmin_svc},
    }


def _merge_named(
    entries: Sequence[dict[str, dict[str, Any]]], measured_s: float
) -> tuple[dict[str, ScenarioSummary], dict[str, dict[str, Any]]]:
    """Per-name entries of several parts (journeys, login steps), merged name by name: (summary, workers' form)."""
    names: list[str] = []
    for e in entries:
        names += [n for n in e if n not in names]
    merged = {n: _merge_scenario([e[n] for e in entries if n in e], measured_s) for n in names}
    return {n: m.entry for n, m in merged.items()}, {n: _as_part(m) for n, m in merged.items()}


def _sessions(parts: Sequence[dict[str, Any]], measured_s: float) -> tuple[SessionsSummary, dict[str, Any]]:
    """The sessions' counts summed, their login and refresh steps merged (kept apart from the scenarios)."""
    subs = [p["sessions"] for p in parts if "sessions" in p]
    counts = {k: sum(s[k] for s in subs) for k in SESSION_COUNTS}
    steps, raw = _merge_named([s["steps"] for s in subs], measured_s)
    summary = SessionsSummary(sessions=counts["sessions"], logins=counts["logins"],
                              login_failures=counts["login_failures"], refreshes=counts["refreshes"],
                              refresh_failures=counts["refresh_failures"], steps=steps)
    rules = [s["refresh"] for s in subs if "refresh" in s]
    if not rules:
        return summary, {**counts, "steps": raw}
    by: dict[str, int] = defaultdict(int)
    for r in rules:
        for trigger, n in r["by_trigger"].items():
            by[trigger] += n
    # the rule is the plan's, the same in every process and shard; the renewals are summed
    summary["refresh"] = RefreshUse(every=rules[0]["every"], expires_in=rules[0]["expires_in"],
                                    margin=rules[0]["margin"], own_steps=rules[0]["own_steps"],
                                    by_trigger=dict(sorted(by.items())))
    return summary, {**counts, "steps": raw, "refresh": summary["refresh"]}


def _totals(scen: dict[str, ScenarioSummary], merged: Sequence[_Merged], measured_s: float) -> dict[str, Any]:
    """The run's totals over its scenarios: requests, errors, latency and service time of all of them."""
    all_lat = hist.new_hist()
    all_svc = hist.new_hist()
    kinds_all: dict[str, dict[str, Any]] = {}
    classes_all: dict[str, int] = defaultdict(int)
    for m in merged:
        all_lat.add(m.lat)
        all_svc.add(m.svc)
        for k, v in m.entry["errors_by_kind"].items():
            d = kinds_all.setdefault(k, {"count": 0, "sample": v["sample"]})
            d["count"] += v["count"]
        for c, n in m.entry["status_classes"].items():
            classes_all[c] += n
    requests = sum(s["requests"] for s in scen.values())
    errors = sum(s["errors"] for s in scen.values())
    lat_all_ms = hist.stats_ms(all_lat)
    svc_all_ms = hist.stats_ms(all_svc)
    return {
        "requests": requests,
        "errors": errors,
        "error_rate": round(errors / requests, 6) if requests else 0.0,
        "rps": round(requests / measured_s, 2),
        "lat": all_lat,
        "svc": all_svc,
        "latency_ms": lat_all_ms,
        "latency_at_least": hist.at_least(lat_all_ms, _min_us([m.cmin_lat for m in merged])),
        "service_time_ms": svc_all_ms,
        "service_time_at_least": hist.at_least(svc_all_ms, _min_us([m.cmin_svc for m in merged])),
        "errors_by_kind": dict(sorted(kinds_all.items())),
        "status_classes": dict(sorted(classes_all.items())),
    }


def _generator(parts: Sequence[dict[str, Any]], model: str) -> tuple[list[WorkerEntry], list[str]]:
    """The workers' entries and the reasons the run was generator-bound (none: it was not)."""
    workers: list[WorkerEntry] = []
    for p in parts:
        workers += p.get("workers") or [_worker_entry(p)]
    reasons: list[str] = []
    for p in parts:
        reasons += p.get("reasons") or []
        if "workers" not in p:
            reasons += _reasons(p, model)
    return workers, reasons


def combine_parts(parts: Sequence[dict[str, Any]]) -> LoadResult:
    """Parts = worker outputs (see worker.Runner._result), or `part_from_result` of LoadResults."""
    if not parts:
        raise ValueError("nothing to combine")
    model = parts[0]["model"]
    measured_s = max(p["measured_s"] for p in parts)
    names: list[str] = []
    for p in parts:
        names += [n for n in p["scenarios"] if n not in names]
    merged = [_merge_scenario([p["scenarios"][n] for p in parts if n in p["scenarios"]], measured_s) for n in names]
    scen = {n: m.entry for n, m in zip(names, merged, strict=True)}
    histograms = {n: {"latency": hist.encode(m.lat), "service": hist.encode(m.svc)}
                  for n, m in zip(names, merged, strict=True)}
    tot = _totals(scen, merged, measured_s)
    histograms["*"] = {"latency": hist.encode(tot.pop("lat")), "service": hist.encode(tot.pop("svc"))}
    workers, reasons = _generator(parts, model)
    intended = sum(p.get("intended") or 0 for p in parts)
    msends = sum(p.get("measured_sends") or 0 for p in parts)
    lags = [w.get("loop_lag_ms") or {} for w in workers]
    samples = [p.get("protocol_error_sample") for p in parts if p.get("protocol_error_sample")]
    summary: LoadSummary = {
        "model": model,
        "requests": tot["requests"],
        "errors": tot["errors"],
        "error_rate": tot["error_rate"],
        "rps": tot["rps"],
        "dropped": sum(p.get("dropped", 0) for p in parts),
        "late": sum(p.get("late", 0) for p in parts),
        "late_target": sum(p.get("late_target", 0) for p in parts),
        "censored": sum(s["censored"] for s in scen.values()),
        "clamped": sum(s["clamped"] for s in scen.values()),
        "protocol_errors": sum(p.get("protocol_errors", 0) for p in parts),
        "protocol_error_sample": str(samples[0]) if samples else "",
        "cancelled": sum(p.get("cancelled", 0) for p in parts),
        "sends": sum(p.get("sends", 0) for p in parts),
        "late_tolerance_ms": parts[0].get("late_tolerance_ms", 1.0),
        "generator_bound": bool(reasons),
        "latency_ms": tot["latency_ms"],
        "latency_at_least": tot["latency_at_least"],
        "service_time_ms": tot["service_time_ms"],
        "service_time_at_least": tot["service_time_at_least"],
        "errors_by_kind": tot["errors_by_kind"],
        "status_classes": tot["status_classes"],
        "scenarios": scen,
        "workers": workers,
        "intended_rate": round(intended / measured_s, 2) if model == "open" else None,
        "achieved_rate": round(msends / measured_s, 2) if model == "open" else tot["rps"],
        "generator": {
            "cpu_percent": max((w.get("cpu_percent", 0.0) for w in workers), default=0.0),
            "loop_lag_ms": {
                "p99": max((lg.get("p99", 0.0) for lg in lags), default=0.0),
                "max": max((lg.get("max", 0.0) for lg in lags), default=0.0),
            },
            # the generator's lateness against its schedule, of its latest process (the rule's reading, also when
            # it stayed below the bound)
            "schedule_late_share": max((w.get("sched_late_share", 0.0) for w in workers), default=0.0),
            "reasons": reasons,
        },
        "duration_s": max(p["duration_s"] for p in parts),
        "warmup_s": max(p["warmup_s"] for p in parts),
        "measured_s": round(measured_s, 3),
        "stopped": any(p.get("stopped") for p in parts),
        "start_skew_s": max(p.get("start_skew_s", 0.0) for p in parts),
    }
    # only for plans that have them: the summary's shape is otherwise unchanged
    if any("data" in p for p in parts):
        summary["data"] = merge_data_use([p["data"] for p in parts if "data" in p])
    extra: dict[str, Any] = {}
    if any("sessions" in p for p in parts):
        summary["sessions"], extra["sessions"] = _sessions(parts, measured_s)
    if any("journeys" in p for p in parts):
        summary["journeys"], extra["journeys"] = _merge_named(
            [p["journeys"] for p in parts if "journeys" in p], measured_s
        )
    windows, timeline = _merge_windows([w for p in parts for w in p["windows"]])
    return LoadResult(
        started_at=min(p["started_at"] for p in parts),
        finished_at=max(p["finished_at"] for p in parts),
        summary=summary,
        histograms=histograms,
        windows=windows,
        timeline=timeline,
        parts_extra=extra,
    )


def _worker_entry(p: dict[str, Any]) -> WorkerEntry:
    req = sum(s["requests"] for s in p["scenarios"].values())
    late, _, share = _schedule_lateness(p)
    return {
        "index": p.get("index", 0),
        "requests": req,
        "rps": round(req / p["measured_s"], 2),
        "cpu_percent": p.get("cpu_percent", 0.0),
        "cpu_s": p.get("cpu_s", 0.0),  # process CPU seconds from the start barrier to the end of the drain
        "pacer_wakeups": p.get("pacer_wakeups", 0),
        "loop_lag_ms": p.get("loop_lag_ms", {}),
        "late": p.get("late", 0),
        "late_target": p.get("late_target", 0),
        "sched_late": late,
        "sched_late_share": round(share, 4),
        "dropped": p.get("dropped", 0),
        "start_skew_s": p.get("start_skew_s", 0.0),
    }


def _merge_windows(entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    by_key: dict[tuple[float, str], list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        by_key[(round(float(e["t"]), 3), e["scenario"])].append(e)
    windows: list[dict[str, Any]] = []
    per_t: dict[float, list[Any]] = defaultdict(list)
    for (t, name), group in sorted(by_key.items()):
        h = hist.merge_encoded(g["latency"] for g in group)
        w = {
            "t": t,
            "scenario": name,
            "requests": sum(g["requests"] for g in group),
            "errors": sum(g["errors"] for g in group),
            "warmup": any(g["warmup"] for g in group),
            "latency": hist.encode(h),
        }
        windows.append(w)
        per_t[t].append((w, h))
    timeline: list[dict[str, Any]] = []
    if per_t:
        ts = sorted(per_t)
        t, last = ts[0], ts[-1]
        warm = False
        while t <= last + 1e-6:  # every second, empty ones too: a stall shows as a gap, not a missing row
            key = round(t, 3)
            cell: list[Any] = per_t.get(key, [])
            h = hist.new_hist()
            for _w, wh in cell:
                h.add(wh)
            st = hist.stats_ms(h)
            warm = any(cw["warmup"] for cw, _ in cell) if cell else warm
            n = sum(cw["requests"] for cw, _ in cell)
            timeline.append(
                {
                    "t": key,
                    "requests": n,
                    "errors": sum(cw["errors"] for cw, _ in cell),
                    "rps": n,
                    "p50_ms": st["p50"],
                    "p95_ms": st["p95"],
                    "p99_ms": st["p99"],
                    "max_ms": st["max"],
                    "warmup": warm,
                }
            )
            t = round(t + 1.0, 3)
    return windows, timeline


def part_from_result(r: LoadResult, *, shard: int | None = None) -> dict[str, Any]:
    """A LoadResult seen as one part, so shards merge with the same code as processes."""
    s = r.summary
    scenarios = {
        name: {
            "requests": v["requests"],
            "errors": v["errors"],
            "errors_by_kind": v["errors_by_kind"],
            "status_classes": v.get("status_classes", {}),
            "latency": r.histograms[name]["latency"],
            "service": r.histograms[name]["service"],
            "censored": v.get("censored", 0),
            "clamped": v.get("clamped", 0),
            "censored_min_us": {
                k: (round(m * 1000) if m is not None else None) for k, m in (v.get("censored_min_ms") or {}).items()
            },
        }
        for name, v in s["scenarios"].items()
    }
    workers = [dict(w, shard=shard) if shard is not None else dict(w) for w in s.get("workers", [])]
    measured = s.get("measured_s") or max(s["duration_s"] - s["warmup_s"], 1e-9)
    return {
        "model": s["model"],
        "measured_s": measured,
        "duration_s": s["duration_s"],
        "warmup_s": s["warmup_s"],
        "scenarios": scenarios,
        "windows": r.windows,
        "workers": workers,
        "reasons": (s.get("generator") or {}).get("reasons", []),
        "intended": round((s.get("intended_rate") or 0) * measured),
        "measured_sends": round((s.get("achieved_rate") or 0) * measured) if s["model"] == "open" else 0,
        "late": s.get("late", 0),
        "late_target": s.get("late_target", 0),
        "dropped": s.get("dropped", 0),
        "protocol_errors": s.get("protocol_errors", 0),
        "protocol_error_sample": s.get("protocol_error_sample", ""),
        "cancelled": s.get("cancelled", 0),
        "sends": s.get("sends", 0),
        "stopped": s.get("stopped", False),
        "start_skew_s": s.get("start_skew_s", 0.0),
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "late_tolerance_ms": s.get("late_tolerance_ms", 1.0),
        **({"data": s["data"]} if "data" in s else {}),
        **r.parts_extra,
    }


def merge_results(results: Sequence[LoadResult]) -> LoadResult:
    """Exact merge of shards: histograms added, counts summed, windows aligned on their epoch second."""
    if len(results) == 1:
        return results[0]
    return combine_parts([part_from_result(r, shard=i) for i, r in enumerate(results)])
