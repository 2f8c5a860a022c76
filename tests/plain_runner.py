"""The chain's stages run plainly, for the tests of the chain: direct calls, and the load ∥ monitor on two threads.
No Prefect.

What the Prefect tasks add (retries, timeouts, artifacts, the UI's logs) is left out; the decisions are the
chain's either way (loadwatch.pipeline.chain). A sharded load needs the Dask runner of the Prefect flow
(tasks/shards.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

from loadwatch.config import Plan
from loadwatch.engine import LoadResult
from loadwatch.errors import InvalidInput
from loadwatch.notify.stage import notify_night
from loadwatch.observations import TargetStats
from loadwatch.observe.monitor import MonitorResult
from loadwatch.pipeline import capture, targets
from loadwatch.pipeline.ab_stage import run_ab_stage
from loadwatch.pipeline.chain import Stages
from loadwatch.pipeline.compare import compare_stage
from loadwatch.pipeline.load import run_capacity_stage, run_load_stage, run_monitor_stage
from loadwatch.pipeline.preflight import preflight_stage
from loadwatch.pipeline.save import store_record
from loadwatch.report import prometheus
from loadwatch.report.render import write_report

__all__ = ["Thread", "plain_stages"]

T = TypeVar("T")


class Thread(Generic[T]):
    """A function on its own thread, its value or exception kept for `result()` (chain.Running)."""

    def __init__(self, name: str, fn: Callable[[], T]) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._fn = fn
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc

    def wait(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set when no error was raised


def plain_stages(*, capacity: bool = True) -> Stages:
    """Runners that call each stage's core function directly; `capacity=False` leaves the capacity stage out."""

    def start_monitor(run: targets.RunTarget, stop: threading.Event, interval: float,
                      max_duration: float) -> Thread[MonitorResult]:
        return Thread("monitor", lambda: run_monitor_stage(run, stop, interval, max_duration))

    def start_load(plan: Plan, stop: threading.Event, workers: int | None, shards: int) -> Thread[LoadResult]:
        if shards > 1:
            raise InvalidInput("a sharded load runs on Dask: use the Prefect flow (`loadwatch run --shards`)",
                               source="parameters", field="shards")
        return Thread("load", lambda: run_load_stage(plan, stop, workers))

    def capture_before(run: targets.RunTarget, store_url: str, started_at: datetime) -> capture.Baseline:
        return capture.capture_before(run.plan, store_url=store_url, started_at=started_at,
                                      target_pids=run.target_pids(), target_database_url=run.database_url)

    def capture_after(run: targets.RunTarget, before: capture.Baseline) -> TargetStats:
        return capture.capture_after(run.plan, before, target_database_url=run.database_url,
                                     target_pids=run.target_pids())

    return Stages(
        preflight=preflight_stage,
        open_target=targets.open_target,
        capture_before=capture_before,
        start_monitor=start_monitor,
        start_load=start_load,
        capture_after=capture_after,
        compare=compare_stage,
        store=store_record,
        publish=prometheus.publish,
        notify=notify_night,
        report=write_report,
        capacity=run_capacity_stage if capacity else None,
        ab=run_ab_stage,
    )
