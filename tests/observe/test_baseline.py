"""Baseline capture: the target's stats and version over real loopback HTTP, the idle check on real
processes, and the environment fingerprint's hash."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from loadwatch.errors import TargetUnavailable
from loadwatch.observe import environment, target_stats
from loadwatch.observe.deltas import counter_deltas

from .conftest import SLEEP, SPIN


class _Handler(BaseHTTPRequestHandler):
    hits = 0
    misses = 0

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/stats":
            cls = type(self)
            cls.hits += 3
            cls.misses += 1
            doc = {"performance": {"cache": {"hits": cls.hits, "misses": cls.misses}}, "healthy": True}
            self._send(200, json.dumps(doc).encode())
        elif self.path == "/version.json":
            self._send(200, b'{"name": "svc", "git_sha": "abc1234"}')
        elif self.path == "/version.txt":
            self._send(200, b"1.4.2\nbuilt somewhere\n", "text/plain")
        elif self.path == "/list":
            self._send(200, b"[1, 2]")
        elif self.path == "/html":
            self._send(200, b"<html>nope</html>", "text/html")
        else:
            self._send(500, b"{}")


@pytest.fixture
def server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
    th.join(timeout=10)


def test_stats_diffed_over_the_window(server):
    pre = target_stats.fetch_stats(server + "/stats")
    post = target_stats.fetch_stats(server + "/stats")
    d = counter_deltas(pre, post)
    assert d["delta"]["performance.cache.hits"] == 3
    assert d["delta"]["performance.cache.misses"] == 1
    assert d["delta"]["performance.cache.hit_rate_window"] == pytest.approx(75.0)
    assert "healthy" not in d["delta"], "booleans are not counters"


@pytest.mark.parametrize("path", ["/broken", "/list", "/html"])
def test_stats_errors_are_target_unavailable(server, path):
    with pytest.raises(TargetUnavailable) as info:
        target_stats.fetch_stats(server + path)
    assert path in info.value.message


def test_stats_of_a_closed_port_is_target_unavailable():
    with pytest.raises(TargetUnavailable):
        target_stats.fetch_stats("http://127.0.0.1:1/stats", timeout=2)
    with pytest.raises(TargetUnavailable):
        target_stats.fetch_stats("file:///etc/passwd")


def test_version_from_json_or_text(server):
    assert target_stats.fetch_version(server + "/version.json") == "abc1234"
    assert target_stats.fetch_version(server + "/version.txt") == "1.4.2"
    assert target_stats.fetch_version(server + "/broken") is None
    assert target_stats.fetch_version("http://127.0.0.1:1/v", timeout=2) is None


def test_idle_check_busy_and_idle(spawn):
    busy = spawn(SPIN.format(seconds=20))
    idle = spawn(SLEEP.format(seconds=20))
    b = environment.idle_check({busy.pid}, seconds=0.5)
    i = environment.idle_check({idle.pid}, seconds=0.5)
    assert b["busy"] is True and b["cpu_percent"] >= 20 and b["processes"] == 1
    assert i["busy"] is False and i["cpu_percent"] < 20
    assert environment.idle_check({999_999_999}) == {"busy": False, "cpu_percent": None, "processes": 0, "seconds": 0.0}


def test_fingerprint_hash_is_stable_and_covers_what_matters():
    fp, h = environment.environment_fingerprint(plan_hash="p1", target_version="v1")
    _, again = environment.environment_fingerprint(plan_hash="p1", target_version="v1")
    assert h == again and len(h) == 16
    assert environment.environment_fingerprint(plan_hash="p2", target_version="v1")[1] != h
    assert environment.environment_fingerprint(plan_hash="p1", target_version="v2")[1] != h
    assert fp["cpu_count"] and fp["cpu_model"] and fp["memory_total_mb"] > 0 and fp["python"]
    assert fp["packages"]["loadwatch"] and "prefect" in fp["packages"]
    assert fp["hostname"] and "hostname" not in fp["hashed_fields"]
    assert {"cpu_model", "cpu_usable", "memory_class", "plan_hash", "target_version"} <= set(fp["hashed_fields"])
    json.dumps(fp)  # goes into summary.json as is


@pytest.mark.parametrize(
    ("version", "major"), [("1.2.3", "1"), ("0.21.4", "0.21"), ("3.11", "3"), (None, None), ("dev", "dev")]
)
def test_major_versions(version, major):
    assert environment._major(version) == major
