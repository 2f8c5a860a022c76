"""The nightly chain, without Prefect: every decision of a night in one function, `run_chain`.

    preflight → open target → capture before → [target lock: load ∥ monitor → capture after
    → capacity (optional, same lock)] → compare → store (or spool) → publish metrics → notify → report

`run_chain` is given one runner per stage (`Stages`): the Prefect flow (flows/nightly.py) passes its
tasks (retries, timeouts, logging to the Prefect UI; tasks/), the tests pass plain
calls and threads. Whatever runs the stages, the chain decides the same things here, once:

- a target that cannot be reached is recorded as a failed preflight (`status: failed_preflight`, verdict `failed`),
  stored (or spooled), and `TargetUnavailable` raised (exit 3);
- one load at a time per target: the load ∥ monitor and the capacity search hold the target's lock
  (loadwatch.store.lock);
- SIGINT/SIGTERM (loadwatch.infra.interrupts) stop the load and the monitor; what was measured is recorded with the
  verdict `aborted` (exit 130) and no capacity search follows;
- the warnings of the night (the target failed under load, it was busy before the load);
- the timings of each stage (`timings_s`), and the default output directory;
- a store that fails spools the record, the report is still written, then `StoreUnavailable` is raised (exit 3); a
  store that went away during the load takes the target's lock with it: the capacity search is then skipped with its
  reason (`capacity.outcome: skipped`) and every later stage runs without the store.

It returns the run's typed summary (`RunSummary`): its verdict maps to the exit code and to the flow's final state
(`RunSummary.exit_code`, `.failing`, `.message`, `.raise_for_verdict()`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from loadwatch.capacity.search import skipped_capacity
from loadwatch.changes import OpenChange
from loadwatch.config import Plan
from loadwatch.engine import LoadResult
from loadwatch.errors import Interrupted, InvalidInput, LoadwatchError, StoreUnavailable, TargetUnavailable
from loadwatch.findings import AbBlock, Findings
from loadwatch.infra import interrupts
from loadwatch.load_shapes import CapacityBlock, LoadSummary
from loadwatch.metrics import Measured, run_metrics, with_capacity
from loadwatch.notify.stage import NotifyInput, NotifyOutcome, night_input, unmeasured_input
from loadwatch.observations import IdleCheck, TargetStats
from loadwatch.observe import contention
from loadwatch.observe.monitor import MonitorResult
from loadwatch.params import RunParams, resolve_plan
from loadwatch.pipeline import ownership
from loadwatch.pipeline.ab_stage import judge_with_ab
from loadwatch.pipeline.capture import Baseline
from loadwatch.pipeline.compare import gate_config, new_regressions
from loadwatch.pipeline.confirm import SecondLoad
from loadwatch.pipeline.open_changes import OpenChangesPolicy
from loadwatch.pipeline.preflight import Preflight
from loadwatch.pipeline.save import store_or_spool
from loadwatch.pipeline.targets import RunTarget
from loadwatch.record import (
    RecordContext,
    ReportInput,
    RunRecord,
    RunSummary,
    build_record,
    new_run_id,
    report_input,
    write_summary,
)
from loadwatch.revision import Revision, main_line, resolve_revision
from loadwatch.settings import data_dir, settings
from loadwatch.stats.model import GateConfig
from loadwatch.store import resolve_database_url
from loadwatch.store.lock import TargetLock, target_lock
from loadwatch.store.repo import HistoryPoint

__all__ = [
    "DEFAULT_PLAN_SOURCE",
    "MONITOR_GRACE_S",
    "TARGET_FAILURES",
    "CompareRunner",
    "Done",
    "Running",
    "Stages",
    "default_out_dir",
    "night_warnings",
    "run_chain",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

# error kinds of the load (engine.client) that mean the target itself failed: it died, stalled or refused
TARGET_FAILURES = (
    "connect_refused", "connection_reset", "connect_timeout", "read_timeout", "protocol_error", "dropped",
)
MONITOR_GRACE_S = 60.0  # the monitor's bound beyond the load's duration (it normally ends with the load)
DEFAULT_PLAN_SOURCE = "plans/tool_catalog.yaml"
POLL_S = 0.2  # how often the chain looks for an interrupt while the load runs
# a flow run's logs get these lines through PREFECT_LOGGING_EXTRA_LOGGERS=loadwatch (loadwatch.prefect_adapter)
log = logging.getLogger(__name__)


class Running(Protocol[T_co]):
    """A stage started in the background (a Prefect future, a thread)."""

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds; whether it has finished."""

    def result(self) -> T_co:
        """Its value (waiting for it), or its exception raised."""


