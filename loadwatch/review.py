"""`loadwatch report`: the same report over the stored history, without a new run.

The newest run of the series is judged again against the runs before it (same-night gate), change points
are detected over the whole window, and its own per-second series come from the store."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from loadwatch import report, stats, store
from loadwatch.attribution import ATTRIBUTION_METRICS, STMT_PREFIX
from loadwatch.compare import decide_verdict
from loadwatch.errors import InvalidInput
from loadwatch.summary import report_input, write_summary

__all__ = ["review_data", "review_report"]


def _point(p: dict[str, Any]) -> stats.RunPoint:
    return stats.RunPoint(run_id=p["run_id"], started_at=p["started_at"], metrics=p["metrics"],
                          histograms=p["histograms"], excluded=p["excluded"])


def _series(engine: Engine, run_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        # mappings(): a column named `t` would otherwise collide with Row.t
        timeline = [
            {**r, "t": r["t"].timestamp()}
            for r in conn.execute(
                sa.text("SELECT t, requests, errors, rps, p50_ms, p95_ms, p99_ms, max_ms, warmup FROM timeline"
                        " WHERE run_id = :r ORDER BY t"), {"r": run_id}).mappings()
        ]
        samples = [
            {"t": r["t"].timestamp(), "group": r["grp"], "cpu_percent": r["cpu_percent"], "rss_mb": r["rss_mb"]}
            for r in conn.execute(
                sa.text("SELECT t, grp, cpu_percent, rss_mb FROM resource_samples WHERE run_id = :r ORDER BY t"),
                {"r": run_id}).mappings()
        ]
        hists: dict[str, dict[str, str]] = {}
        for r in conn.execute(sa.text("SELECT scenario, kind, encoded FROM histograms WHERE run_id = :r"),
                              {"r": run_id}):
            hists.setdefault(r.scenario, {})[r.kind] = r.encoded
    return {"timeline": timeline, "resource_samples": samples, "histograms": hists}


def _start_change_points(points: list[stats.RunPoint],
                         pool: Executor | None) -> Callable[[], list[dict[str, Any]]]:
    """history_change_points, started in `pool` when given (the caller runs the gate meanwhile) and collected by
    the returned function; the points go without their histograms, which it does not read."""
    if pool is None:
        return lambda: stats.history_change_points(points)
    future = pool.submit(stats.history_change_points, [
        stats.RunPoint(run_id=p.run_id, started_at=p.started_at, excluded=p.excluded, metrics=p.metrics)
        for p in points
    ])

    def collect() -> list[dict[str, Any]]:
        try:
            return list(future.result())
        except Exception:  # a broken worker costs time, never the answer
            return stats.history_change_points(points)

    return collect


def review_data(engine: Engine, *, last: int, scenario: str | None = None,
                plan_hash: str | None = None, pool: Executor | None = None) -> dict[str, Any]:
    if plan_hash is None:
        newest = store.recent_runs(engine, last=1)
        if not newest:
            raise InvalidInput("the trend store has no completed runs yet; run `loadwatch run` (or import) first",
                               source="store")
        with engine.connect() as conn:
            plan_hash = conn.execute(sa.text("SELECT plan_hash FROM runs WHERE run_id = :r"),
                                     {"r": newest[-1]["run_id"]}).scalar()
    runs = store.recent_runs(engine, last=last, plan_hash=plan_hash)
    if not runs:
        raise InvalidInput(f"no completed runs of plan {plan_hash}", source="store", field="--plan-hash")
    points = [_point(p) for p in runs]
    if scenario is not None:
        known = {sc for p in points for sc in p.metrics}
        if scenario not in known:
            raise InvalidInput(f"unknown scenario; the stored runs have: {', '.join(sorted(known))}",
                               source="command line", field="--scenario")
        points = [stats.RunPoint(run_id=p.run_id, started_at=p.started_at,
                                 metrics={k: v for k, v in p.metrics.items() if k == scenario},
                                 histograms={k: v for k, v in p.histograms.items() if k == scenario},
                                 excluded=p.excluded) for p in points]
    # attribution series explain a stored run's regression (its `attribution`); a review neither judges them again
    # nor scans them for change points, which would double the detector's work
    points = [stats.RunPoint(run_id=p.run_id, started_at=p.started_at, histograms=p.histograms, excluded=p.excluded,
                             metrics={sc: {m: v for m, v in block.items() if m not in ATTRIBUTION_METRICS}
                                      for sc, block in p.metrics.items() if not sc.startswith(STMT_PREFIX)})
              for p in points]
    current, past = points[-1], points[:-1]
    summary = dict(store.get_summary(engine, current.run_id) or {})
    cfg = stats.GateConfig()
    change_points_of = _start_change_points(points, pool)
    comparison = stats.compare_run(current, past, cfg)
    change_points = change_points_of()
    usable = [p for p in past if not p.excluded][-cfg.window:]
    verdict, reasons = decide_verdict(comparison, summary.get("thresholds") or [], n_baseline=len(usable),
                                      min_history=cfg.min_history)
    if any(cp.get("direction") == "regression" for cp in change_points):
        reasons.append("change points over history: see the incidents")
    summary.update(
        comparison=comparison,
        change_points=change_points,
        incidents=stats.group_incidents(change_points),
        baseline_run_ids=[p.run_id for p in usable],
        verdict=verdict,
        verdict_reasons=reasons,
    )
    series = _series(engine, current.run_id)
    record = {"summary": summary, **series}
    history = [dict(r) for r in runs[:-1]]
    data = report_input(record, history, mode="review")
    data["history"].append({"run_id": current.run_id, "started_at": summary.get("started_at"),
                            "verdict": summary.get("verdict"), "metrics": dict(current.metrics)})
    return data


def review_report(engine: Engine, *, last: int, out_dir: Path, scenario: str | None = None,
                  plan_hash: str | None = None, pool: Executor | None = None) -> dict[str, Path]:
    data = review_data(engine, last=last, scenario=scenario, plan_hash=plan_hash, pool=pool)
    paths = dict(report.write_report(data, out_dir, pool))
    paths["summary"] = write_summary(data["summary"], out_dir)
    return paths
