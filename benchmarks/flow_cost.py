"""What the nightly flow costs beyond its load: `loadwatch run --duration 8` end to end, minus the load.

    python benchmarks/flow_cost.py --runs 8 --json benchmarks/results/flow_cost.json

Each run is the README's first command's `loadwatch run` in this venv (the embedded Postgres, the demo target,
Prefect's ephemeral API), in a fresh LOADWATCH_HOME for the first run (initdb, Prefect's migrations) and the same
home for the rest. The capacity stage is an optional measurement of its own (its budget is the plan's), so it is
reported apart: `beyond_load_s` = wall − load − capacity, from the run's own stage timings (summary.json
`timings_s`, one lap per stage: the after-load capture is its own `capture_after` lap, counted beyond the load; in
summaries before issue 23 it was inside the `capacity` lap)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rawfile


def one_run(exe: Path, home: str, out: Path, duration: float, capacity: bool) -> dict[str, float | int]:
    env = {**os.environ, "LOADWATCH_HOME": home}
    env.pop("PREFECT_API_URL", None)
    cmd = [str(exe), "run", "--duration", str(duration), "--out", str(out)] + ([] if capacity else ["--no-capacity"])
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - start
    summary = json.loads((out / "summary.json").read_text())
    timings = summary.get("timings_s", {})
    load_s, capacity_s = float(timings.get("load", duration)), float(timings.get("capacity", 0.0))
    return {"exit": proc.returncode, "wall_s": wall, "load_s": load_s, "capacity_s": capacity_s,
            "beyond_load_s": wall - load_s - capacity_s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--no-capacity", action="store_true", help="skip the plan's capacity stage")
    ap.add_argument("--json", help="write the raw figures here (benchmarks/summary.py reads them)")
    a = ap.parse_args()
    exe = Path(sys.executable).with_name("loadwatch")
    runs = []
    with tempfile.TemporaryDirectory(prefix="lw-flowcost-") as home:
        for i in range(a.runs):
            r = one_run(exe, home, Path(home) / f"out{i}", a.duration, not a.no_capacity)
            runs.append(r)
            print(f"run {i + 1}{' (first, fresh home)' if i == 0 else ''}: exit {r['exit']}, wall {r['wall_s']:.1f} s, "
                  f"load {r['load_s']:.1f} s, capacity {r['capacity_s']:.1f} s, beyond {r['beyond_load_s']:.1f} s")
    warm = [float(r["beyond_load_s"]) for r in runs[1:]] or [float(runs[0]["beyond_load_s"])]
    print(f"beyond the load (warm runs): median {statistics.median(warm):.1f} s ({min(warm):.1f}–{max(warm):.1f}); "
          f"first run {float(runs[0]['beyond_load_s']):.1f} s")
    if a.json:
        rawfile.write(a.json, {"duration_s": a.duration, "runs": runs, "beyond_load_s": warm,
                               "first_run_beyond_load_s": runs[0]["beyond_load_s"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