@dataclass(frozen=True)
class Done(Generic[T]):
    """A stage that finished before it was handed over (the sharded load returns when every shard has)."""

    value: T

    def wait(self, timeout: float) -> bool:
        return True

    def result(self) -> T:
        return self.value


class CompareRunner(Protocol):
    """The compare stage's runner: the keywords the chain gives pipeline.compare.compare_stage."""

    def __call__(self, *, run_id: str, started_at: datetime, summary: Measured,
                 metrics: Mapping[str, Mapping[str, float]] | None, histograms: Mapping[str, Mapping[str, str]],
                 history: Sequence[HistoryPoint], threshold_exprs: Sequence[str], plan_source: str,
                 commit: str | None, changes: Sequence[OpenChange] | None, policy: OpenChangesPolicy,
                 second: SecondLoad | None, config: GateConfig) -> Findings:
        """The night's findings."""


@dataclass(frozen=True)
class Stages:
    """One runner per stage, in the order the chain calls them. Each wraps one core function; the chain gives
    them their inputs and keeps every decision between them."""

    # (plan, store_url, out_dir) -> info: pipeline.preflight.preflight_stage
    preflight: Callable[[Plan, str, Path | None], Preflight]
    # (plan) -> the started or reached target: pipeline.targets.open_target (raises TargetUnavailable)
    open_target: Callable[[Plan], RunTarget]
    # (run, store_url, started_at) -> environment, history, idle, counters: pipeline.capture.capture_before
    capture_before: Callable[[RunTarget, str, datetime], Baseline]
    # (run, stop, interval, max_duration) -> started monitor: pipeline.load.run_monitor_stage
    start_monitor: Callable[[RunTarget, threading.Event, float, float], Running[MonitorResult]]
    # (plan, stop, workers, shards) -> started load: pipeline.load.run_load_stage (sets `stop` when it ends)
    start_load: Callable[[Plan, threading.Event, int | None, int], Running[LoadResult]]
    # (run, before) -> the target's counters after the load: pipeline.capture.capture_after
    capture_after: Callable[[RunTarget, Baseline], TargetStats]
    # (keywords: the measurement, its metric vector, the history, ...) -> findings: pipeline.compare.compare_stage
    compare: CompareRunner
    # (record, store_url) -> run id: pipeline.save.store_record (raises on failure; the chain spools)
    store: Callable[[RunRecord, str], str]
    # (summary) -> where it went: report.prometheus.publish (never fails the run)
    publish: Callable[[RunSummary], list[str]]
    # (report input, out_dir) -> the files by kind: report.render.write_report (report.html, report.md, summary.json)
    report: Callable[[ReportInput, Path], Mapping[str, str | Path]]
    # (run, stop, workers) -> capacity block: loadwatch.capacity.stepper.find_capacity; None = no capacity stage
    capacity: Callable[[RunTarget, threading.Event, int | None], CapacityBlock] | None = None
    # (what to tell, store_url) -> outcome: notify.stage.notify_night (never raises); None = no notifications
    notify: Callable[[NotifyInput, str], NotifyOutcome] | None = None
    # (plan, stop) -> A/B block: pipeline.ab_stage.run_ab_stage (never raises); None = no A/B stage
    ab: Callable[[Plan, threading.Event], AbBlock] | None = None


