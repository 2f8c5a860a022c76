"""Soak: a steady open-model rate for a long time; is memory flat in the generator and the monitor?

Target: the bundled demo Tool Catalog service (its own process, pinned to core 1 when taskset exists).
The load runs through `engine.run_load` (spawned generator processes) while `Monitor` samples the target,
its database, the generator and the host every second in this process, exactly as the flow does. Every
10 s this script records the RSS of each generator process and of this process (which hosts the monitor and
the load's parent loop). Growth is reported after the warm-up (the first minute).

    python benchmarks/soak.py --minutes 10 --rate 500        # the record (results/soak.md)
    python benchmarks/soak.py --minutes 1 --rate 200         # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

from loadwatch.config import load_plan
from loadwatch.demo import DemoTarget
from loadwatch.engine import run_load
from loadwatch.observe import monitor as mon
from loadwatch.pipeline.targets import RunTarget, monitor_groups


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--warmup-s", type=float, default=60.0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "soak.json"))
    ns = ap.parse_args()

    duration = ns.minutes * 60
    demo = DemoTarget.start()
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(demo.pid, {1})
            os.sched_setaffinity(0, {0})
        except OSError:
            pass
    try:
        plan = load_plan().with_target_url(demo.url).with_load(rate=ns.rate, duration=duration, warmup=0,
                                                               workers=ns.workers)
        run = RunTarget(plan=plan, demo=None, database_url=demo.database_url)
        stop = threading.Event()
        monitor = mon.Monitor(monitor_groups(run), interval=1.0, database_url=demo.database_url)
        mon_result: dict[str, object] = {}
        t_mon = threading.Thread(target=lambda: mon_result.update(r=monitor.run(stop, max_duration=duration + 120)))
        t_mon.start()
        samples: list[dict[str, object]] = []
        me = psutil.Process()

        def sampler() -> None:
            t0 = time.monotonic()
            while not stop.wait(10.0):
                gens = [p for p in me.children(recursive=True) if "multiprocessing" in " ".join(p.cmdline())]
                samples.append({
                    "t": round(time.monotonic() - t0, 1),
                    "parent_rss_mb": me.memory_info().rss / 1e6,
                    "generator_rss_mb": [round(p.memory_info().rss / 1e6, 2) for p in gens],
                })

        t_s = threading.Thread(target=sampler, daemon=True)
        t_s.start()
        result = run_load(plan, workers=ns.workers, stop=None)
        stop.set()
        t_mon.join()
    finally:
        demo.stop()

    after = [s for s in samples if float(s["t"]) >= ns.warmup_s and s["generator_rss_mb"]]
    if len(after) < 2:
        raise SystemExit("run longer than the warm-up to measure growth")
    gen_first = sum(after[0]["generator_rss_mb"])  # type: ignore[arg-type]
    gen_last = sum(after[-1]["generator_rss_mb"])  # type: ignore[arg-type]
    gen_max = max(sum(s["generator_rss_mb"]) for s in after)  # type: ignore[arg-type]
    par = [float(s["parent_rss_mb"]) for s in after]  # type: ignore[arg-type]
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "minutes": ns.minutes,
        "rate": ns.rate,
        "workers": ns.workers,
        "requests": result.summary["requests"],
        "achieved_rps": result.summary["rps"],
        "errors": result.summary["errors"],
        "generator_rss_mb": {"after_warmup": round(gen_first, 1), "end": round(gen_last, 1),
                             "max": round(gen_max, 1), "growth": round(gen_last - gen_first, 2)},
        "monitor_process_rss_mb": {"after_warmup": round(par[0], 1), "end": round(par[-1], 1),
                                   "max": round(max(par), 1), "growth": round(par[-1] - par[0], 2),
                                   "median": round(statistics.median(par), 1)},
        "monitor_samples": len(mon_result["r"].samples),  # type: ignore[attr-defined]
        "samples": samples,
    }
    Path(ns.out).write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
