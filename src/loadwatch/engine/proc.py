"""The generator process entry point. Started from a fork server (a fresh single-threaded interpreter that has
imported this module once, Linux) or spawned, never forked from the parent: the parent may be a Prefect flow with
threads. A fork server's child would inherit the server's state from when it started, not the parent's now, so
what a spawned child would inherit is carried over explicitly (`Inherited`)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import traceback
from dataclasses import dataclass
from typing import Any

from loadwatch.engine.driver import Runner, WorkerConfig

__all__ = ["READY_TIMEOUT_S", "Inherited", "worker_main"]

READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Inherited:
    """The parent's process state at the start of a load: its environment (plan headers name variables, TLS reads
    SSL_CERT_FILE), working directory, CPU affinity (a generator pinned beside its target, BENCHMARKING.md) and
    scheduling priority."""

    environ: dict[str, str]
    cwd: str
    cpus: frozenset[int] | None
    nice: int | None

    @classmethod
    def here(cls) -> Inherited:
        cpus = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        nice = os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else None
        return cls(environ=dict(os.environ), cwd=os.getcwd(), cpus=cpus, nice=nice)

    def apply(self) -> None:
        if os.environ != self.environ:
            os.environ.clear()
            os.environ.update(self.environ)
        with contextlib.suppress(OSError):  # the parent's directory went away: a generator reads no relative path
            os.chdir(self.cwd)
        if self.cpus is not None and os.sched_getaffinity(0) != self.cpus:
            os.sched_setaffinity(0, self.cpus)
        if self.nice is not None and os.getpriority(os.PRIO_PROCESS, 0) != self.nice:
            # above the fork server's priority needs CAP_SYS_NICE; without it the server's priority stays
            with contextlib.suppress(PermissionError):
                os.setpriority(os.PRIO_PROCESS, 0, self.nice)


def worker_main(cfg: WorkerConfig, queue: Any, start_value: Any, stop_event: Any, inherited: Inherited) -> None:
    """Report ready, wait for the agreed start time, run, send the result (or the error) to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent turns Ctrl-C into a cooperative stop
    try:
        inherited.apply()
        import uvloop

        queue.put({"type": "ready", "index": cfg.index})
        deadline = time.monotonic() + READY_TIMEOUT_S
        while start_value.value <= 0:
            if stop_event.is_set() or time.monotonic() > deadline:
                queue.put({"type": "error", "index": cfg.index, "message": "stopped before the start"})
                return
            time.sleep(0.005)
        cfg.start_at = float(start_value.value)
        runner = Runner(cfg, stop_check=stop_event.is_set, report=queue.put)
        result = uvloop.run(runner.run())
        queue.put({"type": "result", "index": cfg.index, "data": result})
    except BaseException as exc:  # the parent must hear about every failure, never wait forever
        queue.put(
            {
                "type": "error",
                "index": cfg.index,
                "message": f"{type(exc).__name__}: {exc}",
                "trace": traceback.format_exc(),
            }
        )
