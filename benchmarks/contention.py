"""The busy-machine check (loadwatch.observe.contention) on real nightly runs of the demo target, by situation.

    .venv/bin/python benchmarks/contention.py --modes quiet,burn,burn19,self --runs 3 --name contention

Each run is the real CLI (`loadwatch run --duration D --no-capacity --out DIR`, one dedicated LOADWATCH_HOME).
Modes: `quiet` (nothing else started; other tenants of the host are whatever they are: see `host_load`),
`burn` (two CPU burners per core at normal priority, started detached so they are not loadwatch's children),
`burn19` (the same at nice 19), `self` (no burners; the plan's rate raised to --self-rate, so the target, its
database and the generator fill the cores themselves). Writes benchmarks/results/<name>.json and .md."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BURN = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end:\n    pass\n"


def burners(n: int, nice: int, seconds: float) -> list[int]:
    cmd = " ".join(f"nice -n {nice} {sys.executable} -c '{BURN.format(s=seconds)}' >/dev/null 2>&1 & echo $!;"
                   for _ in range(n))
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=True)
    return [int(x) for x in out.stdout.split()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", default="quiet,burn,burn19,self")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--self-rate", type=float, default=800.0)
    ap.add_argument("--name", default="contention")
    ap.add_argument("--home", default=None)
    ns = ap.parse_args()
    home = Path(ns.home or f"/tmp/loadwatch_contention_{os.getpid()}")
    env = {**os.environ, "LOADWATCH_HOME": str(home)}
    env.pop("LOADWATCH_DATABASE_URL", None)
    exe = Path(sys.executable).with_name("loadwatch")
    cores = psutil.cpu_count() or 1
    rows: list[dict[str, Any]] = []
    for mode in ns.modes.split(","):
        for i in range(ns.runs):
            out = home / "out" / f"{mode}{i}"
            cmd = [str(exe), "run", "--duration", str(ns.duration), "--no-capacity", "--out", str(out)]
            if mode == "self":
                cmd += ["--rate", str(ns.self_rate)]
            load0 = os.getloadavg()[0]
            pids = burners(2 * cores, 0 if mode == "burn" else 19, 300) if mode.startswith("burn") else []
            t0 = time.perf_counter()
            try:
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
            finally:
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, 9)
            took = time.perf_counter() - t0
            try:
                s = json.loads((out / "summary.json").read_text())
            except (OSError, ValueError):
                print(f"{mode}{i}: exit {proc.returncode}, no summary: {proc.stderr[-300:]}", file=sys.stderr)
                continue
            c = (s.get("target_stats") or {}).get("contention") or {}
            row = {"mode": mode, "run": i, "exit": proc.returncode, "verdict": s.get("verdict"),
                   "p50_ms": s["load"]["latency_ms"].get("p50"), "p95_ms": s["load"]["latency_ms"].get("p95"),
                   "rps": s["load"].get("rps"), "generator_bound": s["load"].get("generator_bound"),
                   "mean_ms": s["load"]["latency_ms"].get("mean"),
                   "schedule_late_share": (s["load"].get("generator") or {}).get("schedule_late_share"),
                   "host_load_before": round(load0, 2), "seconds": round(took, 1),
                   **{k: c.get(k) for k in ("busy", "others_cores", "host_cores", "ours_cores", "target_cores",
                                            "target_wait_share", "target_wait_to_cpu", "window_s", "others_share",
                                            "queue_ms_per_request", "queue_share")}}
            rows.append(row)
            print(json.dumps(row), flush=True)
    meta = {"command": " ".join([sys.executable, *sys.argv]), "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "cores": cores}
    (RESULTS / f"{ns.name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    cols = ["mode", "run", "exit", "verdict", "busy", "others_cores", "others_share", "target_cores",
            "target_wait_share", "target_wait_to_cpu", "queue_ms_per_request", "queue_share", "p50_ms", "mean_ms",
            "p95_ms", "generator_bound", "schedule_late_share", "host_load_before"]
    lines = [f"# Busy-machine check on real nightly runs ({meta['date']})", "", f"Command: `{meta['command']}`", "",
             "Cores are averages over the window; `target_wait_share` is the target's run-queue wait / wall time; "
             "`queue_ms_per_request` its wait charged to others (x `others_share`) per request sent, `queue_share` "
             "that over the mean latency (busy from 5 %); `schedule_late_share` the generator's lateness against its "
             "schedule over the latency it measured (generator-bound from 10 %).", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c)) for c in cols) + " |" for r in rows]
    (RESULTS / f"{ns.name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
