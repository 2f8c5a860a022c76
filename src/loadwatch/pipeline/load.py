"""The load stage and the monitor beside it: the measurement of the night.

The load (loadwatch.engine, spawned generator processes) and the monitor (loadwatch.observe.monitor, sampling the
target's, the database's, the generator's and the host's processes) run side by side on one `stop` event: the
load sets it when it ends, which releases the monitor; SIGINT/SIGTERM set it too (the chain polls
loadwatch.infra.interrupts). Running them side by side is the stage runner's business (Prefect tasks in
tasks, threads in the tests' plain runner, tests/plain_runner.py); fanning the load out over machines is
tasks/shards.py (Dask). The capacity search (the plan's `capacity:` section) is a series of such loads
after the fixed-rate one."""

from __future__ import annotations

import logging
import threading
from typing import Any

from loadwatch import engine
from loadwatch.capacity import stepper as capacity
from loadwatch.config import Plan
from loadwatch.load_shapes import CapacityBlock
from loadwatch.observe import monitor as mon
from loadwatch.pipeline import targets

__all__ = ["PROGRESS_EVERY_S", "run_capacity_stage", "run_load_stage", "run_monitor_stage"]

PROGRESS_EVERY_S = 5  # a progress line every this many seconds of load
# a flow run's logs get these lines through PREFECT_LOGGING_EXTRA_LOGGERS=loadwatch (loadwatch.prefect_adapter)
log = logging.getLogger(__name__)


def run_load_stage(
    plan: Plan, stop: threading.Event, workers: int | None
) -> engine.LoadResult:
    """Drive the plan's load to its end (or until `stop`); always sets `stop` when it ends, releasing the monitor."""

    def progress(p: dict[str, Any]) -> None:
        if int(p.get("elapsed", 0)) % PROGRESS_EVERY_S == 0:
            log.info("%s %.0f/%.0f s: %d requests, %d errors", p.get("phase"), p.get("elapsed", 0),
                     p.get("duration", 0), p.get("requests", 0), p.get("errors", 0))

    try:
        # on a whole second: its windows then end where the monitor reads the statements' calls (METHOD.md §9)
        result = engine.run_load(plan, workers=workers, stop=stop, progress=progress, whole_second=True)
    finally:
        stop.set()
    s = result.summary
    log.info("load done: %d requests, %.1f req/s, p95 %.2f ms, %d errors", s["requests"], s["rps"],
             (s.get("latency_ms") or {}).get("p95") or 0.0, s["errors"])
    return result


def run_monitor_stage(
    run: targets.RunTarget,
    stop: threading.Event,
    interval: float,
    max_duration: float,
) -> mon.MonitorResult:
    """Sample the run's process groups every `interval` seconds until `stop` (bounded by `max_duration`)."""
    monitor = mon.Monitor(targets.monitor_groups(run), interval=interval, database_url=run.database_url)
    result = monitor.run(stop, max_duration=max_duration)
    log.info("monitor: %d samples", len(result.samples))
    return result


def run_capacity_stage(
    run: targets.RunTarget, stop: threading.Event, workers: int | None
) -> CapacityBlock:
    """The capacity search of the plan's `capacity:` section (bounded by its budget); never fails the run: a search
    that ends without a number says why in its `outcome` and `reason`."""
    spec = run.plan.capacity
    if spec is None:
        raise ValueError("the capacity stage needs a plan with a capacity: section")

    def progress(p: dict[str, Any]) -> None:
        if p["event"] == "step":
            s = p["step"]
            log.info("capacity step %s %.1f req/s: p99 %s ms, errors %.2f%%, %s", s.kind, s.rate, s.p99, s.error_rate,
                     "ok" if s.passed else "breach")

    result = capacity.find_capacity(run.plan, spec, workers=workers, stop=stop, progress=progress,
                                    cpu_probe=capacity.process_cpu_probe(run.target_pids))
    log.info("capacity %s: %s", result.outcome, result.reason)
    return result.to_dict()
