"""Latency accuracy against servers whose behaviour is known (BENCHMARKING.md):

    /work/venv/bin/python benchmarks/accuracy.py

1. fixed 10 ms delay, open model 500 req/s for 8 s → p50 must be within 1 ms of 10 ms;
2. a 1 s stall 3 s into an 8 s open-model run at 200 req/s → ~200 requests wait 0–1 s, so the true p99 ≈ 0.92 s
   (the top 16 of 1600 are the earliest stalled ones), while p50 stays at the normal latency."""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from pathlib import Path

from loadwatch.config import plan_from_url
from loadwatch.engine import run_load

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rawfile

HELD: list[float] = []  # server-side: how long each response was actually held (asyncio.sleep oversleeps)


def start_server(delay_s: float, stall_after_s: float | None = None, stall_s: float = 1.0) -> int:
    ready: list[int] = []
    first: list[float] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                now = time.monotonic()
                if not first:
                    first.append(now)
                if stall_after_s is not None:
                    stall_end = first[0] + stall_after_s + stall_s
                    if first[0] + stall_after_s <= now < stall_end:
                        await asyncio.sleep(stall_end - now)  # every response waits while the window lasts
                if delay_s:
                    t = time.perf_counter()
                    await asyncio.sleep(delay_s)
                    HELD.append(time.perf_counter() - t)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        srv = await asyncio.start_server(handler, "127.0.0.1", 0, backlog=1024)
        ready.append(srv.sockets[0].getsockname()[1])
        await asyncio.sleep(3600)

    threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
    while not ready:
        time.sleep(0.01)
    return ready[0]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", help="write the raw figures here (benchmarks/summary.py reads them)")
    a = ap.parse_args()
    port = start_server(0.010)
    r = run_load(plan_from_url(f"http://127.0.0.1:{port}/", rate=500, users=None, duration=8, warmup=1), workers=1)
    s = r.summary
    p50 = s["latency_ms"]["p50"]
    print(
        f"fixed 10 ms @500 req/s: requests {s['requests']}, latency {s['latency_ms']}, "
        f"service {s['service_time_ms']}, late {s['late']}, generator_bound {s['generator_bound']}"
    )
    held = sorted(HELD)[len(HELD) // 2] * 1000
    ok1 = abs(p50 - held) <= 1.0
    print(
        f"  server-side median hold {held:.2f} ms (asyncio.sleep(0.010) oversleeps); reported p50 {p50:.2f} ms; "
        f"|p50 − held| = {abs(p50 - held):.2f} ms → {'PASS' if ok1 else 'FAIL'} (≤ 1 ms); "
        f"|p50 − 10| = {abs(p50 - 10):.2f} ms"
    )

    port = start_server(0.0, stall_after_s=3.0, stall_s=1.0)
    r = run_load(plan_from_url(f"http://127.0.0.1:{port}/", rate=200, users=None, duration=8, warmup=0), workers=1)
    s = r.summary
    lat, svc = s["latency_ms"], s["service_time_ms"]
    print(f"1 s stall @200 req/s for 8 s: requests {s['requests']}, dropped {s['dropped']}, late {s['late']}")
    print(
        f"  latency (intended) p50 {lat['p50']:.2f} p90 {lat['p90']:.1f} p99 {lat['p99']:.1f} max {lat['max']:.1f} ms"
    )
    print(
        f"  service (actual)   p50 {svc['p50']:.2f} p90 {svc['p90']:.1f} p99 {svc['p99']:.1f} max {svc['max']:.1f} ms"
    )
    ok2 = 850 <= lat["p99"] <= 1000 and lat["p50"] < 5
    print(
        f"  p99 {lat['p99']:.0f} ms (expected ≈ 920) and p50 {lat['p50']:.2f} ms normal → {'PASS' if ok2 else 'FAIL'}"
    )
    # the top 1 % of requests are the earliest stalled ones: they waited the stall less their share of it
    expected_p99 = 1000.0 * (1.0 - 0.01 * s["requests"] / 200.0)
    if a.json:
        rawfile.write(a.json, {
            "delay": {"rate": 500, "p50_ms": p50, "server_hold_ms": held},
            "stall": {"rate": 200, "requests": s["requests"], "p50_ms": lat["p50"], "p99_ms": lat["p99"],
                      "max_ms": lat["max"], "expected_p99_ms": expected_p99, "dropped": s["dropped"]},
        })
    return 0 if ok1 and ok2 else 1


if __name__ == "__main__":
    sys.exit(main())
