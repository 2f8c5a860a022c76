"""The faults that change what the service really does (issue 17), against the real target and Postgres: a
dropped index (a different plan, measured in pg_stat_statements), an N+1 page load (real extra statements)
and the same answers throughout."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from loadwatch.demo.seed import generate
from loadwatch.infra import postgres

from .conftest import Served

API = "/api/v1/tools"
INDEX = "idx_downloads_tool_day"
PAGE = 20


@pytest.fixture(scope="module")
def stmt_served(pg_admin_url: str) -> Iterator[tuple[Served, str]]:
    """A target on its own database with pg_stat_statements (preloaded by the embedded server)."""
    name = f"lw_faults_{uuid.uuid4().hex[:10]}"
    url = postgres.ensure_database(pg_admin_url, name, ("pg_trgm", "pg_stat_statements"))
    served = Served(url)
    yield served, url
    served.close()
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def fs(stmt_served: tuple[Served, str]) -> Iterator[tuple[Served, str]]:
    served, _ = stmt_served
    assert served.set_faults({}).status == 200
    yield stmt_served
    served.set_faults({})


def _statements(url: str, like: str) -> dict[str, tuple[int, float]]:
    """queryid -> (calls, total exec ms) of this database's statements whose text contains `like`."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT s.queryid::text, sum(s.calls)::bigint, sum(s.total_exec_time) FROM pg_stat_statements s"
            " JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() AND s.query LIKE %s"
            " AND s.query NOT LIKE %s GROUP BY 1",
            (f"%{like}%", "%pg_stat_statements%"),
        ).fetchall()
    return {q: (int(c), float(t)) for q, c, t in rows}


def _delta(before: dict[str, tuple[int, float]], after: dict[str, tuple[int, float]]) -> tuple[int, float]:
    calls = sum(c - before.get(q, (0, 0.0))[0] for q, (c, _) in after.items())
    ms = sum(t - before.get(q, (0, 0.0))[1] for q, (_, t) in after.items())
    return calls, ms


def _index_exists(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", (INDEX,)).fetchone() is not None


def _versions_mean_ms(served: Served, url: str, names: list[str]) -> float:
    before = _statements(url, "tool_downloads")
    for n in names:
        assert served.get(f"{API}/{n}/versions").status == 200
    calls, ms = _delta(before, _statements(url, "tool_downloads"))
    assert calls == len(names)
    return ms / calls


def test_dropped_index_changes_the_plan_and_the_mean_time_not_the_answer(fs: tuple[Served, str]) -> None:
    served, url = fs
    names = sorted({r.tool_name for r in generate()})[:40]
    reference: list[Any] = [served.get(f"{API}/{n}/versions").body for n in names[:5]]
    assert all(isinstance(b["downloads"], int) and b["downloads"] > 0 for b in reference)
    with_index = _versions_mean_ms(served, url, names)

    put = served.set_faults({"drop_indexes": [INDEX]})
    assert put.status == 200 and put.body["drop_indexes"] == [INDEX]
    assert not _index_exists(url)
    with psycopg.connect(url, autocommit=True) as conn:
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT sum(count) FROM tool_catalog.tool_downloads WHERE tool_id = 7").fetchall())
    assert "Seq Scan on tool_downloads" in plan, plan
    assert [served.get(f"{API}/{n}/versions").body for n in names[:5]] == reference
    without_index = _versions_mean_ms(served, url, names)
    # a sequential scan of ~24k rows per version instead of an index range of ~30 rows: an order of magnitude
    assert without_index > 5 * with_index, (with_index, without_index)

    served.set_faults({})
    assert _index_exists(url)
    restored = _versions_mean_ms(served, url, names)
    assert restored < without_index / 3, (restored, without_index)


def test_unknown_index_is_refused(fs: tuple[Served, str]) -> None:
    served, url = fs
    r = served.set_faults({"drop_indexes": ["tools_pkey"]})
    assert r.status == 400 and "drop_indexes" in r.body["message"]
    assert _index_exists(url)


def test_n_plus_one_issues_one_query_per_tool_with_the_same_answer(fs: tuple[Served, str]) -> None:
    served, url = fs
    path = f"{API}?page=2&page_size={PAGE}&enabled=true"
    normal = served.get(path)
    before = _statements(url, "tool_catalog.tools")
    assert served.get(path).body == normal.body
    one, _ = _delta(before, _statements(url, "tool_catalog.tools"))

    served.set_faults({"endpoints": {"list_tools": {"n_plus_one": True}}})
    before = _statements(url, "tool_catalog.tools")
    r = served.get(path)
    many, _ = _delta(before, _statements(url, "tool_catalog.tools"))
    assert r.status == 200 and r.headers.get("X-Injected-Fault") == "n+1"
    assert r.body == normal.body
    assert (one, many) == (1, PAGE + 2)  # the ids, one query per tool, the count
    # other endpoints are untouched by a list_tools knob
    assert "X-Injected-Fault" not in served.get(f"{API}/search/query?q=net").headers
