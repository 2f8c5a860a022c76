"""loadwatch-nightly: preflight → baseline → load ∥ monitor → compare → store → report.

Composition only: every stage is a task in loadwatch.tasks over a core function in loadwatch. The flow
ends Failed on a regression or a breached threshold (the verdict), Completed otherwise."""

# No `from __future__ import annotations` here: `flow.serve` cloudpickles the flow into a spawned process,
# where string annotations cannot be resolved and Prefect rejects the parameters ("not fully defined").
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from prefect import flow, get_run_logger, runtime
from prefect.client.schemas.objects import State
from prefect.futures import wait
from prefect.states import Completed, Failed
from pydantic import Field

from loadwatch.errors import LoadwatchError, TargetUnavailable
from loadwatch.infra import interrupts
from loadwatch.params import RunParams, resolve_plan
from loadwatch.pipeline.record import RecordContext, build_record, new_run_id, report_input, write_summary
from loadwatch.store import embedded, resolve_database_url
from loadwatch.store.lock import target_lock
from loadwatch.tasks.report import report_task
from loadwatch.tasks.shards import sharded_load
from loadwatch.tasks.stages import (
    capacity_task,
    capture_after_task,
    capture_before_task,
    compare_task,
    load_task,
    monitor_task,
    open_target_task,
    preflight_task,
    publish_metrics_task,
    spool_after_failure,
    store_task,
)
from loadwatch.vocabulary import FAILING_VERDICTS

TARGET_FAILURES = (
    "connect_refused", "connection_reset", "connect_timeout", "read_timeout", "protocol_error", "dropped",
)
MONITOR_GRACE_S = 60.0
LOCK_WAIT_S = float(os.environ.get("LOADWATCH_LOCK_WAIT_S", "600"))  # a nightly run waits for a CI run, then refuses


def default_out_dir(run_id: str) -> Path:
    return embedded.data_dir() / "reports" / run_id


def _p(name: str, *, nullable: bool = False) -> Any:
    """Title, description and bounds of a parameter, from RunParams: one definition for the CLI, the flow and
    the Prefect UI form (flat parameters, so `prefect deployment run ... --param duration=5` works)."""
    f = RunParams.model_fields[name]
    annotation = f.annotation | None if nullable else f.annotation  # type: ignore[operator]
    return Annotated[annotation, *f.metadata, Field(title=f.title, description=f.description,
                                                     json_schema_extra=f.json_schema_extra)]


def _args_doc(names: list[str]) -> str:
    """A Google-style Args section from RunParams: Prefect takes flat parameters' descriptions from it."""
    lines = ["Run the nightly chain once.", "", "Args:"]
    for name in names:
        f = RunParams.model_fields[name]
        lines.append(f"    {name}: {f.title}. {f.description or ''}".rstrip())
    return "\n".join(lines)


def _nightly(
    plan: _p("plan") = None,  # type: ignore[valid-type]
    duration: _p("duration") = None,  # type: ignore[valid-type]
    rate: _p("rate") = None,  # type: ignore[valid-type]
    users: _p("users") = None,  # type: ignore[valid-type]
    warmup: _p("warmup") = None,  # type: ignore[valid-type]
    target_url: _p("target_url") = None,  # type: ignore[valid-type]
    thresholds: _p("thresholds") = None,  # type: ignore[valid-type]
    workers: _p("workers") = None,  # type: ignore[valid-type]
    shards: _p("shards") = 1,  # type: ignore[valid-type]
    out_dir: _p("out_dir") = None,  # type: ignore[valid-type]
    notes: _p("notes") = None,  # type: ignore[valid-type]
    tags: _p("tags", nullable=True) = None,  # type: ignore[valid-type]
    trigger: _p("trigger") = "ui",  # type: ignore[valid-type]
    capacity: _p("capacity") = True,  # type: ignore[valid-type]
) -> State[Any]:
    params = RunParams(
        plan=plan, duration=duration, rate=rate, users=users, warmup=warmup, target_url=target_url,
        thresholds=thresholds, workers=workers, shards=shards, out_dir=out_dir, notes=notes, tags=tags or [],
        trigger=trigger, capacity=capacity,
    )
    return run_nightly(params)


_nightly.__doc__ = _args_doc(list(RunParams.model_fields))
nightly = flow(name="loadwatch-nightly", description=__doc__, log_prints=False)(_nightly)


