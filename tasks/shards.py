"""Scale-out across machines: the load stage fanned out as N Prefect tasks on a Dask task runner.

Each shard drives 1/N of the rate (or users) with its own generator processes; all start at one barrier
time; their histograms travel encoded and are merged exactly, so thresholds and the verdict see only the
merged data. `LOADWATCH_DASK_ADDRESS` points at an existing Dask scheduler (which can span hosts);
otherwise a local cluster with one worker per shard is started for the run."""

from __future__ import annotations

import math
import socket
import threading
import time

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect_dask.task_runners import DaskTaskRunner
from typing_extensions import TypedDict

from loadwatch import engine
from loadwatch.config import Plan
from loadwatch.settings import settings

__all__ = ["BARRIER_MARGIN_S", "ShardResult", "dask_runner", "shard_load_task", "sharded_load"]

# time for every shard to be scheduled and spawn its processes before the barrier: 5 s was too little on a 2-core CI
# box (a shard woke > 1.7 s late: its first measured sends were late with a connection free, the run generator-bound)
BARRIER_MARGIN_S = 10.0


class ShardResult(TypedDict):
    """What a shard's task hands back to the merge (across Dask): its load and where and when it ran."""

    result: engine.LoadResult
    host: str
    index: int
    received_s: float  # when the task was received, against the barrier
    start_skew_s: float  # how late the load started against the barrier


@task(name="load-shard", cache_policy=NO_CACHE, retries=0)
def shard_load_task(plan: Plan, index: int, count: int, start_at: float, workers: int | None) -> ShardResult:
    received = time.time()
    result = engine.run_load(plan, workers=workers, share=(index, count), start_at=start_at)
    # skew: how late this shard actually started against the shared barrier (clock offsets included)
    return {"result": result, "host": socket.gethostname(), "index": index, "received_s": received - start_at,
            "start_skew_s": result.started_at - start_at}


def dask_runner(shards: int) -> DaskTaskRunner:
    # Dask runs its workers as daemonic processes by default, and a daemonic process may not start the
    # generator's own processes; remote workers need the same (DASK_DISTRIBUTED__WORKER__DAEMON=False).
    import dask

    dask.config.set({"distributed.worker.daemon": False})
    address = settings().dask_address
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_kwargs={"n_workers": shards, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
    )


def sharded_load(plan: Plan, stop: threading.Event, shards: int, workers: int | None) -> engine.LoadResult:
    """Run the shards on Dask (a sub-flow with its own task runner) and merge them exactly."""

    @flow(name="loadwatch-shards", task_runner=dask_runner(shards), log_prints=False)  # type: ignore[arg-type]
    def shards_flow() -> list[ShardResult]:
        start_at = math.ceil(time.time() + BARRIER_MARGIN_S)  # a whole second, as a single load starts (METHOD §9)
        futures = [shard_load_task.submit(plan, i, shards, start_at, workers) for i in range(shards)]
        return [f.result() for f in futures]

    parts = shards_flow()
    stop.set()
    merged = engine.merge_results([p["result"] for p in parts])
    merged.summary["shards"] = [
        {
            "index": p["index"],
            "host": p["host"],
            "requests": p["result"].summary["requests"],
            "rps": p["result"].summary["rps"],
            "start_skew_s": round(p["start_skew_s"], 3),
            "generator_bound": p["result"].summary.get("generator_bound", False),
        }
        for p in parts
    ]
    if any(p["result"].summary.get("generator_bound") for p in parts):
        merged.summary["generator_bound"] = True
    return merged
