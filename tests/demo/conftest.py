"""The demo target served in-process on a loopback port (its own event loop in a thread), against its own
database on the session's real PostgreSQL; plus a tiny HTTP client."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from aiohttp import web
from psycopg import sql

from loadwatch.demo.app import make_app
from loadwatch.demo.faults import Faults
from loadwatch.infra import postgres


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


def http(url: str, method: str = "GET", body: Any = None) -> Reply:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return Reply(resp.status, dict(resp.headers), json.loads(resp.read()))
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers), json.loads(exc.read()))


class Served:
    """make_app() on 127.0.0.1:<free port>, in a background thread until close()."""

    def __init__(self, database_url: str, faults: Faults | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.app = make_app(database_url, faults, git_sha=None)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=60)
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def _start(self) -> None:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()

    def get(self, path: str) -> Reply:
        return http(self.url + path)

    def set_faults(self, faults: dict[str, Any]) -> Reply:
        return http(self.url + "/admin/faults", "PUT", faults)

    def stats(self) -> dict[str, Any]:
        perf: dict[str, Any] = self.get("/api/v1/tools/performance/stats").body["performance"]
        return perf

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def catalog_db(pg_admin_url: str) -> Iterator[str]:
    name = f"lw_target_{uuid.uuid4().hex[:10]}"
    url = postgres.ensure_database(pg_admin_url, name, ("pg_trgm",))
    yield url
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def served(catalog_db: str) -> Iterator[Served]:
    s = Served(catalog_db)
    yield s
    s.close()


@pytest.fixture
def target(served: Served) -> Iterator[Served]:
    """The module's server with no faults before and after the test."""
    assert served.set_faults({}).status == 200
    yield served
    served.set_faults({})
