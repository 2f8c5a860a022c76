"""The load generator: `run_load(plan)` starts N generator processes, starts them together at an agreed time,
and merges their HdrHistograms exactly into one `LoadResult`. See driver.py (one process's run loop), recording.py
(its windows, totals and histograms), pacer.py (open model timing, late/dropped), client.py (the HTTP/1.1 hot path)
and result.py (summary, generator_bound rule); the histogram itself is loadwatch.hist."""

from __future__ import annotations

import math
import multiprocessing
import os
import queue as queue_mod
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from loadwatch.config import Plan, check_target_allowed
from loadwatch.engine.build import check_env
from loadwatch.engine.data import check_columns, load_data
from loadwatch.engine.pools import resolve_pools
from loadwatch.engine.result import LoadResult, combine_parts, merge_results
from loadwatch.engine.schedule import local_users
from loadwatch.errors import InfrastructureError, InvalidInput, TargetUnavailable

__all__ = ["LoadResult", "merge_results", "run_load"]

START_MARGIN_S = 0.25  # after every process reported ready: time to read the start time and sleep until it
EXTRA_WAIT_S = 30.0  # beyond duration + grace before the parent gives up on a worker


def _max_users(plan: Plan) -> int:
    load = plan.load
    if load.stages:
        return int(max(s.target for s in load.stages))
    return int(load.users or 0)


# One generator process sends tens of thousands of requests a second (BENCHMARKS.md); at a fixed rate its CPU
# grows with the rate. Below this share of the rate per process, more processes only add wake-ups and contention
# with the target on a small machine (two processes on two cores beside the target made runs generator-bound).
AUTO_RATE_PER_WORKER = 5000.0


def _default_workers(plan: Plan, shards: int) -> int:
    """As many processes as the load needs, at most one per core: open model ceil(peak rate / 5,000 per process)."""
    cores = os.cpu_count() or 1
    load = plan.load
    if load.model != "open":
        return cores  # clamped to the number of users below
    peak = max([load.rate or 0.0, *(s.target for s in load.stages or [])]) / max(shards, 1)
    return max(1, min(cores, math.ceil(peak / AUTO_RATE_PER_WORKER)))


