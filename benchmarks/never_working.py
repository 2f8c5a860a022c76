"""A target answering 500 to everything, a plan without thresholds: night 1 must fail (issue 22's target).

    .venv/bin/python benchmarks/never_working.py [--json benchmarks/results/never_working.json]

Runs the nightly chain (plain runners, the real engine, a fresh database on the embedded Postgres) twice against a
loopback server: once with its health check answering 500 too (the preflight's failed dependency), once with a
healthy health check and every request answered 500 (the default error-rate check). Records each night's exit
code, verdict and reasons."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import sql

from loadwatch.errors import LoadwatchError
from loadwatch.infra import postgres as embedded
from loadwatch.params import RunParams
from loadwatch.pipeline.chain import run_chain

# the chain's plain runners live with the tests
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from plain_runner import plain_stages


class Broken(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        status = 200 if self.path == "/healthy" else 500
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"no")

    def log_message(self, *args: object) -> None:
        """Quiet: the benchmark prints its own lines."""


def night(url: str, health_path: str | None, db: str, folder: Path) -> dict[str, Any]:
    plan = folder / f"plan_{health_path or 'default'}.yaml".replace("/", "")
    plan.write_text(yaml.safe_dump({
        "name": "never-working", "target": {"url": url, **({"health_path": health_path} if health_path else {})},
        "load": {"model": "open", "rate": 50, "duration": 5, "warmup": 1, "workers": 1},
        "scenarios": [{"name": "items", "path": "/items"}]}))
    params = RunParams(plan=str(plan), out_dir=str(folder / (health_path or "default").strip("/")), trigger="cli",
                       capacity=False)
    try:
        s = run_chain(params, plain_stages(), store_url=db)
    except LoadwatchError as exc:
        return {"health_path": health_path or "/", "exit_code": exc.exit_code, "verdict": "failed",
                "reasons": [exc.message]}
    return {"health_path": health_path or "/", "exit_code": s.exit_code, "verdict": s.verdict,
            "reasons": s.verdict_reasons, "requests": s.totals.requests, "errors": s.totals.errors}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default=str(Path(__file__).parent / "results" / "never_working.json"))
    ns = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    admin = embedded.admin_url()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for health in (None, "/healthy"):
            name = f"lw_never_{uuid.uuid4().hex[:8]}"
            db = embedded.ensure_database(admin, name)
            try:
                results.append(night(url, health, db, Path(tmp)))
            finally:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    server.shutdown()
    Path(ns.json).write_text(json.dumps({"nights": results}, indent=1))
    for r in results:
        print(f"health {r['health_path']}: exit {r['exit_code']} ({r['verdict']}): {r['reasons'][0]}")


if __name__ == "__main__":
    main()
