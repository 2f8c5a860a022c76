"""RSS of the generator process over a fixed-rate run (BENCHMARKING.md):

    /work/venv/bin/python benchmarks/memory.py [--duration 300] [--rate 2000]

Samples the RSS of every spawned generator process once a second; reports growth after the warm-up
(the first 10 s, or 20 % of a short run). Goal: < 20 MB over 5 minutes at 2,000 req/s."""

from __future__ import annotations

import argparse
import sys
import threading
import time

import psutil

from loadwatch.config import plan_from_url
from loadwatch.engine import run_load

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import rawfile
from accuracy import start_server


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=300.0)
    ap.add_argument("--rate", type=float, default=2000.0)
    ap.add_argument("--json", help="write the raw figures here (benchmarks/summary.py reads them)")
    a = ap.parse_args()
    port = start_server(0.0)
    samples: list[tuple[float, float]] = []
    done = threading.Event()
    me = psutil.Process()

    def sample() -> None:
        t0 = time.monotonic()
        while not done.wait(1.0):
            kids = [p for p in me.children() if p.name().startswith("python") or "loadwatch" in p.name()]
            rss = sum(p.memory_info().rss for p in kids if p.is_running()) / 2**20
            if kids:
                samples.append((time.monotonic() - t0, rss))

    threading.Thread(target=sample, daemon=True).start()
    plan = plan_from_url(f"http://127.0.0.1:{port}/", rate=a.rate, users=None, duration=a.duration, warmup=0)
    r = run_load(plan, workers=1)
    done.set()
    warm = min(10.0, a.duration * 0.2)
    after = [m for t, m in samples if t >= warm + 1.5]  # +1.5 s: process spawn before the start
    if not after:
        print("too short to measure")
        return 1
    growth = max(after) - after[0]
    print(
        f"{r.summary['requests']} requests at {r.summary['rps']:.0f} req/s over {a.duration:.0f} s; "
        f"RSS after warm-up {after[0]:.1f} MB, max {max(after):.1f} MB, last {after[-1]:.1f} MB, "
        f"growth {growth:.1f} MB → {'PASS' if growth < 20 else 'FAIL'} (< 20 MB)"
    )
    if a.json:
        rawfile.write(a.json, {"duration_s": a.duration, "rate": a.rate, "requests": r.summary["requests"],
                               "rss_after_warmup_mb": after[0], "rss_max_mb": max(after), "growth_mb": growth,
                               "samples": samples})
    return 0


if __name__ == "__main__":
    sys.exit(main())