def run_nightly(params: RunParams) -> State[Any]:
    """The flow's body, on one validated parameter model."""
    log = get_run_logger()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    plan = resolve_plan(params)
    started_at = datetime.now(UTC)
    run_id = new_run_id(started_at)
    out_dir = Path(params.out_dir) if params.out_dir else default_out_dir(run_id)
    flow_run_id = str(runtime.flow_run.id) if runtime.flow_run.id else None
    common = RecordContext(trigger=params.trigger, flow_run_id=flow_run_id, notes=params.notes, tags=params.tags)
    log.info("run %s: plan %s (%s), out %s", run_id, plan.name, plan.plan_hash(), out_dir)

    store_url = resolve_database_url()
    preflight_task(plan, store_url, out_dir)
    lap("preflight")

    try:
        run = open_target_task(plan)
    except TargetUnavailable as exc:
        # recorded as a failed preflight, not as a measurement
        record = build_record(run_id=run_id, started_at=started_at, finished_at=datetime.now(UTC),
                              status="failed_preflight", plan=plan, environment={}, load=None, monitor=None,
                              target_stats={}, findings={"verdict": "failed", "verdict_reasons": [exc.message]},
                              timings=timings, context=common)
        write_summary(record["summary"], out_dir)
        try:
            store_task(record, store_url)
        except Exception as store_exc:
            raise spool_after_failure(record, store_exc) from exc
        raise
    lap("target")
    capacity: dict[str, Any] | None = None
    try:
        before = capture_before_task(run, store_url, started_at)
        lap("baseline")
        stop = threading.Event()  # set by the load when it ends (releases the monitor) or on SIGINT/SIGTERM
        max_duration = run.plan.load.total_duration + MONITOR_GRACE_S
        # one load at a time per target; the lock is held by this process's session until the load ends
        with target_lock(store_url, plan.target.url, run_id=run_id, wait_s=LOCK_WAIT_S):
            lap("lock")
            mon_f = monitor_task.submit(run, stop, run.plan.monitor.interval, max_duration)
            if params.shards > 1:
                load_result = sharded_load(run.plan, stop, params.shards, params.workers)
            else:
                load_f = load_task.submit(run.plan, stop, params.workers)
                while wait([load_f], timeout=0.2).not_done:
                    if interrupts.requested():
                        stop.set()
                load_result = load_f.result()
            stop.set()
            monitor_result = mon_f.result()
        lap("load")
        after = capture_after_task(run, before)
        # the capacity stage (the plan's `capacity:` section) after the fixed-rate load and its target counters, on
        # the same target under the same lock; not after an interrupt
        if run.plan.capacity is not None and not interrupts.requested():
            with target_lock(store_url, plan.target.url, run_id=run_id, wait_s=LOCK_WAIT_S):
                capacity = capacity_task(run, interrupts.STOP, params.workers)
            lap("capacity")
    finally:
        run.stop()
    aborted = interrupts.requested()
    findings = compare_task(
        run_id=run_id,
        started_at=started_at,
        # target_stats and environment too: the attribution normalises their counters per request
        summary={"load": load_result.summary, "resources": monitor_result.summary(), "probe": after.get("probe"),
                 "target_stats": after, "environment": before["environment"],
                 **({"capacity": capacity} if capacity is not None else {})},
        histograms=load_result.histograms,
        history=before["history"],
        threshold_exprs=list(run.plan.thresholds),
        plan_source=params.plan or "plans/tool_catalog.yaml",
    )
    if aborted:
        findings = {**findings, "verdict": "aborted", "verdict_reasons": ["interrupted (SIGINT/SIGTERM)"]}
    warnings = []
    failures = {k: v for k, v in (load_result.summary.get("errors_by_kind") or {}).items() if k in TARGET_FAILURES}
    if failures:
        counts = ", ".join(f"{v.get('count', 0)} {k}" for k, v in failures.items())
        warnings.append(f"the target failed during the run ({counts}): it died, stalled or refused connections")
    if before["idle"].get("busy"):
        warnings.append(f"the target was busy before load ({before['idle'].get('cpu_percent')} % CPU)")
    lap("compare")
    record = build_record(
        run_id=run_id, started_at=started_at, finished_at=datetime.now(UTC),
        status="aborted" if aborted else "completed", plan=run.plan, environment=before["environment"],
        load=load_result, monitor=monitor_result, target_stats=after, findings=findings, timings=timings,
        warnings=warnings, context=common,
    )
    if capacity is not None:
        record["summary"]["capacity"] = capacity  # measures.run_metrics makes capacity_rps a metric of the run
    store_error: LoadwatchError | None = None
    try:
        store_task(record, store_url)
    except Exception as exc:
        store_error = spool_after_failure(record, exc)
    lap("store")
    publish_metrics_task(record["summary"])
    lap("publish")
    record["summary"]["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    report_task(report_input(record, before["history"]), out_dir)
    if store_error is not None:
        raise store_error
    verdict = record["summary"]["verdict"]
    message = f"{verdict}: " + "; ".join(record["summary"]["verdict_reasons"][:5]) if record["summary"][
        "verdict_reasons"] else verdict
    if verdict in FAILING_VERDICTS:
        return Failed(message=message, data=record["summary"])
    return Completed(message=message, data=record["summary"])


if __name__ == "__main__":
    nightly()
