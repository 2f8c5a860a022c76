"""Connecting to the trend store: which URL, the SQLAlchemy engine, migrations, error mapping."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from importlib import resources

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from loadwatch.errors import StoreUnavailable
from loadwatch.infra import postgres
from loadwatch.settings import settings
from loadwatch.urls import redact_url

__all__ = [
    "applied_versions",
    "connect",
    "make_engine",
    "map_db_errors",
    "migrate",
    "migrations",
    "resolve_database_url",
]

_MIGRATION = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_MIGRATE_LOCK = 0x6C6F6164  # advisory lock id ("load") so concurrent runs migrate one at a time


def resolve_database_url(explicit: str | None = None) -> str:
    """`--database-url`, else LOADWATCH_DATABASE_URL, else the embedded server's `loadwatch` database."""
    url = explicit or settings().database_url
    if url:
        return url
    return postgres.ensure_database(postgres.admin_url(), postgres.DEFAULT_DATABASE)


def _sqlalchemy_url(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise StoreUnavailable(f"not a PostgreSQL URL: {redact_url(url)} (expected postgresql://...)")


def make_engine(url: str) -> Engine:
    return sa.create_engine(
        _sqlalchemy_url(url),
        pool_pre_ping=True,
        pool_size=2,
        max_overflow=2,
        connect_args={"connect_timeout": postgres.CONNECT_TIMEOUT_S, "application_name": "loadwatch"},
    )


@contextlib.contextmanager
def map_db_errors(url: str | None = None) -> Iterator[None]:
    """Translate driver errors into StoreUnavailable, with the URL's password redacted."""
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        where = f" ({redact_url(url)})" if url else ""
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreUnavailable(f"trend store{where}: {detail}") from exc


def connect(url: str | None = None, *, migrate_schema: bool = True) -> Engine:
    """An engine for the resolved store URL, reachable and migrated."""
    resolved = resolve_database_url(url)
    engine = make_engine(resolved)
    with map_db_errors(resolved):
        if migrate_schema:
            migrate(engine)
        else:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
    return engine


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of the numbered files shipped in loadwatch.sql, in order."""
    found = []
    for entry in resources.files("loadwatch.sql").iterdir():
        m = _MIGRATION.match(entry.name)
        if m:
            found.append((int(m.group(1)), m.group(2), entry.read_text()))
    return sorted(found)


def applied_versions(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        exists = conn.execute(sa.text("SELECT to_regclass('schema_version')")).scalar()
        if not exists:
            return []
        return [int(v) for v in conn.execute(sa.text("SELECT version FROM schema_version ORDER BY version")).scalars()]


def migrate(engine: Engine) -> list[int]:
    """Apply missing migrations, each in its own transaction, recorded in `schema_version`."""
    applied: list[int] = []
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATE_LOCK})
        conn.execute(
            sa.text(
                "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
        )
        done = set(conn.execute(sa.text("SELECT version FROM schema_version")).scalars())
        for version, name, body in migrations():
            if version in done:
                continue
            conn.exec_driver_sql(body)
            conn.execute(
                sa.text("INSERT INTO schema_version (version, name) VALUES (:v, :n)"), {"v": version, "n": name}
            )
            applied.append(version)
    return applied
