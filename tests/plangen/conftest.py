"""Real services on loopback for the plangen tests: the FastAPI shop (uvicorn in a thread) and the bundled demo
target (a child process, on its own database of the session's PostgreSQL)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import uvicorn
from psycopg import sql

from loadwatch.demo.process import DemoTarget
from loadwatch.infra import postgres

from .shop import app


@pytest.fixture(scope="session")
def shop_url() -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def demo_url(pg_admin_url: str) -> Iterator[str]:
    name = f"lw_plangen_{uuid.uuid4().hex[:10]}"
    db = postgres.ensure_database(pg_admin_url, name, ("pg_trgm",))
    target = DemoTarget.start(database_url=db)
    try:
        yield target.url
    finally:
        target.stop()
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