class _Laps:
    """Seconds per stage, in the order they ran (summary.json's `timings_s`). A lap is named like its stage (the
    `Stages` field, the task's name with `_` for `-`), except two: `load` times the load ∥ monitor (`start_load`,
    `start_monitor`), `confirm` the confirmation load ∥ monitor (the same runners again, when a new regression must
    show twice), and `lock` the wait for the target's lock, which is the chain's, not a stage. The report stage
    has no lap: it writes the summary.json that would hold it. Keys of earlier versions are renamed where a record is
    read (loadwatch.record.OLD_LAP_KEYS)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._clock = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = now - self._clock
        self._clock = now


def default_out_dir(run_id: str) -> Path:
    """Where a run's report goes without --out: <data dir>/reports/<run id>."""
    return data_dir() / "reports" / run_id


def night_warnings(load: LoadSummary, idle: IdleCheck) -> list[str]:
    """What the verdict does not say but a reader must know: the target failed under load, or was busy before."""
    warnings = []
    failures = {k: v for k, v in (load.get("errors_by_kind") or {}).items() if k in TARGET_FAILURES}
    if failures:
        counts = ", ".join(f"{v.get('count', 0)} {k}" for k, v in failures.items())
        warnings.append(f"the target failed during the run ({counts}): it died, stalled or refused connections")
    if idle.get("busy"):
        warnings.append(f"the target was busy before load ({idle.get('cpu_percent')} % CPU)")
    return warnings + _state_warnings(load)


def _state_warnings(load: LoadSummary) -> list[str]:
    """A data source that ran out, sessions that could not log in or renew: the load was not what the plan said."""
    out = []
    for name, use in (load.get("data") or {}).items():
        if use.get("exhausted"):
            what = ("the processes that ran out stopped sending" if use.get("on_exhausted") == "stop"
                    else f"it started over {use.get('wraps')} time(s), so rows were used again")
            out.append(f"data source {name!r} ({use.get('strategy')}, {use.get('rows')} rows) ran out "
                       f"{use.get('exhausted_at_s')} s into the run: {what}")
    s = load.get("sessions")
    if s and (s.get("login_failures") or s.get("refresh_failures")):
        out.append(f"sessions: {s.get('login_failures')} of {s.get('logins')} logins and {s.get('refresh_failures')} "
                   f"of {s.get('refreshes')} renewals failed; the requests that needed them were not sent "
                   "(errors session_login, session_refresh)")
    return out


def _measure(
    stages: Stages, run: RunTarget, params: RunParams, laps: _Laps
) -> tuple[LoadResult, MonitorResult]:
    """The load ∥ the monitor (under the target's lock, held by the caller); an interrupt stops both, keeping what
    was measured."""
    stop = threading.Event()  # set by the load when it ends (releases the monitor) or on SIGINT/SIGTERM
    max_duration = run.plan.load.total_duration + MONITOR_GRACE_S
    monitor = stages.start_monitor(run, stop, run.plan.monitor.interval, max_duration)
    try:
        load = stages.start_load(run.plan, stop, params.workers, params.shards)
        while not load.wait(POLL_S):
            if interrupts.requested():
                stop.set()
        load_result = load.result()
    finally:
        stop.set()  # also when the load failed: the monitor must not run on to its bound
    return load_result, _with_requests(monitor.result(), load_result)


def _with_requests(monitor: MonitorResult, load: LoadResult) -> MonitorResult:
    """The load's requests in the monitor's intervals beside its statements' calls: what tells whose statement is
    whose within the night (loadwatch.pipeline.ownership, docs/METHOD.md §9)."""
    block = monitor.statement_intervals
    if block is not None and block.get("t"):
        block["requests"] = ownership.align_requests(block["t"], block["interval_s"], load.windows)
    return monitor


def _judge_contention(after: TargetStats, load: LoadSummary) -> TargetStats:
    """The busy-machine rule weighs the target's queueing against the load's requests and latency: judged here,
    where both are known (loadwatch.observe.contention.judge)."""
    readings = after.get("contention")
    if readings is None:
        return after
    requests = int(load.get("sends") or load.get("requests") or 0)  # the window holds the warm-up's sends too
    mean = (load.get("latency_ms") or {}).get("mean")
    judged: TargetStats = {**after, "contention": contention.judge(readings, requests=requests, mean_latency_ms=mean)}
    return judged


