"""The system under test during a run: the bundled demo service or an external URL, and how to find
its processes (and its database's) for the monitor."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadwatch.config import Plan
from loadwatch.observe import discovery as disc
from loadwatch.observe import monitor as mon
from loadwatch.pipeline.preflight import wait_for_target

__all__ = ["RunTarget", "monitor_groups", "open_target"]

# a flow run's logs get these lines through PREFECT_LOGGING_EXTRA_LOGGERS=loadwatch (loadwatch.prefect_adapter)
log = logging.getLogger(__name__)


@dataclass
class RunTarget:
    plan: Plan  # with a concrete target URL
    demo: Any | None = None  # loadwatch.demo.DemoTarget when the bundled service was started
    database_url: str | None = None  # the target's own database, for its counters
    reachability: dict[str, Any] = field(default_factory=dict)

    def target_pids(self) -> set[int]:
        t = self.plan.target
        pids: set[int] = set()
        if self.demo is not None:
            pids.add(int(self.demo.pid))
        if t.pid:
            pids.add(t.pid)
        if t.pid_file:
            pids |= disc.pids_from_pidfile(Path(t.pid_file))
        if t.port:
            pids |= disc.pids_by_port(t.port)
        if t.process_pattern:
            pids |= disc.pids_by_pattern(t.process_pattern)
        if not pids:
            # No selector given: a loopback target is found by the port it listens on.
            parts = urlsplit(t.url)
            host = parts.hostname or ""
            if host in ("127.0.0.1", "localhost", "::1") or host.startswith("127."):
                port = parts.port or (443 if parts.scheme == "https" else 80)
                pids = disc.pids_by_port(port) - {os.getpid()}
        return disc.with_children(pids) if pids else set()

    def stop(self) -> None:
        if self.demo is not None:
            self.demo.stop()
            self.demo = None


def open_target(plan: Plan, *, reach_timeout: float = 5.0) -> RunTarget:
    """Start the demo service if the plan asks for it, then check the target answers (bounded)."""
    if plan.target.url == "demo":
        from loadwatch.demo import DemoTarget

        demo = DemoTarget.start(startup_timeout=plan.target.startup_timeout)
        run = RunTarget(plan=plan.with_target_url(demo.url), demo=demo, database_url=demo.database_url)
    else:
        run = RunTarget(plan=plan, database_url=plan.target.database_url)
    try:
        run.reachability = wait_for_target(run.plan.target.url + run.plan.target.health_path, timeout=reach_timeout,
                                           health_path_set="health_path" in plan.target.model_fields_set)
    except BaseException:
        run.stop()
        raise
    log.info("target %s answered in %s ms", run.plan.target.url, run.reachability.get("ms"))
    return run


def monitor_groups(run: RunTarget) -> list[mon.ProcessGroup]:
    """target, database and generator process groups; each re-evaluated at every sample."""
    me = os.getpid()
    target_cache: dict[str, set[int]] = {}

    def target() -> set[int]:
        target_cache["pids"] = run.target_pids()
        return target_cache["pids"]

    def database() -> set[int]:
        target_cache["db"] = disc.postgres_pids(run.database_url) if run.database_url else set()
        return target_cache["db"]

    def generator() -> set[int]:
        # this process and its load workers, not the demo target or an embedded database it started;
        # groups are sampled in order (target, database, generator), so the caches are fresh here
        return disc.with_children({me}) - target_cache.get("pids", set()) - target_cache.get("db", set())

    groups = [mon.ProcessGroup("target", target), mon.ProcessGroup("generator", generator)]
    if run.database_url:
        groups.insert(1, mon.ProcessGroup("database", database))
    return groups
