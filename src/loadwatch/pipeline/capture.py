"""Baseline capture (before load) and the target's counters after it.

Before: the environment fingerprint, an idle check, the target's stats endpoint and database counters,
and the comparable history this run will be judged against. After: the same counters again and their
deltas over the load window (so a cache hit rate is this run's, not the process lifetime's), and whether other
work on the machine made the target wait for a CPU during it (loadwatch.observe.contention)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from loadwatch import store
from loadwatch.changes import OpenChange
from loadwatch.config import Plan
from loadwatch.errors import LoadwatchError
from loadwatch.observations import DatabaseCounters, Environment, IdleCheck, ProbeReading, TargetStats
from loadwatch.observe import contention, environment, postgres_stats, probe, target_stats
from loadwatch.observe.deltas import counter_deltas
from loadwatch.observe.discovery import database_backends
from loadwatch.store.changes import active_changes
from loadwatch.store.repo import HistoryPoint

__all__ = ["Baseline", "capture_after", "capture_before"]

# a flow run's logs get these lines through PREFECT_LOGGING_EXTRA_LOGGERS=loadwatch (loadwatch.prefect_adapter)
log = logging.getLogger(__name__)
IDLE_CHECK_S = 0.5  # long enough to see a busy target, short enough not to lengthen every run
HISTORY_LIMIT = 200  # runs read for change-point detection; the gate uses the newest 20 of them


class Baseline(BaseModel):
    """What the capture stage reads before the load, for the stages after it: the environment (with its hash, which
    chose the history), the machine-drift probe, the idle check, the first readings of the target's counters, the
    comparable history (oldest first), and the contention snapshot that opens the load's window (a live reading of
    this host's scheduler counters, closed by `capture_after`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    environment: Environment
    probe: ProbeReading | None = None
    target_version: str | None = None
    idle: IdleCheck
    stats_pre: dict[str, JsonValue] | None = None  # the stats endpoint's document, as it answered
    db_pre: DatabaseCounters | None = None
    history: list[HistoryPoint] = Field(default_factory=list)
    # the open and confirmed changes this night follows (loadwatch.pipeline.open_changes)
    changes: list[OpenChange] = Field(default_factory=list)
    contention_before: contention.Snapshot | None = None


def _stats(plan: Plan) -> dict[str, JsonValue] | None:
    if not plan.target.stats_path:
        return None
    try:
        return dict(target_stats.fetch_stats(plan.target.url + plan.target.stats_path))
    except LoadwatchError as exc:
        log.warning("target stats unavailable: %s", exc.message)
        return None


def _db_counters(database_url: str | None) -> DatabaseCounters | None:
    if not database_url:
        return None
    try:
        return {"database": postgres_stats.pg_database_counters(database_url),
                "statements": postgres_stats.pg_top_statements(database_url)}
    except Exception as exc:  # the target's database is optional evidence, never a reason to fail
        log.warning("target database counters unavailable: %s", exc)
        return None


def capture_before(
    plan: Plan,
    *,
    store_url: str,
    started_at: datetime,
    target_pids: set[int],
    target_database_url: str | None,
) -> Baseline:
    version_path = plan.target.version_path
    version = target_stats.fetch_version(plan.target.url + version_path) if version_path else None
    # The target's version is recorded with the run (like a commit in Otava's attributes) but kept out of the
    # comparability hash: comparing one version with the last is the whole point of a regression pipeline.
    fingerprint, env_hash = environment.environment_fingerprint(plan_hash=plan.plan_hash(), target_version=None)
    env = cast(Environment, {**fingerprint, "hash": env_hash, "target_version": version})
    idle: IdleCheck = (environment.idle_check(target_pids, seconds=IDLE_CHECK_S) if target_pids
                       else {"busy": False, "cpu_percent": None})
    if idle.get("busy"):
        log.warning("the target was busy before load (%.0f %% CPU): this run may be noisy", idle["cpu_percent"])
    engine = store.connect(store_url)
    try:
        history = store.comparable_history(
            engine, plan_hash=plan.plan_hash(), env_hash=env_hash, before=started_at, limit=HISTORY_LIMIT
        )
        changes = active_changes(engine, plan_hash=plan.plan_hash(), env_hash=env_hash)
    finally:
        engine.dispose()
    log.info("environment %s; %d comparable run(s) in history", env_hash, len(history))
    probe_before = probe.measure_probe()
    return Baseline(
        environment=env,
        probe=probe_before,
        target_version=version,
        idle=idle,
        stats_pre=_stats(plan),
        db_pre=_db_counters(target_database_url),
        history=history,
        changes=changes,
        # last, right before the load: the window it opens should hold the load and little else
        contention_before=contention.snapshot(_measured_pids(target_pids, target_database_url)),
    )


def _measured_pids(target_pids: set[int], database_url: str | None) -> set[int]:
    """The target's processes and, when its database runs here, the backends connected to that database: what serves
    the requests. Not the server's background workers nor its other databases' backends: on a busy machine they
    queue for a CPU too, without delaying a request, and would count as the target's queueing."""
    return set(target_pids) | (database_backends(database_url) if database_url else set())


def capture_after(
    plan: Plan, before: Baseline, *, target_database_url: str | None, target_pids: set[int] | None = None,
) -> TargetStats:
    """`target_stats` of the summary: {pre, post, delta, resets, gauges} of the stats endpoint, `database`: the same
    of the target's database, and `contention`: whether other work on the machine made the target wait for a CPU
    over the load window. (The run's probe is the one measured before the load, when the target was idle: after it,
    a slowed target may still be working through its queue on the same host, and the target must not move its own
    adjustment.)"""
    # first, before the counters' requests: the window should end with the load
    snap = before.contention_before
    contended = (contention.assess(snap, contention.snapshot(_measured_pids(target_pids or set(),
                                                                             target_database_url)))
                 if snap is not None else None)
    out: dict[str, Any] = {}
    post = _stats(plan)
    if before.stats_pre is not None and post is not None:
        out.update(counter_deltas(before.stats_pre, post))
    db_post = _db_counters(target_database_url)
    if before.db_pre and db_post:
        out["database"] = counter_deltas(before.db_pre["database"], db_post["database"])
    if contended is not None:
        out["contention"] = contended
    return cast(TargetStats, out)