def _measured(load: LoadResult, monitor: MonitorResult, after: TargetStats, before: Baseline) -> Measured:
    # target_stats and environment too: the attribution normalises their counters per request
    return {"load": dict(load.summary), "resources": monitor.summary(), "probe": before.probe,
            "target_stats": after, "environment": before.environment}


def _confirm(stages: Stages, run: RunTarget, params: RunParams, laps: _Laps, *, run_id: str, started_at: datetime,
             before: Baseline, first: tuple[LoadResult, Measured, dict[str, dict[str, float]]]) -> SecondLoad | None:
    """The confirmation load (loadwatch.pipeline.confirm, docs/METHOD.md §3.7): when the first load's gate rows would
    open a new change, the same load runs once more, at once and under the same lock, and the compare stage keeps
    only what it reproduces. Not after an interrupt, nor when the plan says `verdict: {confirm: false}`."""
    if not run.plan.verdict.confirm or interrupts.requested():
        return None
    load_result, measured, metrics = first
    series = new_regressions(run_id=run_id, started_at=started_at, summary=measured, metrics=metrics,
                             histograms=load_result.histograms, history=before.history, changes=before.changes,
                             config=gate_config(run.plan.verdict))
    if not series:
        return None
    log.info("new regression(s) %s: loading the target once more to confirm them",
             ", ".join(f"{s} {m}" for s, m in series))
    t0 = time.perf_counter()
    try:
        load, monitor = _measure(stages, run, params, laps)
    except LoadwatchError as exc:
        return SecondLoad(series=series, why_not=f"the second load failed: {exc.message}")
    finally:
        laps("confirm")
    elapsed = time.perf_counter() - t0
    if interrupts.requested():
        return SecondLoad(series=series, duration_s=elapsed, why_not="interrupted")
    again: Measured = {"load": dict(load.summary), "resources": monitor.summary(), "probe": before.probe,
                       "environment": before.environment}
    why_not = ("its generator could not keep up (generator-bound)" if load.summary.get("generator_bound")
               else None)
    return SecondLoad(series=series, metrics=run_metrics(again), histograms=load.histograms, load=load.summary,
                      duration_s=elapsed, why_not=why_not)


def _capacity(stages: Stages, run: RunTarget, lock: TargetLock, params: RunParams) -> CapacityBlock | None:
    """The capacity stage (the plan's `capacity:` section) after the fixed-rate load, on the same target under the
    same lock; not after an interrupt. The lock lives in the trend store: a store that went away during the load took
    it along, and a search without it could overlap another run's load, so the stage is skipped, saying why, unless
    the lock can be taken again at once. The night's measurements never wait for the store."""
    if stages.capacity is None or run.plan.capacity is None or interrupts.requested():
        return None
    try:
        lock.retake(wait_s=0)
    except LoadwatchError as exc:  # the store is away (StoreUnavailable), or another run took the target meanwhile
        reason = (f"capacity search skipped: the target's lock was lost during the load and could not be taken "
                  f"again ({exc.message}); a search without it could overlap another run's load")
        log.warning("%s", reason)
        return skipped_capacity(run.plan.capacity, reason).to_dict()
    return stages.capacity(run, interrupts.STOP, params.workers)


def _failed_preflight(
    stages: Stages, exc: TargetUnavailable, *, run_id: str, started_at: datetime, plan: Plan, context: RecordContext,
    timings: Mapping[str, float], out_dir: Path, store_url: str,
) -> None:
    """Record an unreachable target as a failed preflight (not as a measurement), then raise its error."""
    record = build_record(run_id=run_id, started_at=started_at, finished_at=datetime.now(UTC),
                          status="failed_preflight", plan=plan, environment={}, load=None, monitor=None,
                          target_stats={}, findings=Findings(verdict="failed", verdict_reasons=[exc.message]),
                          timings=timings, context=context)
    write_summary(record.summary, out_dir)
    store_error = store_or_spool(stages.store, record, store_url)
    if store_error is not None:
        raise store_error from exc
    raise exc


