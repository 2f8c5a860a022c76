"""Report rendering cost: `--last 365` over 365 nights x 10 scenarios, target <= 3 s, file <= 2 MB.

Each repetition is a fresh Python process that imports loadwatch.report.render (and so matplotlib) and writes
report.html, report.md and summary.json from the report input, exactly what `loadwatch report` does after its store
queries; the timing covers import + render + write. The input comes from tests/report/synthetic.py (the real gate and
change-point detector over the synthetic nights) and is prepared once, outside the timing.

    /work/venv/bin/python benchmarks/report_bench.py [--nights 365] [--scenarios 10] [--repeat 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
from loadwatch.report import render as report
t1 = time.perf_counter()
data = json.loads(Path(sys.argv[1]).read_text())
t2 = time.perf_counter()
paths = report.write_report(data, Path(sys.argv[2]))
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "render_s": t3 - t2, "total_s": (t1 - t0) + (t3 - t2),
                  "html_bytes": paths["html"].stat().st_size, "md_bytes": paths["md"].stat().st_size}))
"""


def _synthetic() -> object:
    spec = importlib.util.spec_from_file_location("synthetic", ROOT / "tests" / "report" / "synthetic.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nights", type=int, default=365)
    ap.add_argument("--scenarios", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=300, help="length of the newest run (per-second series)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    synth = _synthetic()
    names = [f"scenario_{i:02d}" for i in range(args.scenarios)]
    t = time.perf_counter()
    data = synth.make_data(
        args.nights,
        scenarios=names,
        step_at=args.nights - 60,
        step_scenario=names[3],  # type: ignore[attr-defined]
        seconds=args.seconds,
    )
    prep = time.perf_counter() - t
    with tempfile.TemporaryDirectory(prefix="lw-report-bench-") as tmp:
        src = Path(tmp) / "input.json"
        src.write_text(json.dumps(data))
        runs = []
        for i in range(args.repeat):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(src), str(Path(tmp) / f"out{i}")],
                capture_output=True,
                text=True,
                check=True,
                cwd=tmp,
            )
            runs.append(json.loads(out.stdout))
    total = [r["total_s"] for r in runs]
    result = {
        "nights": args.nights,
        "scenarios": args.scenarios,
        "run_seconds": args.seconds,
        "repeat": args.repeat,
        "change_points": len(data["summary"]["change_points"]),
        "input_prep_s": round(prep, 2),
        "total_s_median": round(statistics.median(total), 3),
        "total_s_min": round(min(total), 3),
        "total_s_max": round(max(total), 3),
        "import_s_median": round(statistics.median(r["import_s"] for r in runs), 3),
        "render_s_median": round(statistics.median(r["render_s"] for r in runs), 3),
        "html_bytes": runs[-1]["html_bytes"],
        "md_bytes": runs[-1]["md_bytes"],
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    ok = result["total_s_median"] <= 3.0 and result["html_bytes"] <= 2 * 1024 * 1024
    print("target (<= 3 s, <= 2 MB):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
