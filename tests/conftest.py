"""Session-wide real services: one embedded PostgreSQL for the whole test session.

LOADWATCH_HOME is pointed at a temporary directory before anything imports loadwatch, so tests never
touch a developer's real data directory. Set LOADWATCH_TEST_DATABASE_URL to use another server."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator

import pytest

_HOME = tempfile.mkdtemp(prefix="lwtest-")
os.environ["LOADWATCH_HOME"] = _HOME
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_HOME", os.path.join(_HOME, "prefect"))
os.environ.setdefault("LOADWATCH_SPOOL_DIR", os.path.join(_HOME, "spool"))
# what `loadwatch run` and the deployments set before Prefect is imported: the core's module loggers reach the flow
# run's logs (loadwatch.prefect_adapter.environment)
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "loadwatch")


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """URL of the `postgres` database of a real server (embedded unless overridden)."""
    override = os.environ.get("LOADWATCH_TEST_DATABASE_URL")
    if override:
        return override
    from loadwatch.infra import postgres

    return postgres.admin_url()


@pytest.fixture
def fresh_db(pg_admin_url: str) -> Iterator[str]:
    """A new, empty database on the session server; dropped afterwards."""
    import psycopg
    from psycopg import sql

    from loadwatch.infra import postgres

    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres.ensure_database(pg_admin_url, name)
    yield url
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def own_demo_database(pg_admin_url: str) -> Iterator[str]:
    """A database of its own for the demo's catalogue, for a test that changes its data (the demo seeds it on
    start); dropped afterwards."""
    import psycopg
    from psycopg import sql

    from loadwatch.infra import postgres

    name = f"lw_demo_{uuid.uuid4().hex[:10]}"
    url = postgres.ensure_database(pg_admin_url, name, ("pg_trgm", "pg_stat_statements"))
    yield url
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def store_refusing_runs(fresh_db: str) -> str:
    """`fresh_db`, migrated, where every insert of a run fails (a full disk, in effect): the spool's case."""
    import psycopg

    from loadwatch.store import connect

    connect(fresh_db).dispose()
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION lw_fail() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full (test)'; END"
                     " $$ LANGUAGE plpgsql")
        conn.execute("CREATE TRIGGER lw_fail BEFORE INSERT ON runs FOR EACH ROW EXECUTE FUNCTION lw_fail()")
    return fresh_db


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test harness per session (it costs 8-12 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
