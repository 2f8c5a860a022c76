"""The demo target's database access: an async psycopg pool, idempotent schema + seed at start, and one
SQL statement per request that returns the finished JSON body (Postgres builds it; Python only passes
bytes through). All filtering, paging and searching happens in SQL.

Two faults live here because they are database behaviour: `set_dropped_indexes` really drops (and re-creates)
indexes, so Postgres plans differently; `list_tools(..., n_plus_one=True)` loads a page the way a lazy ORM
does, one query per tool."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from loadwatch.demo.schema import DROPPABLE_INDEXES, SCHEMA_SQL
from loadwatch.demo.seed import generate
from loadwatch.errors import StoreUnavailable
from loadwatch.urls import redact_url

__all__ = ["Catalog", "ListFilter", "SearchQuery", "like_pattern"]

_COLUMNS = (
    "id, tool_name, version, description, platform, category, status, enabled, defaults, dependencies, "
    "metadata, parent_version_id, is_latest, created_at, updated_at, created_by, updated_by"
)
_SEED_LOCK = 0x6C77_7467  # advisory lock key: concurrent starts seed once
DOWNLOAD_DAYS = 30  # days of download counts per tool version (~24k rows for the default 300 tools)
# Deterministic counts (hashint4 is stable across servers), so every machine serves the same numbers.
_SEED_DOWNLOADS = (
    "INSERT INTO tool_catalog.tool_downloads (tool_id, day, count)"
    " SELECT t.id, date '2025-01-01' + g.d, abs(hashint4(t.id * 1000 + g.d)) %% 500"
    " FROM tool_catalog.tools t CROSS JOIN generate_series(0, %s - 1) AS g(d)"
)


def like_pattern(text: str, *, prefix: bool = False) -> str:
    """An ILIKE pattern matching `text` literally (as a substring, or a prefix)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%" if prefix else f"%{escaped}%"


@dataclass(frozen=True)
class ListFilter:
    page: int = 1
    page_size: int = 50
    platform: str | None = None
    category: str | None = None
    status: str | None = None
    enabled: bool | None = None
    name: str | None = None
    name_prefix: bool = False
    latest: bool | None = None


@dataclass(frozen=True)
class SearchQuery:
    q: str
    fields: tuple[str, ...] = ("name", "description")
    limit: int = 20


