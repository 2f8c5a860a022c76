"""One task per stage of the chain (loadwatch.pipeline.chain.Stages): a declaration around the stage's core function,
named like the chain's stage, with the policy (retries, timeouts, caching) on the declaration and nothing else.
The core logs to its module loggers, which reach the run's logs through Prefect's extra-loggers setting
(loadwatch.prefect_adapter.environment); every decision between the stages is the chain's. Measuring tasks use
NO_CACHE: a measurement must never come back `Cached`, and their inputs (events, handles) are not hashable.

The two capture stages take the chain's arguments (the target a stage opened) and hand the core function what it
reads of them."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, wait

from loadwatch.observations import TargetStats
from loadwatch.pipeline import capture, preflight, targets
from loadwatch.pipeline.ab_stage import run_ab_stage
from loadwatch.pipeline.compare import compare_stage
from loadwatch.pipeline.load import run_capacity_stage, run_load_stage, run_monitor_stage
from loadwatch.pipeline.save import store_record
from loadwatch.record import RunSummary
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


preflight_task = task(name="preflight", cache_policy=NO_CACHE, timeout_seconds=120)(preflight.preflight_stage)
open_target_task = task(name="open-target", cache_policy=NO_CACHE, retries=0)(targets.open_target)


@task(name="capture-before", cache_policy=NO_CACHE, timeout_seconds=120)
def capture_before_task(run: targets.RunTarget, store_url: str, started_at: datetime) -> capture.Baseline:
    return capture.capture_before(run.plan, store_url=store_url, started_at=started_at,
                                  target_pids=run.target_pids(), target_database_url=run.database_url)


# the load always releases the monitor when it ends; neither is retried (a retried load skews the measurement)
load_task = task(name="load", cache_policy=NO_CACHE, retries=0)(run_load_stage)
monitor_task = task(name="monitor", cache_policy=NO_CACHE, retries=0)(run_monitor_stage)
# the capacity search of the plan's `capacity:` section; never fails the run
capacity_task = task(name="capacity", cache_policy=NO_CACHE, retries=0)(run_capacity_stage)


# the same-night A/B session of the plan's `ab:` section; never raises (a build that fails says so)
ab_task = task(name="ab", cache_policy=NO_CACHE, retries=0)(run_ab_stage)


@task(name="capture-after", cache_policy=NO_CACHE, timeout_seconds=60)
def capture_after_task(run: targets.RunTarget, before: capture.Baseline) -> TargetStats:
    return capture.capture_after(run.plan, before, target_database_url=run.database_url,
                                 target_pids=run.target_pids())


compare_task = task(name="compare", cache_policy=NO_CACHE)(compare_stage)
# one idempotent write: a retry after a partial failure cannot duplicate the run
store_task = task(name="store", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)(store_record)


# Prometheus exposition (textfile collector and/or Pushgateway) when configured; never fails the run. Declared here
# to take the run's typed summary only (the core function also takes a stored summary's JSON).
@task(name="publish", cache_policy=NO_CACHE, timeout_seconds=30)
def publish_metrics_task(summary: RunSummary) -> list[str]:
    return prometheus.publish(summary)
