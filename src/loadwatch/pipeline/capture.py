"""Baseline capture (before load) and the target's counters after it.

Before: the environment fingerprint, an idle check, the target's stats endpoint and database counters,
and the comparable history this run will be judged against. After: the same counters again and their
deltas over the load window (so a cache hit rate is this run's, not the process lifetime's), and whether other
work on the machine made the target wait for a CPU during it (loadwatch.observe.contention)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from loadwatch import store
from loadwatch.config import Plan
from loadwatch.errors import LoadwatchError
from loadwatch.observe import contention, probe
from loadwatch.observe import counters as bl
from loadwatch.observe.discovery import postgres_pids

__all__ = ["capture_after", "capture_before"]

# a flow run's logs get these lines through PREFECT_LOGGING_EXTRA_LOGGERS=loadwatch (loadwatch.prefect_adapter)
log = logging.getLogger(__name__)
IDLE_CHECK_S = 0.5  # long enough to see a busy target, short enough not to lengthen every run
HISTORY_LIMIT = 200  # runs read for change-point detection; the gate uses the newest 20 of them


def _stats(plan: Plan) -> dict[str, Any] | None:
    if not plan.target.stats_path:
        return None
    try:
        return dict(bl.fetch_stats(plan.target.url + plan.target.stats_path))
    except LoadwatchError as exc:
        log.warning("target stats unavailable: %s", exc.message)
        return None


def _db_counters(database_url: str | None) -> dict[str, Any] | None:
    if not database_url:
        return None
    try:
        return {"database": bl.pg_database_counters(database_url), "statements": bl.pg_top_statements(database_url)}
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
) -> dict[str, Any]:
    version = bl.fetch_version(plan.target.url + plan.target.version_path) if plan.target.version_path else None
    # The target's version is recorded with the run (like a commit in Otava's attributes) but kept out of the
    # comparability hash: comparing one version with the last is the whole point of a regression pipeline.
    environment, env_hash = bl.environment_fingerprint(plan_hash=plan.plan_hash(), target_version=None)
    environment = {**environment, "hash": env_hash, "target_version": version}
    idle = bl.idle_check(target_pids, seconds=IDLE_CHECK_S) if target_pids else {"busy": False, "cpu_percent": None}
    if idle.get("busy"):
        log.warning("the target was busy before load (%.0f %% CPU): this run may be noisy", idle["cpu_percent"])
    engine = store.connect(store_url)
    try:
        history = store.comparable_history(
            engine, plan_hash=plan.plan_hash(), env_hash=env_hash, before=started_at, limit=HISTORY_LIMIT
        )
    finally:
        engine.dispose()
    log.info("environment %s; %d comparable run(s) in history", env_hash, len(history))
    probe_before = probe.measure_probe()
    return {
        "environment": environment,
        "probe_before": probe_before,
        "target_version": version,
        "idle": idle,
        "stats_pre": _stats(plan),
        "db_pre": _db_counters(target_database_url),
        "history": history,
        # last, right before the load: the window it opens should hold the load and little else
        "contention_before": contention.snapshot(_measured_pids(target_pids, target_database_url)),
    }


def _measured_pids(target_pids: set[int], database_url: str | None) -> set[int]:
    """The target's processes and, when it runs here, its database server's (both serve the requests)."""
    return set(target_pids) | (postgres_pids(database_url) if database_url else set())


def capture_after(
    plan: Plan, before: dict[str, Any], *, target_database_url: str | None, target_pids: set[int] | None = None,
) -> dict[str, Any]:
    """`target_stats` of the summary: {pre, post, delta} of the stats endpoint and the target's database,
    `probe`: the machine-drift probe of this run (measured before the load, when the target is idle), and
    `contention`: whether other work on the machine made the target wait for a CPU over the load window."""
    # first, before the counters' requests: the window should end with the load
    snap = before.get("contention_before")
    contended = (contention.assess(snap, contention.snapshot(_measured_pids(target_pids or set(),
                                                                             target_database_url)))
                 if isinstance(snap, contention.Snapshot) else None)
    # the probe reading from before the load only: after it, a slowed target may still be working through its queue
    # on the same host, and the target must not move its own adjustment
    out: dict[str, Any] = {"probe": before.get("probe_before")}
    post = _stats(plan)
    if before.get("stats_pre") is not None and post is not None:
        out.update(bl.counter_deltas(before["stats_pre"], post))
    db_post = _db_counters(target_database_url)
    if before.get("db_pre") and db_post:
        d = bl.counter_deltas(before["db_pre"]["database"], db_post["database"])
        out["database"] = d
    if contended is not None:
        out["contention"] = contended
    return out