def _check_reachable(plan: Plan) -> None:
    url = urlsplit(plan.target.url)
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=plan.load.timeout.connect):
            pass
    except OSError as exc:
        raise TargetUnavailable(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None


def _workers_for(plan: Plan, workers: int | None, share: tuple[int, int]) -> int:
    """Check the plan and the share before anything starts; the number of generator processes to start."""
    url = plan.target.url
    if urlsplit(url).scheme not in ("http", "https"):
        raise InvalidInput(
            "run_load needs a concrete http(s) URL (start the demo target first)", source="plan", field="target.url"
        )
    check_target_allowed(url, plan.target.allowed_hosts)
    check_env(plan)
    s_i, s_n = share
    if not (s_n >= 1 and 0 <= s_i < s_n):
        raise InvalidInput("share must be (i, n) with 0 <= i < n", source="run_load", field="share")
    n = workers or plan.load.workers or _default_workers(plan, s_n)
    if n < 1:
        raise InvalidInput("workers must be at least 1", source="run_load", field="workers")
    if plan.load.model == "closed":  # no process without a user to drive
        n = max(1, min(n, max(local_users(_max_users(plan), s_i, s_n), 1)))
    return n


# Each load starts its generator processes anew (a night, every A/B round, every capacity step). Spawned, each paid
# a fresh interpreter and the engine's imports (~0.6 s on this machine); forked from a fork server that imported
# them once, ~10 ms. The server is a fresh single-threaded interpreter, so forking it is safe beside threads.
_PRELOAD = ["loadwatch.engine.proc", "uvloop"]


def _context() -> Any:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


class _Processes:
    """The generator processes of one run_load call and their queue."""

    def __init__(self, configs: list[Any]) -> None:
        from loadwatch.engine.proc import Inherited, worker_main

        ctx = _context()
        inherited = Inherited.here()
        self.q: Any = ctx.Queue()
        self.start_value: Any = ctx.Value("d", 0.0)
        self.stop_ev = ctx.Event()
        self.procs = []
        for cfg in configs:
            p = ctx.Process(target=worker_main, args=(cfg, self.q, self.start_value, self.stop_ev, inherited),
                            daemon=True,
                            name=f"loadwatch-gen-{cfg.index}")
            p.start()
            self.procs.append(p)

    def await_ready(self) -> None:
        ready = 0
        ready_deadline = time.monotonic() + 120.0
        while ready < len(self.procs):
            msg = _get(self.q, ready_deadline, self.procs)
            if msg["type"] == "ready":
                ready += 1
            elif msg["type"] == "error":
                raise InfrastructureError(f"generator process {msg['index']} failed: {msg['message']}")

    def collect(
        self,
        plan: Plan,
        begin: float,
        stop: threading.Event | None,
        progress: Callable[[dict[str, Any]], None] | None,
    ) -> dict[int, dict[str, Any]]:
        """Every process's result; progress reports on the way; a stop passed on; a missing result an error."""
        n = len(self.procs)
        grace = min(plan.load.timeout.total, 10.0)
        deadline = time.monotonic() + max(begin - time.time(), 0) + plan.load.total_duration + grace + EXTRA_WAIT_S
        outputs: dict[int, dict[str, Any]] = {}
        ticks: dict[int, dict[str, Any]] = {}
        last_progress = 0.0
        while len(outputs) < n:
            if stop is not None and stop.is_set():
                self.stop_ev.set()
            try:
                msg = self.q.get(timeout=0.2)
            except queue_mod.Empty:
                if time.monotonic() > deadline:
                    self.stop_ev.set()
                    raise InfrastructureError("generator processes did not finish in time") from None
                if not any(p.is_alive() for p in self.procs) and self.q.empty():
                    raise InfrastructureError("generator processes exited without a result") from None
                continue
            kind = msg["type"]
            if kind == "result":
                outputs[msg["index"]] = msg["data"]
            elif kind == "error":
                self.stop_ev.set()
                raise InfrastructureError(f"generator process {msg['index']} failed: {msg['message']}")
            elif kind == "tick":
                ticks[msg["index"]] = msg
                now = time.monotonic()
                due = len(ticks) == n or now - last_progress > 1.5
                if progress is not None and due and now - last_progress > 0.5:
                    last_progress = now
                    progress(_progress(list(ticks.values()), plan.load.total_duration))
        return outputs

    def close(self) -> None:
        self.stop_ev.set()
        for p in self.procs:
            p.join(timeout=5.0)
            if p.is_alive():
                p.terminate()
                p.join(timeout=2.0)
        self.q.close()


def run_load(
    plan: Plan,
    *,
    workers: int | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    start_at: float | None = None,
    share: tuple[int, int] = (0, 1),
    whole_second: bool = False,
) -> LoadResult:
    """Blocking. Drives `share[0]` of `share[1]` of the plan's load with `workers` processes. `whole_second`: start
    (when `start_at` is not given) on a whole wall-clock second, so that the per-second windows share their
    boundaries with an observer ticking on whole seconds (the monitor's statement readings, docs/METHOD.md §9).

    Every shard must use the same number of workers (the rate/users split is by global process index)."""
    n = _workers_for(plan, workers, share)
    data = load_data(plan)  # a bad data file is the plan's fault (exit 2), whether or not the target is up
    check_columns(plan, data, {label: sc.placeholders() for label, sc in plan.requests()})
    _check_reachable(plan)
    pools = resolve_pools(plan)
    from loadwatch.engine.driver import WorkerConfig

    s_i, s_n = share
    procs = _Processes([
        WorkerConfig(plan=plan, pools=pools, index=w, part=s_i * n + w, parts=s_n * n, local_workers=n, data=data)
        for w in range(n)
    ])
    try:
        procs.await_ready()
        start = start_at if start_at is not None else time.time() + START_MARGIN_S
        procs.start_value.value = math.ceil(start) if whole_second and start_at is None else start
        outputs = procs.collect(plan, float(procs.start_value.value), stop, progress)
    except KeyboardInterrupt:
        procs.stop_ev.set()
        raise
    finally:
        procs.close()
    return combine_parts([outputs[i] for i in sorted(outputs)])


def _get(q: Any, deadline: float, procs: list[Any]) -> dict[str, Any]:
    while True:
        try:
            msg: dict[str, Any] = q.get(timeout=0.2)
            return msg
        except queue_mod.Empty:
            if time.monotonic() > deadline:
                raise InfrastructureError("generator processes did not start in time") from None
            if not any(p.is_alive() for p in procs):
                raise InfrastructureError("generator processes exited before starting") from None


def _progress(ticks: list[dict[str, Any]], duration: float) -> dict[str, Any]:
    phases = [t["phase"] for t in ticks]
    return {
        "elapsed": round(max(t["elapsed"] for t in ticks), 1),
        "duration": duration,
        "requests": sum(t["requests"] for t in ticks),
        "errors": sum(t["errors"] for t in ticks),
        "rps": sum(t["window_requests"] for t in ticks),
        "p95_ms": round(max(t["p95_ms"] for t in ticks), 3),  # the worst worker's last window (approximate)
        "in_flight": sum(t["in_flight"] for t in ticks),
        "phase": "warmup" if "warmup" in phases else ("drain" if all(p == "drain" for p in phases) else "measure"),
    }