def run_chain(
    params: RunParams,
    stages: Stages,
    *,
    flow_run_id: str | None = None,
    store_url: str | None = None,
) -> RunSummary:
    """Run the nightly chain once with these runners; the run's summary (also written to summary.json with the
    report). Raises TargetUnavailable (recorded as a failed preflight), StoreUnavailable (after spooling and
    writing the report), InvalidInput and InfrastructureError (preflight, lock) as they happen. A night that ends
    without a measurement (a crash, an unreachable target) is told through the notify stage first."""
    started_at = datetime.now(UTC)
    try:
        return _chain(params, stages, flow_run_id=flow_run_id, store_url=store_url)
    except (InvalidInput, Interrupted, StoreUnavailable):
        raise  # a person's input or interrupt; a store outage leaves nowhere to keep what was told
    except Exception as exc:
        if stages.notify is not None:  # its failures are warnings only, like the night's own notification
            _tell_unmeasured(stages.notify, params, exc, started_at, flow_run_id, store_url)
        raise


def _tell_unmeasured(notify: Callable[[NotifyInput, str], NotifyOutcome], params: RunParams, exc: Exception,
                     started_at: datetime, flow_run_id: str | None, store_url: str | None) -> None:
    try:
        plan = resolve_plan(params)
        if plan.notify.channels():
            notify(unmeasured_input(plan, exc, started_at=started_at, flow_run_id=flow_run_id),
                   store_url or resolve_database_url())
    except Exception:  # telling must never hide the night's own error
        log.warning("could not notify about the failed night", exc_info=True)


def _notify(notify: Callable[[NotifyInput, str], NotifyOutcome], notice: NotifyInput, store_url: str) -> list[str]:
    """The notify stage's warnings; its runner failing as a whole (a task's timeout) is one more warning."""
    try:
        return notify(notice, store_url).warnings
    except Exception as exc:  # telling must never cost the night its verdict
        log.warning("the notify stage failed", exc_info=True)
        return [f"notifications failed ({type(exc).__name__}: {exc}); what was not sent is sent by the next run"]


def _revision(params: RunParams, target_version: str | None) -> Revision:
    return resolve_revision(version=params.version, commit=params.commit, branch=params.branch,
                            target_version=target_version)


def _with_version(before: Baseline, revision: Revision | None) -> Baseline:
    """The environment names the version the run measured (a stated one too): the attribution's version change and
    the store's target_version read it there. Not part of the environment's hash."""
    version = revision["version"] if revision is not None else None
    if version is None or before.environment.get("target_version") == version:
        return before
    return before.model_copy(update={"environment": {**before.environment, "target_version": version}})


def _on_main_line(before: Baseline, revision: Revision | None, main_branch: str) -> tuple[Baseline, str | None]:
    """The history of the main line only (loadwatch.revision.main_line), and what to say of it."""
    history, note = main_line(before.history, revision["branch"] if revision is not None else None, main_branch)
    if len(history) == len(before.history):
        return before, note
    log.info("baseline: %d of %d comparable run(s) on the main line (%s)", len(history), len(before.history),
             main_branch)
    return before.model_copy(update={"history": history}), note


def _amended(findings: Findings, *, branch_note: str | None, ab_block: AbBlock | None, aborted: bool) -> Findings:
    """The comparison's findings with what the night adds: which runs were the baseline (said where the verdict is
    read), the same-night A/B stage's verdict, and an interrupt, which neither opens nor follows a change (such a
    night is no baseline either)."""
    if branch_note is not None:
        findings = findings.model_copy(update={"verdict_reasons": [*findings.verdict_reasons, branch_note]})
    if ab_block is not None:
        findings = judge_with_ab(findings, ab_block)
    if aborted:
        findings = findings.model_copy(update={"verdict": "aborted",
                                               "verdict_reasons": ["interrupted (SIGINT/SIGTERM)"],
                                               "open_changes": []})
    return findings


