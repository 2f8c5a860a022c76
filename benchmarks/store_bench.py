"""Ingest cost: one run's complete record (summary, histograms, per-second windows of every scenario,
timeline, resource samples) stored in one transaction into the embedded Postgres.

    python benchmarks/store_bench.py [--runs 20] [--seconds 60] [--scenarios 6]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loadwatch import hist
from loadwatch.infra import postgres
from loadwatch.store import db, repo


def record(run_id: str, started: datetime, seconds: int, scenarios: int) -> dict:
    h = hist.new_hist()
    hist.record_many(h, range(200, 20_000, 7))
    enc = hist.encode(h)
    names = [f"scenario_{i}" for i in range(scenarios)]
    lat = {"p50": 2.0, "p90": 4.0, "p95": 5.0, "p99": 9.0, "p999": 20.0, "max": 30.0, "mean": 2.5}
    summary = {
        "run_id": run_id, "started_at": started.isoformat(), "finished_at": started.isoformat(), "verdict": "pass",
        "plan": {"name": "bench", "hash": "bench", "scenarios": [{"name": n} for n in names]},
        "environment": {"hash": "bench"},
        "load": {"requests": 10_000, "errors": 0, "rps": 100.0, "latency_ms": lat,
                 "scenarios": {n: {"requests": 1000, "errors": 0, "rps": 10.0, "latency_ms": lat} for n in names}},
        "comparison": [{"scenario": n, "metric": m, "outcome": "ok", "value": 1.0, "ci": [0, 1]}
                       for n in names for m in ("p50_ms", "p95_ms", "p99_ms", "rps", "error_rate")],
        "thresholds": [
            {"expr": "p95 < 50ms", "scenario": "*", "metric": "p95", "value": 5, "limit": 50, "passed": True}
        ],
    }
    t0 = started.timestamp()
    return {
        "summary": summary,
        "status": "completed",
        "histograms": {n: {"latency": enc, "service": enc} for n in [*names, "*"]},
        "windows": [{"t": t0 + s, "scenario": n, "requests": 10, "errors": 0, "latency": enc}
                    for s in range(seconds) for n in names],
        "timeline": [{"t": t0 + s, "requests": 100, "errors": 0, "p95_ms": 5.0} for s in range(seconds)],
        "resource_samples": [{"t": t0 + s, "group": g, "cpu_percent": 5.0, "rss_mb": 50.0}
                             for s in range(seconds) for g in ("target", "database", "generator", "host")],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--scenarios", type=int, default=6)
    ap.add_argument("--json", help="write the raw figures here (benchmarks/summary.py reads them)")
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        import os

        os.environ["LOADWATCH_HOME"] = home
        url = postgres.ensure_database(postgres.admin_url(), "bench_" + uuid.uuid4().hex[:8])
        engine = db.make_engine(url)
        db.migrate(engine)
        t0 = datetime(2026, 1, 1, 2, tzinfo=UTC)
        times = []
        size = 0
        for i in range(ns.runs):
            rec = record(f"run-{i}", t0 + timedelta(days=i), ns.seconds, ns.scenarios)
            size = len(base64.b64decode(rec["windows"][0]["latency"])) * len(rec["windows"])
            start = time.perf_counter()
            repo.save_run(engine, rec)
            times.append(time.perf_counter() - start)
        engine.dispose()
    print(f"save_run of one {ns.seconds}-s run with {ns.scenarios} scenarios "
          f"({ns.seconds * ns.scenarios} per-second histograms, ~{size / 1e3:.0f} kB of encoded windows): "
          f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {ns.runs} runs")
    if ns.json:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import rawfile

        rawfile.write(ns.json, {"seconds": ns.seconds, "scenarios": ns.scenarios,
                                "ingest_ms": [t * 1000 for t in times],
                                "ingest_ms_median": statistics.median(times) * 1000})


if __name__ == "__main__":
    main()
