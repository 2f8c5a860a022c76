"""A service that never works fails its first night, with no thresholds in its plan (issue 22): through the chain
(plain runners), the real engine and store, against a loopback server answering 500.

- its health check answers 500: the preflight says so, with the status (a failed dependency, exit 3);
- its health check answers 200 but every request 500: the default error-rate check breaches (exit 1)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
import yaml
from plain_runner import plain_stages

from loadwatch.errors import TargetUnavailable
from loadwatch.params import RunParams
from loadwatch.pipeline.chain import run_chain


class _Broken(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the generator expects

    def do_GET(self) -> None:
        status = 200 if self.path == "/healthy" else 500
        body = b'{"error": "internal"}' if status == 500 else b"ok"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def broken() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Broken)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _plan(folder: Path, url: str, health_path: str | None) -> str:
    doc = {"name": "broken", "target": {"url": url, **({"health_path": health_path} if health_path else {})},
           "load": {"model": "open", "rate": 40, "duration": 3, "warmup": 1, "workers": 1},
           "scenarios": [{"name": "items", "path": "/items"}]}  # no thresholds, as `loadwatch init` used to write
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _params(plan: str, out: Path) -> RunParams:
    return RunParams(plan=plan, out_dir=str(out), trigger="cli", capacity=False)


def test_a_health_check_answering_500_is_a_failed_dependency(fresh_db, tmp_path, broken):
    with pytest.raises(TargetUnavailable, match="answered HTTP 500") as err:
        run_chain(_params(_plan(tmp_path, broken, None), tmp_path / "a"), plain_stages(), store_url=fresh_db)
    assert err.value.exit_code == 3
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT status, verdict FROM runs").fetchall() == [("failed_preflight", "failed")]


def test_every_request_failing_fails_night_one_without_thresholds(fresh_db, tmp_path, broken):
    summary = run_chain(_params(_plan(tmp_path, broken, "/healthy"), tmp_path / "a"), plain_stages(),
                        store_url=fresh_db)
    assert summary.totals.requests > 50 and summary.totals.errors == summary.totals.requests
    assert summary.verdict == "threshold_breach" and summary.exit_code == 1
    default = [t for t in summary.thresholds if t.get("default") and t["metric"] == "error_rate"]
    assert len(default) == 1 and not default[0]["passed"] and default[0]["value"] == 100.0
    assert any("error_rate < 1%" in r and "default check" in r for r in summary.verdict_reasons)
    assert "error_rate &lt; 1% (default)" in (tmp_path / "a" / "report.html").read_text()
