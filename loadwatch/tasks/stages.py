"""One task per pipeline stage. Each calls one core function; policy (retries, timeouts, caching) lives
on the decorator. Measuring tasks use NO_CACHE: a measurement must never come back `Cached`, and their
inputs (events, handles) are not hashable."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from loadwatch import engine, store
from loadwatch.config import Plan
from loadwatch.errors import StoreUnavailable
from loadwatch.pipeline import capacity, capture, preflight, prometheus, targets
from loadwatch.pipeline import monitor as mon
from loadwatch.pipeline.compare import compare_stage
from loadwatch.store.embedded import redact_url

__all__ = [
    "capacity_task",
    "capture_after_task",
    "capture_before_task",
    "compare_task",
    "load_task",
    "monitor_task",
    "open_target_task",
    "preflight_task",
    "publish_metrics_task",
    "store_task",
]


@task(name="preflight", cache_policy=NO_CACHE, timeout_seconds=120)
def preflight_task(plan: Plan, store_url: str, out_dir: Path | None) -> dict[str, Any]:
    """Packages, host allow-list, disk, trend store reachable and migrated (spooled runs stored first)."""
    log = get_run_logger()
    info = preflight.preflight_static(plan, out_dir=out_dir)
    engine_ = store.connect(store_url)
    try:
        flushed = store.flush(engine_)
    finally:
        engine_.dispose()
    if flushed:
        log.info("stored %d spooled run(s) first: %s", len(flushed), ", ".join(flushed))
    log.info("preflight ok; store %s", redact_url(store_url))
    return {**info, "flushed": flushed}


@task(name="open-target", cache_policy=NO_CACHE, retries=0)
def open_target_task(plan: Plan) -> targets.RunTarget:
    run = targets.open_target(plan)
    get_run_logger().info("target %s answered in %s ms", run.plan.target.url, run.reachability.get("ms"))
    return run


@task(name="baseline", cache_policy=NO_CACHE, timeout_seconds=120)
def capture_before_task(run: targets.RunTarget, store_url: str, started_at: datetime) -> dict[str, Any]:
    before = capture.capture_before(
        run.plan,
        store_url=store_url,
        started_at=started_at,
        target_pids=run.target_pids(),
        target_database_url=run.database_url,
    )
    get_run_logger().info(
        "environment %s; %d comparable run(s) in history", before["environment"]["hash"], len(before["history"])
    )
    return before


@task(name="load", cache_policy=NO_CACHE, retries=0)
def load_task(plan: Plan, stop: threading.Event, workers: int | None) -> engine.LoadResult:
    """Drives the load (spawned generator processes); always releases the monitor when it ends."""
    log = get_run_logger()

    def progress(p: dict[str, Any]) -> None:
        if int(p.get("elapsed", 0)) % 5 == 0:
            log.info("%s %.0f/%.0f s: %d requests, %d errors", p.get("phase"), p.get("elapsed", 0),
                     p.get("duration", 0), p.get("requests", 0), p.get("errors", 0))

    try:
        result = engine.run_load(plan, workers=workers, stop=stop, progress=progress)
    finally:
        stop.set()
    s = result.summary
    log.info("load done: %d requests, %.1f req/s, p95 %.2f ms, %d errors", s["requests"], s["rps"],
             (s.get("latency_ms") or {}).get("p95") or 0.0, s["errors"])
    return result


@task(name="monitor", cache_policy=NO_CACHE, retries=0)
def monitor_task(
    run: targets.RunTarget, stop: threading.Event, interval: float, max_duration: float
) -> mon.MonitorResult:
    monitor = mon.Monitor(targets.monitor_groups(run), interval=interval, database_url=run.database_url)
    result = monitor.run(stop, max_duration=max_duration)
    get_run_logger().info("monitor: %d samples", len(result.samples))
    return result


@task(name="capacity", cache_policy=NO_CACHE, retries=0)
def capacity_task(run: targets.RunTarget, stop: threading.Event, workers: int | None) -> dict[str, Any]:
    """The capacity search of the plan's `capacity:` section (bounded by its budget); never fails the run: a search
    that ends without a number says why in its `outcome` and `reason`."""
    log = get_run_logger()
    spec = run.plan.capacity
    assert spec is not None  # the flow calls this only for a plan with a capacity section

    def progress(p: dict[str, Any]) -> None:
        if p["event"] == "step":
            s = p["step"]
            log.info("capacity step %s %.1f req/s: p99 %s ms, errors %.2f%%, %s", s.kind, s.rate, s.p99, s.error_rate,
                     "ok" if s.passed else "breach")

    result = capacity.find_capacity(run.plan, spec, workers=workers, stop=stop, progress=progress,
                                    cpu_probe=capacity.process_cpu_probe(run.target_pids))
    log.info("capacity %s: %s", result.outcome, result.reason)
    return result.to_dict()


@task(name="target-stats", cache_policy=NO_CACHE, timeout_seconds=60)
def capture_after_task(run: targets.RunTarget, before: dict[str, Any]) -> dict[str, Any]:
    return capture.capture_after(run.plan, before, target_database_url=run.database_url,
                                 target_pids=run.target_pids())


@task(name="compare", cache_policy=NO_CACHE)
def compare_task(**kwargs: Any) -> dict[str, Any]:
    findings = compare_stage(**kwargs)
    get_run_logger().info("verdict %s", findings["verdict"])
    return findings


@task(name="store", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def store_task(record: dict[str, Any], store_url: str) -> str:
    """One idempotent write; a retry after a partial failure cannot duplicate the run."""
    engine_ = store.connect(store_url)
    try:
        with store.map_db_errors(store_url):
            store.save_run(engine_, record)
    finally:
        engine_.dispose()
    return str(record["summary"]["run_id"])


@task(name="publish-metrics", cache_policy=NO_CACHE, timeout_seconds=30)
def publish_metrics_task(summary: dict[str, Any]) -> list[str]:
    """Prometheus exposition (textfile collector and/or Pushgateway) when configured; never fails the run."""
    return prometheus.publish(summary)


def spool_after_failure(record: dict[str, Any], exc: BaseException) -> StoreUnavailable:
    path = store.spool_write(record)
    return StoreUnavailable(
        f"the trend store failed ({getattr(exc, 'message', exc)}); the complete result is kept in {path} and will "
        "be stored by the next run or by `loadwatch store flush`"
    )