class Catalog:
    def __init__(self, database_url: str, *, min_size: int = 2, max_size: int = 8, timeout: float = 5.0) -> None:
        self.database_url = database_url
        self.pool = AsyncConnectionPool(
            database_url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,  # a caller waits this long for a connection (the seed's pool raised at once)
            open=False,
            kwargs={"autocommit": True, "connect_timeout": 5, "application_name": "loadwatch-demo-target"},
            name="tool_catalog",
        )

    async def open(self, timeout: float = 15.0) -> None:
        try:
            # one direct attempt first: a refused or misconfigured database fails now, not after the pool's
            # retries have used up `timeout`
            conn = await psycopg.AsyncConnection.connect(self.database_url, connect_timeout=5)
            await conn.close()
            await self.pool.open(wait=True, timeout=timeout)
        except Exception as exc:
            await self.pool.close()
            raise StoreUnavailable(f"demo target database {redact_url(self.database_url)}: {exc}") from exc

    async def close(self) -> None:
        await self.pool.close()

    async def setup(self, n_tools: int = 300) -> int:
        """Create the schema if missing and seed it once; returns the number of tool rows."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SEED_LOCK,))
            await conn.execute(SCHEMA_SQL)
            cur = await conn.execute("SELECT count(*) FROM tool_catalog.tools")
            row = await cur.fetchone()
            if row and row[0]:
                await self._seed_downloads(conn)
                return int(row[0])
            rows = generate(n_tools)
            async with conn.cursor() as c:
                await c.executemany(
                    "INSERT INTO tool_catalog.tools (id, tool_name, version, description, platform, category, status,"
                    " enabled, defaults, dependencies, metadata, parent_version_id, is_latest, created_at, updated_at,"
                    " created_by, updated_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                    " %s, %s) ON CONFLICT (tool_name, version) DO NOTHING",
                    [
                        (
                            r.id,
                            r.tool_name,
                            r.version,
                            r.description,
                            r.platform,
                            r.category,
                            r.status,
                            r.enabled,
                            Jsonb(r.defaults),
                            Jsonb(r.dependencies),
                            Jsonb(r.metadata),
                            r.parent_version_id,
                            r.is_latest,
                            r.created_at,
                            r.created_at,
                            r.created_by,
                            r.created_by,
                        )
                        for r in rows
                    ],
                )
                await c.executemany(
                    "INSERT INTO tool_catalog.tool_capabilities (tool_id, name, description) VALUES (%s, %s, %s)"
                    " ON CONFLICT (tool_id, name) DO NOTHING",
                    [(c.tool_id, c.name, c.description) for r in rows for c in r.capabilities],
                )
            # explicit ids were inserted: move the sequence past them
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('tool_catalog.tools', 'id'),"
                " (SELECT max(id) FROM tool_catalog.tools))"
            )
            await conn.execute("ANALYZE tool_catalog.tools")
            await conn.execute("ANALYZE tool_catalog.tool_capabilities")
            await self._seed_downloads(conn)
            return len(rows)

    @staticmethod
    async def _seed_downloads(conn: psycopg.AsyncConnection[Any]) -> None:
        """Download counts, once (also for a catalogue seeded before the table existed)."""
        cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM tool_catalog.tool_downloads)")
        row = await cur.fetchone()
        if row and row[0]:
            return
        await conn.execute(_SEED_DOWNLOADS, (DOWNLOAD_DAYS,))
        await conn.execute("ANALYZE tool_catalog.tool_downloads")

    async def set_dropped_indexes(self, names: tuple[str, ...] | list[str]) -> None:
        """Drop exactly these of the schema's indexes and re-create any other that an earlier call dropped.
        Real DDL: the planner sees the change at once (a dropped index means another plan, not a sleep)."""
        unknown = sorted(set(names) - set(DROPPABLE_INDEXES))
        if unknown:
            raise ValueError(f"not droppable: {unknown}")
        async with self.pool.connection() as conn:
            for name, create in DROPPABLE_INDEXES.items():
                if name in names:
                    # names come from DROPPABLE_INDEXES (the schema's own), never from the request
                    await conn.execute(f"DROP INDEX IF EXISTS tool_catalog.{name}")  # type: ignore[arg-type]
                else:
                    await conn.execute(create)  # type: ignore[arg-type]  # IF NOT EXISTS: free when present

    async def _one_text(self, query: str, params: tuple[Any, ...] | list[Any]) -> str | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, params)  # type: ignore[arg-type]  # built from constant fragments
            row = await cur.fetchone()
        return None if row is None else row[0]

    async def list_tools(self, f: ListFilter, *, n_plus_one: bool = False) -> str:
        conds: list[str] = []
        params: list[Any] = []
        for col, value in (("platform", f.platform), ("category", f.category), ("status", f.status)):
            if value is not None:
                conds.append(f"{col} = %s")
                params.append(value)
        if f.enabled is not None:
            conds.append("enabled = %s")
            params.append(f.enabled)
        if f.latest is not None:
            conds.append("is_latest = %s")
            params.append(f.latest)
        if f.name:
            conds.append("tool_name ILIKE %s")
            params.append(like_pattern(f.name, prefix=f.name_prefix))
        where = " AND ".join(conds) or "true"
        if n_plus_one:
            return await self._list_tools_one_by_one(f, where, params)
        query = (
            "SELECT json_build_object("
            f"'tools', coalesce((SELECT json_agg(p) FROM (SELECT {_COLUMNS} FROM tool_catalog.tools WHERE {where}"
            " ORDER BY tool_name, id LIMIT %s OFFSET %s) p), '[]'::json),"
            f" 'total', (SELECT count(*) FROM tool_catalog.tools WHERE {where}),"
            " 'page', %s::int, 'page_size', %s::int)::text"
        )
        args = [*params, f.page_size, (f.page - 1) * f.page_size, *params, f.page, f.page_size]
        body = await self._one_text(query, args)
        assert body is not None  # an aggregate always returns a row
        return body

    async def _list_tools_one_by_one(self, f: ListFilter, where: str, params: list[Any]) -> str:
        """The same answer as list_tools, loaded as a lazy ORM would: the page's ids, then one query per tool
        (the N+1 pattern), then the count. Same body, 1 + page size + 1 statements instead of one."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT id FROM tool_catalog.tools WHERE {where} ORDER BY tool_name, id LIMIT %s OFFSET %s",  # type: ignore[arg-type]
                [*params, f.page_size, (f.page - 1) * f.page_size],
            )
            ids = [r[0] for r in await cur.fetchall()]
            tools: list[str] = []
            for tool_id in ids:
                cur = await conn.execute(
                    f"SELECT row_to_json(p)::text FROM (SELECT {_COLUMNS} FROM tool_catalog.tools WHERE id = %s) p",  # type: ignore[arg-type]
                    (tool_id,),
                )
                row = await cur.fetchone()
                if row is not None:
                    tools.append(row[0])
            cur = await conn.execute(f"SELECT count(*) FROM tool_catalog.tools WHERE {where}", params)  # type: ignore[arg-type]
            total_row = await cur.fetchone()
        total = int(total_row[0]) if total_row else 0
        return json.dumps({"tools": [json.loads(t) for t in tools], "total": total, "page": f.page,
                           "page_size": f.page_size})

    async def get_latest(self, name: str) -> str | None:
        return await self._one_text(
            "SELECT row_to_json(x)::text FROM ("
            f"SELECT {_COLUMNS}, (SELECT coalesce(json_agg(c.name ORDER BY c.name), '[]'::json)"
            " FROM tool_catalog.tool_capabilities c WHERE c.tool_id = t.id) AS capabilities"
            " FROM tool_catalog.tools t WHERE tool_name = %s AND is_latest AND enabled LIMIT 1) x",
            (name,),
        )

    async def versions(self, name: str) -> str | None:
        return await self._one_text(
            "SELECT json_build_object('tool_name', %s::text, 'versions', json_agg(v ORDER BY v.id),"
            " 'total_versions', count(*), 'downloads', sum(v.downloads))::text FROM ("
            "SELECT id, tool_name, version, status, enabled, created_at, updated_at, is_latest, parent_version_id,"
            " (SELECT coalesce(sum(d.count), 0) FROM tool_catalog.tool_downloads d WHERE d.tool_id = t.id) AS downloads"
            " FROM tool_catalog.tools t WHERE tool_name = %s) v HAVING count(*) > 0",
            (name, name),
        )

    async def search(self, s: SearchQuery) -> str:
        pattern = like_pattern(s.q)
        conds: list[str] = []
        scores: list[str] = []
        params: list[Any] = []
        score_params: list[Any] = []
        if "name" in s.fields:
            conds.append("(tool_name ILIKE %s OR tool_name %% %s)")
            params += [pattern, s.q]
            scores.append("similarity(tool_name, %s)")
            score_params.append(s.q)
        if "description" in s.fields:
            # substring only: a word-similarity filter would score every row (about 20 us each); it is
            # used for ranking the matches instead
            conds.append("description ILIKE %s")
            params.append(pattern)
            scores.append("word_similarity(%s, description)")
            score_params.append(s.q)
        query = (
            "WITH m AS (SELECT id, tool_name, version, description, platform, category, status, enabled,"
            f" round(greatest({', '.join(scores)})::numeric, 4) AS score"
            f" FROM tool_catalog.tools WHERE is_latest AND ({' OR '.join(conds)}))"
            " SELECT json_build_object('query', %s::text, 'fields', %s::json,"
            " 'results', coalesce((SELECT json_agg(r) FROM (SELECT * FROM m ORDER BY score DESC, tool_name"
            " LIMIT %s) r), '[]'::json), 'total', (SELECT count(*) FROM m))::text"
        )
        body = await self._one_text(query, [*score_params, *params, s.q, json.dumps(list(s.fields)), s.limit])
        assert body is not None
        return body

    async def database_stats(self) -> dict[str, Any]:
        body = await self._one_text(
            "SELECT json_build_object("
            "'xact_commit', d.xact_commit, 'xact_rollback', d.xact_rollback, 'blks_hit', d.blks_hit,"
            " 'blks_read', d.blks_read, 'tup_returned', d.tup_returned, 'tup_fetched', d.tup_fetched,"
            " 'cache_hit_ratio', (SELECT coalesce(round(100.0 * sum(heap_blks_hit)"
            "   / nullif(sum(heap_blks_hit) + sum(heap_blks_read), 0), 2), 0)"
            "   FROM pg_statio_user_tables WHERE schemaname = 'tool_catalog'),"
            " 'top_tables', (SELECT coalesce(json_agg(t), '[]'::json) FROM ("
            "   SELECT schemaname, relname AS tablename, pg_size_pretty(pg_total_relation_size(relid)) AS size,"
            "   pg_total_relation_size(relid) AS size_bytes FROM pg_statio_user_tables"
            "   WHERE schemaname = 'tool_catalog' ORDER BY 4 DESC, 2 LIMIT 5) t)"
            ")::text FROM pg_stat_database d WHERE d.datname = current_database()",
            (),
        )
        return json.loads(body) if body else {}

    def pool_stats(self) -> dict[str, int]:
        s = self.pool.get_stats()
        size = s.get("pool_size", 0)
        return {
            "min": self.pool.min_size,
            "max": self.pool.max_size,
            "size": size,
            "in_use": size - s.get("pool_available", 0),
            "waiting": s.get("requests_waiting", 0),
            "requests": s.get("requests_num", 0),
            "requests_queued": s.get("requests_queued", 0),
            "timeouts": s.get("requests_errors", 0),
        }
