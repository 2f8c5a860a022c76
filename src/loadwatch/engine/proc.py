"""The generator process entry point (spawned, never forked: the parent may be a Prefect flow with threads)."""

from __future__ import annotations

import signal
import time
import traceback
from typing import Any

from loadwatch.engine.driver import Runner, WorkerConfig

__all__ = ["READY_TIMEOUT_S", "worker_main"]

READY_TIMEOUT_S = 120.0


def worker_main(cfg: WorkerConfig, queue: Any, start_value: Any, stop_event: Any) -> None:
    """Report ready, wait for the agreed start time, run, send the result (or the error) to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent turns Ctrl-C into a cooperative stop
    try:
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
