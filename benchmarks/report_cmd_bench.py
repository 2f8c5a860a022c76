"""The whole `loadwatch report --last 365` command over 365 stored nights x 10 scenarios (target <= 3 s).

A fresh LOADWATCH_HOME gets an embedded Postgres with 365 nightly runs of 10 scenarios (lognormal latencies,
3 % night-to-night noise, a +20 % step in one scenario from night 250; each run with its per-scenario
histograms and 60 per-second windows), stored through `repo.save_run` like real runs. Then the command runs
in a fresh process, `--repeat` times; the wall time covers interpreter start, imports, the embedded Postgres
start and stop, the store queries, the gate and change points over every series, charts and writing.

    python benchmarks/report_cmd_bench.py [--nights 365] [--scenarios 10] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from loadwatch import hist
from loadwatch.infra import postgres
from loadwatch.store import db, repo


def _hist(rng: np.random.Generator, median_ms: float, n: int) -> tuple[str, dict[str, float]]:
    us = np.maximum(1, (rng.lognormal(np.log(median_ms * 1000), 0.5, n)).astype(np.int64))
    h = hist.new_hist()
    hist.record_many(h, us)
    lat = {k: float(v) for k, v in hist.stats_ms(h).items() if v is not None}
    return hist.encode(h), lat


def record(rng: np.random.Generator, night: int, started: datetime, names: list[str], step_night: int) -> dict:
    scen: dict[str, dict] = {}
    hists: dict[str, dict[str, str]] = {}
    windows = []
    t0 = started.timestamp()
    for j, name in enumerate(names):
        median = (2.0 + j) * float(np.exp(rng.normal(0, 0.03)))
        if j == 0 and night >= step_night:
            median *= 1.2
        enc, lat = _hist(rng, median, 3000)
        scen[name] = {"requests": 3000, "errors": 0, "rps": 50.0, "error_rate": 0.0, "latency_ms": lat}
        hists[name] = {"latency": enc, "service": enc}
        windows += [{"t": t0 + s, "scenario": name, "requests": 50, "errors": 0, "latency": enc} for s in range(60)]
    summary = {
        "run_id": f"bench-{night:04d}", "started_at": started.isoformat(),
        "finished_at": (started + timedelta(seconds=60)).isoformat(), "verdict": "pass", "status": "completed",
        "trigger": "schedule",  # a stored summary is read back as a RunSummary (loadwatch.record), which needs it
        "plan": {"name": "bench", "hash": "bench", "scenarios": [{"name": n, "weight": 1} for n in names],
                 "target_url": "http://127.0.0.1:8000"},
        "environment": {"hash": "bench"},
        "load": {"requests": 3000 * len(names), "errors": 0, "rps": 50.0 * len(names), "error_rate": 0.0,
                 "latency_ms": scen[names[0]]["latency_ms"], "scenarios": scen},
    }
    return {
        "summary": summary, "status": "completed", "histograms": hists, "windows": windows,
        "timeline": [{"t": t0 + s, "requests": 50 * len(names), "errors": 0, "p95_ms": 5.0} for s in range(60)],
        "resource_samples": [{"t": t0 + s, "group": g, "cpu_percent": 5.0, "rss_mb": 50.0}
                             for s in range(60) for g in ("target", "database", "generator", "host")],
    }


def populate(home: str, nights: int, scenarios: int) -> None:
    os.environ["LOADWATCH_HOME"] = home
    url = postgres.ensure_database(postgres.admin_url(), postgres.DEFAULT_DATABASE)
    engine = db.make_engine(url)
    db.migrate(engine)
    rng = np.random.default_rng(2026)
    names = [f"scenario_{j:02d}" for j in range(scenarios)]
    t0 = datetime(2025, 11, 27, 2, tzinfo=UTC)
    for i in range(nights):
        repo.save_run(engine, record(rng, i, t0 + timedelta(days=i), names, step_night=int(nights * 0.7)))
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nights", type=int, default=365)
    ap.add_argument("--scenarios", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--home", help="keep the populated store here and reuse it on later runs")
    ap.add_argument("--populate", metavar="HOME", help=argparse.SUPPRESS)
    ap.add_argument("--json", help="write the raw figures here (benchmarks/summary.py reads them)")
    ns = ap.parse_args()
    if ns.populate:
        populate(ns.populate, ns.nights, ns.scenarios)
        return
    with tempfile.TemporaryDirectory() as tmp:
        home = ns.home or tmp
        marker = Path(home) / f"bench-{ns.nights}x{ns.scenarios}"
        if not marker.exists():
            t = time.perf_counter()
            # its own process, so the embedded Postgres is stopped again before the timed commands start it
            subprocess.run([sys.executable, __file__, "--populate", home, "--nights", str(ns.nights),
                            "--scenarios", str(ns.scenarios)], check=True)
            marker.touch()
            print(f"stored {ns.nights} nights x {ns.scenarios} scenarios in {time.perf_counter() - t:.1f} s",
                  file=sys.stderr)
        exe = Path(sys.executable).with_name("loadwatch")
        env = {**os.environ, "LOADWATCH_HOME": home}
        walls = []
        out = Path(home) / "out"
        for _ in range(ns.repeat):
            start = time.perf_counter()
            subprocess.run([str(exe), "report", "--last", str(ns.nights), "--out", str(out)], check=True,
                           capture_output=True, env=env)
            walls.append(time.perf_counter() - start)
        html = (out / "report.html").stat().st_size
        md_text = (out / "report.md").read_text()
    print(f"`loadwatch report --last {ns.nights}` over {ns.nights} nights x {ns.scenarios} scenarios: "
          f"median {statistics.median(walls):.2f} s (min {min(walls):.2f}, max {max(walls):.2f}) over "
          f"{ns.repeat} runs; report.html {html / 1e3:.0f} kB; load {os.getloadavg()[0]:.1f}")
    print("report.md names the stepped scenario:", "scenario_00" in md_text)
    if ns.json:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import rawfile

        rawfile.write(ns.json, {"nights": ns.nights, "scenarios": ns.scenarios, "seconds": walls, "html_bytes": html,
                                "names_stepped_scenario": "scenario_00" in md_text})


if __name__ == "__main__":
    main()
