"""One task per pipeline stage: thin adapters over the stage's core function (loadwatch.pipeline). Policy
(retries, timeouts, caching) lives on the decorator, logging goes to the Prefect run logger; every decision between
the stages is the chain's (loadwatch.pipeline.chain). Measuring tasks use NO_CACHE: a measurement must never come
back `Cached`, and their inputs (events, handles) are not hashable."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, wait

from loadwatch import engine
from loadwatch.capacity.search import CapacityBlock
from loadwatch.config import Plan
from loadwatch.findings import AbBlock, Findings
from loadwatch.observations import TargetStats
from loadwatch.observe import monitor as mon
from loadwatch.pipeline import capture, preflight, targets
from loadwatch.pipeline.ab_stage import run_ab_stage
from loadwatch.pipeline.compare import compare_stage
from loadwatch.pipeline.load import run_capacity_stage, run_load_stage, run_monitor_stage
from loadwatch.pipeline.save import store_record
from loadwatch.record import RunRecord, RunSummary
from loadwatch.report import prometheus

__all__ = [
    "Submitted",
    "ab_task",
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

T = TypeVar("T")


class Submitted(Generic[T]):
    """A submitted task as the chain's `Running` (loadwatch.pipeline.chain)."""

    def __init__(self, future: PrefectFuture[T]) -> None:
        self._future = future

    def wait(self, timeout: float) -> bool:
        return not wait([self._future], timeout=timeout).not_done

    def result(self) -> T:
        return self._future.result()


@task(name="preflight", cache_policy=NO_CACHE, timeout_seconds=120)
def preflight_task(plan: Plan, store_url: str, out_dir: Path | None) -> preflight.Preflight:
    """Packages, host allow-list, disk, trend store reachable and migrated (spooled runs stored first)."""
    return preflight.preflight_stage(plan, store_url, out_dir, get_run_logger())


@task(name="open-target", cache_policy=NO_CACHE, retries=0)
def open_target_task(plan: Plan) -> targets.RunTarget:
    run = targets.open_target(plan)
    get_run_logger().info("target %s answered in %s ms", run.plan.target.url, run.reachability.get("ms"))
    return run


@task(name="baseline", cache_policy=NO_CACHE, timeout_seconds=120)
def capture_before_task(run: targets.RunTarget, store_url: str, started_at: datetime) -> capture.Baseline:
    before = capture.capture_before(
        run.plan,
        store_url=store_url,
        started_at=started_at,
        target_pids=run.target_pids(),
        target_database_url=run.database_url,
    )
    get_run_logger().info(
        "environment %s; %d comparable run(s) in history", before.environment.get("hash"), len(before.history)
    )
    return before


@task(name="load", cache_policy=NO_CACHE, retries=0)
def load_task(plan: Plan, stop: threading.Event, workers: int | None) -> engine.LoadResult:
    """Drives the load (spawned generator processes); always releases the monitor when it ends."""
    return run_load_stage(plan, stop, workers, get_run_logger())


@task(name="monitor", cache_policy=NO_CACHE, retries=0)
def monitor_task(
    run: targets.RunTarget, stop: threading.Event, interval: float, max_duration: float
) -> mon.MonitorResult:
    return run_monitor_stage(run, stop, interval, max_duration, get_run_logger())


@task(name="capacity", cache_policy=NO_CACHE, retries=0)
def capacity_task(run: targets.RunTarget, stop: threading.Event, workers: int | None) -> CapacityBlock:
    """The capacity search of the plan's `capacity:` section; never fails the run."""
    return run_capacity_stage(run, stop, workers, get_run_logger())


@task(name="ab", cache_policy=NO_CACHE, retries=0)
def ab_task(plan: Plan, stop: threading.Event) -> AbBlock:
    """The same-night A/B session of the plan's `ab:` section; never raises (a build that fails says so)."""
    return run_ab_stage(plan, stop, get_run_logger())


@task(name="target-stats", cache_policy=NO_CACHE, timeout_seconds=60)
def capture_after_task(run: targets.RunTarget, before: capture.Baseline) -> TargetStats:
    return capture.capture_after(run.plan, before, target_database_url=run.database_url,
                                 target_pids=run.target_pids())


@task(name="compare", cache_policy=NO_CACHE)
def compare_task(**kwargs: Any) -> Findings:
    findings = compare_stage(**kwargs)
    get_run_logger().info("verdict %s", findings.verdict)
    return findings


@task(name="store", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def store_task(record: RunRecord, store_url: str) -> str:
    """One idempotent write; a retry after a partial failure cannot duplicate the run."""
    return store_record(record, store_url)


@task(name="publish-metrics", cache_policy=NO_CACHE, timeout_seconds=30)
def publish_metrics_task(summary: RunSummary) -> list[str]:
    """Prometheus exposition (textfile collector and/or Pushgateway) when configured; never fails the run."""
    return prometheus.publish(summary)