def _chain(params: RunParams, stages: Stages, *, flow_run_id: str | None,
           store_url: str | None) -> RunSummary:
    laps = _Laps()
    plan = resolve_plan(params)
    started_at = datetime.now(UTC)
    run_id = new_run_id(started_at)
    out_dir = Path(params.out_dir) if params.out_dir else default_out_dir(run_id)
    context = RecordContext(trigger=params.trigger, flow_run_id=flow_run_id, notes=params.notes, tags=params.tags,
                            revision=_revision(params, None))
    log.info("run %s: plan %s (%s), out %s", run_id, plan.name, plan.plan_hash(), out_dir)

    store_url = store_url or resolve_database_url()
    stages.preflight(plan, store_url, out_dir)
    laps("preflight")
    try:
        run = stages.open_target(plan)
    except TargetUnavailable as exc:
        _failed_preflight(stages, exc, run_id=run_id, started_at=started_at, plan=plan, context=context,
                          timings=laps.timings, out_dir=out_dir, store_url=store_url)
        raise  # not reached: _failed_preflight raises
    laps("open_target")
    capacity: CapacityBlock | None = None
    branch_note: str | None = None
    try:
        before = stages.capture_before(run, store_url, started_at)
        context = replace(context, revision=_revision(params, before.target_version))
        before = _with_version(before, context.revision)
        before, branch_note = _on_main_line(before, context.revision, params.main_branch)
        laps("capture_before")
        # one load at a time per target (`demo` for the bundled service): the lock is held from the fixed-rate load
        # through the capacity search, so no other run's load falls between them
        with target_lock(store_url, plan.target.url, run_id=run_id, wait_s=settings().lock_wait_s) as lock:
            laps("lock")
            load_result, monitor_result = _measure(stages, run, params, laps)
            laps("load")
            after = _judge_contention(stages.capture_after(run, before), load_result.summary)
            laps("capture_after")
            measured = _measured(load_result, monitor_result, after, before)
            metrics = run_metrics(measured)  # the run's metric vector, once: judged, then stored and charted
            second = _confirm(stages, run, params, laps, run_id=run_id, started_at=started_at, before=before,
                              first=(load_result, measured, metrics))
            capacity = _capacity(stages, run, lock, params)
            if capacity is not None:
                laps("capacity")
    finally:
        run.stop()
    ab_block: AbBlock | None = None
    # the plan's `ab:` section: two builds compared the same night, after the night's target has stopped (the cores
    # are the session's); not after an interrupt
    if stages.ab is not None and run.plan.ab is not None and not interrupts.requested():
        ab_block = stages.ab(run.plan, interrupts.STOP)
        laps("ab")
    aborted = interrupts.requested()
    if capacity is not None:
        measured["capacity"] = dict(capacity)
        metrics = with_capacity(metrics, capacity)
    findings = stages.compare(
        run_id=run_id,
        started_at=started_at,
        summary=measured,
        metrics=metrics,
        histograms=load_result.histograms,
        history=before.history,
        threshold_exprs=list(run.plan.thresholds),
        plan_source=params.plan or DEFAULT_PLAN_SOURCE,
        commit=context.revision["commit"] if context.revision is not None else None,
        changes=before.changes,
        policy=run.plan.verdict.open_changes,
        config=gate_config(run.plan.verdict),
        second=second,
    )
    findings = _amended(findings, branch_note=branch_note, ab_block=ab_block, aborted=aborted)
    warnings = night_warnings(load_result.summary, before.idle)
    laps("compare")
    record = build_record(
        run_id=run_id, started_at=started_at, finished_at=datetime.now(UTC),
        status="aborted" if aborted else "completed", plan=run.plan, environment=before.environment,
        load=load_result, monitor=monitor_result, target_stats=after, probe=before.probe, findings=findings,
        timings=laps.timings,
        warnings=warnings, context=context, capacity=capacity, metrics=metrics, ab=ab_block,
    )
    store_error = store_or_spool(stages.store, record, store_url)
    laps("store")
    stages.publish(record.summary)
    laps("publish")
    if stages.notify is not None and run.plan.notify.channels():  # after the store, which keeps what was told
        notice = night_input(run.plan, record.summary, record.summary.open_changes, out_dir / "report.html")
        record.summary.warnings += _notify(stages.notify, notice, store_url)
        laps("notify")
    # the stored summary carries the timings up to the comparison; summary.json all of them
    record.summary.timings_s = {k: round(v, 3) for k, v in laps.timings.items()}
    stages.report(report_input(record, before.history), out_dir)
    if store_error is not None:
        raise store_error
    return record.summary
