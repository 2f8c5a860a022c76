"""The resource monitor's own CPU at a 1 s interval with the four groups of a real run (BENCHMARKING.md):

    /work/venv/bin/python benchmarks/monitor_overhead.py [--duration 30] [--interval 1] [--repeat 3]

target  = a loopback HTTP server (a child process), found by its listening port every sample;
database = the embedded PostgreSQL (postmaster + children), with pg_stat_database and pg_stat_statements
           read at the start and end of the window, and the statements' calls read at every interval
           (`--without-statement-calls` also runs each window without that reading, alternating: what it adds);
generator = this process and a child that sends ~200 requests/s to the target and a query every 50 ms;
host.
The monitor's CPU is its own thread's CPU time (time.thread_time) over the wall time of Monitor.run,
as % of one core. Goal: under 2 %. Also reports what one sample of each piece costs."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from loadwatch.infra import postgres
from loadwatch.observe import discovery as disc
from loadwatch.observe import monitor as mon

TARGET = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        body = b'{"ok": true}'
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.timeout = 1
import time
end = time.time() + float(sys.argv[1])
while time.time() < end:
    srv.handle_request()
"""

LOAD = """
import http.client, sys, time, psycopg
port, url, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
db = psycopg.connect(url, autocommit=True)
end = time.time() + seconds
n = 0
while time.time() < end:
    conn.request("GET", "/"); conn.getresponse().read()
    n += 1
    if n % 10 == 0:
        db.execute("SELECT count(*) FROM pg_class WHERE relname LIKE %s", ("pg%",)).fetchone()
    time.sleep(0.005)
print(n, flush=True)
"""


def _per_call_ms(fn: object, n: int = 30) -> float:
    call = fn  # type: ignore[assignment]
    call()  # type: ignore[operator]
    t0 = time.thread_time()
    for _ in range(n):
        call()  # type: ignore[operator]
    return round((time.thread_time() - t0) / n * 1000, 3)


def one_run(duration: float, interval: float, db_url: str, statement_calls: bool = True) -> dict[str, object]:
    """One monitored window; `statement_calls` False leaves out the per-interval reading of the statements' calls
    (what it adds is the difference)."""
    target = subprocess.Popen([sys.executable, "-c", TARGET, str(duration + 30)], stdout=subprocess.PIPE, text=True)
    assert target.stdout is not None
    port = int(target.stdout.readline())
    load = subprocess.Popen(
        [sys.executable, "-c", LOAD, str(port), db_url, str(duration + 2)], stdout=subprocess.PIPE, text=True
    )
    me = os.getpid()
    cache: dict[str, set[int]] = {}

    def target_pids() -> set[int]:
        cache["t"] = disc.with_children(disc.pids_by_port(port))
        return cache["t"]

    def db_pids() -> set[int]:
        cache["d"] = disc.postgres_pids(db_url)
        return cache["d"]

    def generator_pids() -> set[int]:
        return disc.with_children({me}) - cache.get("t", set()) - cache.get("d", set())

    groups = [
        mon.ProcessGroup("target", target_pids),
        mon.ProcessGroup("database", db_pids),
        mon.ProcessGroup("generator", generator_pids),
    ]
    stop = threading.Event()
    out: dict[str, mon.MonitorResult] = {}
    monitor = mon.Monitor(groups, interval=interval, database_url=db_url)
    if not statement_calls:
        monitor._call_readings = lambda pre: None  # type: ignore[method-assign]
    th = threading.Thread(target=lambda: out.update(r=monitor.run(stop, max_duration=duration + 60)))
    th.start()
    try:
        stop.wait(duration)
    finally:
        stop.set()
        th.join()
        for p in (load, target):
            p.kill()
            p.wait()
            if p.stdout:
                p.stdout.close()
    r = out["r"]
    summ = r.summary()
    return {
        "overhead_percent_of_core": r.overhead["percent_of_core"],
        "cpu_seconds": r.overhead["cpu_seconds"],
        "wall_seconds": r.overhead["wall_seconds"],
        "samples": {g: summ[g]["samples"] for g in ("target", "database", "generator", "host")},
        "cpu_avg": {g: summ[g]["cpu_percent"]["avg"] for g in ("target", "database", "generator", "host")},
        "db_xact_commit": summ["database"].get("xact_commit"),
        "top_statements": len(summ["database"].get("top_statements") or []),
        "statement_calls": statement_calls,
        # the per-interval reading: how many, one's mean duration, and its database backend's CPU over the window
        "statement_reads": (r.statement_intervals or {}).get("reads"),
        "read_ms": (r.statement_intervals or {}).get("read_ms"),
        "backend_cpu_s": (r.statement_intervals or {}).get("backend_cpu_s"),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--without-statement-calls", action="store_true",
                    help="also run each window without the per-interval statement reading, alternating: what it adds")
    ap.add_argument("--json", help="write the raw figures here (benchmarks/summary.py reads them)")
    a = ap.parse_args()
    db_url = postgres.ensure_database(postgres.admin_url(), "lw_monitor_bench", ("pg_stat_statements",))
    runs: list[dict[str, object]] = []
    for _ in range(a.repeat):
        runs.append(one_run(a.duration, a.interval, db_url))
        if a.without_statement_calls:
            runs.append(one_run(a.duration, a.interval, db_url, statement_calls=False))
    with_calls = [r for r in runs if r["statement_calls"]]
    figures = [float(r["overhead_percent_of_core"]) for r in with_calls]  # type: ignore[arg-type]
    without = [float(r["overhead_percent_of_core"]) for r in runs if not r["statement_calls"]]  # type: ignore[arg-type]
    added: dict[str, object] = {
        "monitor_thread_percent_of_core_without": round(statistics.median(without), 3) if without else None,
        "monitor_thread_added_percent_of_core": round(statistics.median(figures) - statistics.median(without), 3)
        if without else None,
        "read_ms_median": statistics.median(float(r["read_ms"]) for r in with_calls if r["read_ms"] is not None)  # type: ignore[arg-type]
        if any(r["read_ms"] is not None for r in with_calls) else None,
        # the reading's own database backend (left out of the database group): % of one core over the window
        "backend_percent_of_core": [round(100.0 * float(r["backend_cpu_s"]) / float(r["wall_seconds"]), 3)  # type: ignore[arg-type]
                                    for r in with_calls if r["backend_cpu_s"] is not None],
    }
    me = psutil.Process()
    pieces = {
        "host_reading": _per_call_ms(mon._host_reading),
        "with_children(self)": _per_call_ms(lambda: disc.with_children({os.getpid()})),
        "pids_by_port(unused)": _per_call_ms(lambda: disc.pids_by_port(1)),
        "postgres_pids(cached)": _per_call_ms(lambda: disc.postgres_pids(db_url)),
        "read one process": _per_call_ms(lambda: mon._read(me)),
    }
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpus": os.cpu_count(), "processes": len(psutil.pids())},
        "duration_s": a.duration,
        "interval_s": a.interval,
        "overhead_percent_of_core": {
            "median": round(statistics.median(figures), 3),
            "min": round(min(figures), 3),
            "max": round(max(figures), 3),
        },
        "runs": runs,
        "per_call_cpu_ms": pieces,
        "statement_calls": added,
        "goal_met": max(figures) < 2.0,
    }
    print(json.dumps(report, indent=2))
    if a.json:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import rawfile

        rawfile.write(a.json, {"cpu_percent_of_core": figures, **report})
    return 0 if report["goal_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
