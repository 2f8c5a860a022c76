"""CPU cost of the per-response path, without sockets: a canned nginx response fed to `Conn.data_received`
with a fake transport, through `Runner.on_response` (engine/driver.py; the recording is inlined there) and the
closed model's inline next send (the path `throughput.py` exercises). Process CPU time per response, best of
`--reps`; robust on a shared machine where wall-clock throughput is not (other processes take the cores, not this
process's CPU time).

    .venv/bin/python benchmarks/hotpath.py [--n 200000] [--reps 5] [--profile]"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from typing import Any

from loadwatch.config import parse_plan
from loadwatch.engine.client import Conn
from loadwatch.engine.driver import Runner, WorkerConfig, _Req, _User

BODY = b'{"tools": [{"tool_name": "net-scan", "version": "1.2.0"}]}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 30 Nov 2026 01:00:00 GMT\r\n"
    b"Content-Type: application/json\r\nContent-Length: " + str(len(BODY)).encode() + b"\r\n"
    b"Last-Modified: Mon, 30 Nov 2026 00:59:00 GMT\r\nConnection: keep-alive\r\n"
    b'ETag: "6755f1d4-3a"\r\nAccept-Ranges: bytes\r\n\r\n' + BODY
)


class _Transport:
    def write(self, data: bytes) -> None:
        pass

    def get_extra_info(self, name: str) -> Any:
        return None


def _setup() -> tuple[Runner, Conn]:
    plan = parse_plan(
        {
            "target": {"url": "http://127.0.0.1:9"},
            "load": {"model": "closed", "users": 1, "think_time": 0, "duration": 3600},
            "scenarios": [{"name": "s", "path": "/data.json"}],
        }
    )
    runner = Runner(WorkerConfig(plan=plan, pools={}, start_at=time.time()))
    runner.t0_ns = time.perf_counter_ns()
    runner.rec.start(runner.t0_ns)
    runner.rec.win_end_ns = 1 << 62  # no window roll inside the measurement
    user = _User(0)
    user.active = True
    conn = Conn(runner)
    conn.connection_made(_Transport())  # type: ignore[arg-type]
    sc = runner.factory.scenarios[0]
    req = _Req(sc, time.perf_counter_ns(), user, sc.static or b"")
    user.req = req
    user.conn = conn
    conn.token = req
    return runner, conn


def measure(n: int) -> float:
    """CPU µs per response over `n` responses."""
    runner, conn = _setup()
    feed = conn.data_received
    data = RESPONSE
    t0 = time.process_time()
    for _ in range(n):
        feed(data)
    dt = time.process_time() - t0
    assert runner.rec.cur[0].n == n, "every canned response must be recorded as an answer"
    return dt / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="cProfile one repetition (per-function costs)")
    a = ap.parse_args()
    asyncio.set_event_loop(asyncio.new_event_loop())  # Runner reads the running loop only when it runs
    if a.profile:
        prof = cProfile.Profile()
        prof.enable()
        measure(a.n)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)
        return
    runs = [measure(a.n) for _ in range(a.reps)]
    print(
        f"per-response CPU (canned nginx 200, closed model inline path): best {min(runs):.3f} µs, "
        f"runs {', '.join(f'{r:.3f}' for r in runs)}"
    )


if __name__ == "__main__":
    main()
