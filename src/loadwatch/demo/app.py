"""The demo Tool Catalog HTTP API (aiohttp): routes, parameter validation, the LRU cache, request counters
and the fault-injection middleware. Built by `make_app`; served by `loadwatch.demo.server`."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import psycopg_pool
from aiohttp import web

from loadwatch import __version__
from loadwatch.demo.cache import LRUCache
from loadwatch.demo.db import Catalog, ListFilter, SearchQuery
from loadwatch.demo.faults import ENDPOINTS, Faults, FaultState, Knobs, is_loopback_peer
from loadwatch.demo.seed import CATEGORIES, PLATFORMS, STATUSES
from loadwatch.errors import InvalidInput

__all__ = ["CACHE_KEY", "PREFIX", "BadParam", "Counters", "make_app", "parse_bool"]

log = logging.getLogger("loadwatch.demo")

PREFIX = "/api/v1/tools"
CACHE_KEY = "tool:{name}:latest"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CATALOG = web.AppKey("catalog", Catalog)
CACHE = web.AppKey("cache", LRUCache)
FAULTS = web.AppKey("faults", FaultState)
INFO = web.AppKey("info", dict)
KNOBS = web.RequestKey("knobs", Knobs)
MISS_PAID = web.RequestKey("miss_paid", float)  # get_tool's lookup cost paid on a cache miss (Knobs.miss_ms)

_LIST_PARAMS = {"page", "page_size", "platform", "category", "status", "enabled", "name", "name_match", "latest"}
_SEARCH_PARAMS = {"q", "fields", "limit"}
_SEARCH_FIELDS = ("name", "description")


class BadParam(Exception):
    """A query parameter the caller can fix: answered 400 with this message."""


class Counters:
    """Request counters for the process lifetime (loadwatch diffs them over the load window)."""

    def __init__(self) -> None:
        self.total = 0
        self.errors = 0  # 5xx, injected ones included
        self.by_route: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()

    def record(self, route: str, status: int) -> None:
        self.total += 1
        self.by_route[route] += 1
        self.by_status[status] += 1
        if status >= 500:
            self.errors += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_route": dict(sorted(self.by_route.items())),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "errors": self.errors,
        }


COUNTERS = web.AppKey("counters", Counters)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def _raw_json(body: str | bytes, status: int = 200) -> web.Response:
    return web.Response(
        body=body.encode() if isinstance(body, str) else body, status=status, content_type="application/json"
    )


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return _json({"error": web.Response(status=status).reason, "message": message, **extra}, status)


# --- parameter parsing -----------------------------------------------------------------------------------


def parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise BadParam(f"{name} must be true or false, got {raw[:40]!r}")


def _int(q: Any, name: str, default: int, lo: int, hi: int) -> int:
    raw = q.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParam(f"{name} must be an integer between {lo} and {hi}, got {raw[:40]!r}") from None
    if not lo <= value <= hi:
        raise BadParam(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _choice(q: Any, name: str, allowed: tuple[str, ...]) -> str | None:
    raw = q.get(name)
    if raw is None:
        return None
    if raw not in allowed:
        raise BadParam(f"{name} must be one of {list(allowed)}, got {raw[:40]!r}")
    return str(raw)


def _text(raw: str, name: str, max_len: int = 100) -> str:
    value = raw.strip()
    if not value or len(value) > max_len or "\x00" in value:
        raise BadParam(f"{name} must be 1-{max_len} characters")
    return value


def _no_unknown(q: Any, allowed: set[str]) -> None:
    unknown = sorted(set(q) - allowed)
    if unknown:
        raise BadParam(f"unknown parameter(s) {unknown}; allowed: {sorted(allowed)}")


def parse_list(q: Any) -> ListFilter:
    _no_unknown(q, _LIST_PARAMS)
    name_match = q.get("name_match", "substring")
    if name_match not in ("substring", "prefix"):
        raise BadParam(f"name_match must be 'substring' or 'prefix', got {name_match[:40]!r}")
    return ListFilter(
        page=_int(q, "page", 1, 1, 1_000_000),
        page_size=_int(q, "page_size", 50, 1, 100),
        platform=_choice(q, "platform", PLATFORMS),
        category=_choice(q, "category", CATEGORIES),
        status=_choice(q, "status", STATUSES),
        enabled=parse_bool("enabled", q["enabled"]) if "enabled" in q else None,
        name=_text(q["name"], "name") if "name" in q else None,
        name_prefix=name_match == "prefix",
        latest=parse_bool("latest", q["latest"]) if "latest" in q else None,
    )


def parse_search(q: Any) -> SearchQuery:
    _no_unknown(q, _SEARCH_PARAMS)
    if "q" not in q:
        raise BadParam("q is required (1-100 characters)")
    fields = tuple(dict.fromkeys(f.strip() for f in q.get("fields", ",".join(_SEARCH_FIELDS)).split(",") if f.strip()))
    if not fields or any(f not in _SEARCH_FIELDS for f in fields):
        raise BadParam(f"fields must be a comma-separated subset of {list(_SEARCH_FIELDS)}")
    return SearchQuery(q=_text(q["q"], "q"), fields=fields, limit=_int(q, "limit", 20, 1, 100))


# --- handlers --------------------------------------------------------------------------------------------


async def list_tools(request: web.Request) -> web.Response:
    f = parse_list(request.query)
    knobs = request.get(KNOBS)
    n_plus_one = knobs is not None and knobs.n_plus_one
    return _raw_json(await request.app[CATALOG].list_tools(f, n_plus_one=n_plus_one))


async def get_tool(request: web.Request) -> web.Response:
    name = _text(request.match_info["name"], "tool name")
    knobs = request.get(KNOBS)
    use_cache = knobs is None or knobs.cache
    cache = request.app[CACHE]
    key = CACHE_KEY.format(name=name)
    # A cache that stops caching still looks up (so its misses show in the stats endpoint's counters) but
    # never stores; admin_faults empties it when the fault starts, so nothing stored before can hit either.
    body = cache.get(key)
    if body is not None:
        return _raw_json(body)
    if knobs is not None and knobs.miss_ms:
        await asyncio.sleep(knobs.miss_ms / 1000.0)
        request[MISS_PAID] = knobs.miss_ms
    text = await request.app[CATALOG].get_latest(name)
    if text is None:  # a 404 is not cached, as in the seed
        return _error(404, f"tool {name!r} not found")
    body = text.encode()
    if use_cache:
        cache.set(key, body)
    return _raw_json(body)


async def versions(request: web.Request) -> web.Response:
    name = _text(request.match_info["name"], "tool name")
    text = await request.app[CATALOG].versions(name)
    return _raw_json(text) if text is not None else _error(404, f"tool {name!r} not found")


async def search(request: web.Request) -> web.Response:
    return _raw_json(await request.app[CATALOG].search(parse_search(request.query)))


async def stats(request: web.Request) -> web.Response:
    app = request.app
    catalog = app[CATALOG]
    return _json(
        {
            "status": "success",
            "timestamp": datetime.now(UTC).isoformat(),
            "version": __version__,
            "performance": {
                "cache": app[CACHE].stats(),
                "connection_pool": catalog.pool_stats(),
                "database": await catalog.database_stats(),
                "requests": app[COUNTERS].to_dict(),
            },
        }
    )


async def health(request: web.Request) -> web.Response:
    # cheap on purpose: no database round trip; the pool's state says whether the database is reachable
    pool = request.app[CATALOG].pool_stats()
    return _json(
        {
            "status": "ok",
            "service": "tool-catalog",
            "version": __version__,
            "tool_count": request.app[INFO]["tool_count"],
            "pool": pool,
            "uptime_s": round(time.monotonic() - request.app[INFO]["started"], 3),
        }
    )


async def version(request: web.Request) -> web.Response:
    return _json({"version": __version__, "git_sha": request.app[INFO]["git_sha"]})


async def admin_faults(request: web.Request) -> web.Response:
    if not is_loopback_peer(request.remote):
        return _error(403, "the admin endpoint only answers loopback peers")
    state = request.app[FAULTS]
    if request.method == "PUT":
        try:
            data = await request.json()
        except ValueError:
            return _error(400, "the body must be a JSON object of fault knobs")
        try:
            faults = Faults.from_dict(data, source="PUT /admin/faults")
        except InvalidInput as exc:
            return _error(400, exc.message)
        try:
            await request.app[CATALOG].set_dropped_indexes(faults.drop_indexes)
        except psycopg.Error as exc:
            return _error(503, f"could not change the indexes: {str(exc).strip()}")
        if not faults.knobs("get_tool").cache:
            request.app[CACHE].clear()  # as a restart would: the broken cache starts empty
        state.set(faults)
        log.info("faults set: %s", faults.to_dict())
    return _json(state.faults.to_dict())


# --- middleware ------------------------------------------------------------------------------------------


def _endpoint(request: web.Request) -> str | None:
    """The endpoint a request hit: its route name up to the first ':' (aliases share an endpoint)."""
    name = request.match_info.route.name
    return name.split(":", 1)[0] if name else None


@web.middleware
async def errors_and_counts(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every answer is JSON (400/404/405/500/503 included) and every request is counted by route."""
    route = _endpoint(request) or "unmatched"
    try:
        resp = await handler(request)
    except BadParam as exc:
        resp = _error(400, str(exc))
    except web.HTTPException as exc:
        resp = _error(exc.status, exc.reason)
        if exc.status == 405:
            resp.headers["Allow"] = exc.headers.get("Allow", "")
    except (psycopg_pool.PoolTimeout, psycopg.OperationalError) as exc:
        log.warning("database unavailable: %s", exc)
        resp = _error(503, "database unavailable")
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        resp = _error(500, "internal error")
    request.app[COUNTERS].record(route, resp.status)
    return resp


@web.middleware
async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    endpoint = _endpoint(request)
    if endpoint not in ENDPOINTS:
        return await handler(request)
    state = request.app[FAULTS]
    k = state.knobs(endpoint)
    request[KNOBS] = k
    injected: list[str] = []  # what was injected, in the X-Injected-Fault header (observable by tests)
    if k.delay_ms:
        await asyncio.sleep(k.delay_ms / 1000.0)
        injected.append(f"delay={k.delay_ms:g}ms")
    if state.should_fail(k):
        resp: web.StreamResponse = _error(500, "injected fault", endpoint=endpoint)
        injected.append("error")
    else:
        t0 = time.perf_counter()
        try:
            resp = await handler(request)
        except BadParam as exc:
            resp = _error(400, str(exc))
        if k.slowdown:
            extra = k.slowdown * (time.perf_counter() - t0)
            await asyncio.sleep(extra)
            injected.append(f"slowdown={extra * 1000:.3f}ms")
    stall = state.stall_remaining(k)
    if stall > 0:
        await asyncio.sleep(stall)
        injected.append(f"stall={stall * 1000:.3f}ms")
    if not k.cache:
        injected.append("no-cache")
    if MISS_PAID in request:
        injected.append(f"miss={request[MISS_PAID]:g}ms")
    if k.n_plus_one and endpoint == "list_tools":
        injected.append("n+1")
    if injected:
        resp.headers["X-Injected-Fault"] = ";".join(injected)
    return resp


# --- the application -------------------------------------------------------------------------------------


def make_app(
    database_url: str,
    faults: Faults | None = None,
    *,
    git_sha: str | None = None,
    cache_size: int = 1000,
    cache_ttl: float = 300.0,
    pool_min: int = 2,
    pool_max: int = 8,
) -> web.Application:
    app = web.Application(middlewares=[errors_and_counts, inject_faults], client_max_size=64 * 1024)
    app[CATALOG] = Catalog(database_url, min_size=pool_min, max_size=pool_max)
    app[CACHE] = LRUCache(max_size=cache_size, ttl=cache_ttl)
    app[FAULTS] = FaultState(faults)
    app[COUNTERS] = Counters()
    app[INFO] = {"git_sha": git_sha, "tool_count": 0, "started": time.monotonic()}

    async def database(app: web.Application) -> AsyncIterator[None]:
        catalog = app[CATALOG]
        await catalog.open()
        try:
            app[INFO]["tool_count"] = await catalog.setup()
            # setup re-created every schema index; faults given at start drop theirs again
            if app[FAULTS].faults.drop_indexes:
                await catalog.set_dropped_indexes(app[FAULTS].faults.drop_indexes)
            yield
        finally:
            await catalog.close()

    app.cleanup_ctx.append(database)

    r = app.router
    # static routes before `/{name}`: aiohttp matches in registration order
    r.add_get(PREFIX, list_tools, name="list_tools", allow_head=False)
    r.add_get(PREFIX + "/", list_tools, name="list_tools:slash", allow_head=False)
    r.add_get(PREFIX + "/search/query", search, name="search", allow_head=False)
    r.add_get(PREFIX + "/performance/stats", stats, name="stats", allow_head=False)
    r.add_get(PREFIX + "/health", health, name="health:prefixed", allow_head=False)
    r.add_get(PREFIX + "/version", version, name="version:prefixed", allow_head=False)
    r.add_get(PREFIX + "/{name}/versions", versions, name="versions", allow_head=False)
    r.add_get(PREFIX + "/{name}", get_tool, name="get_tool", allow_head=False)
    r.add_get("/health", health, name="health", allow_head=False)
    r.add_get("/version", version, name="version", allow_head=False)
    r.add_route("GET", "/admin/faults", admin_faults, name="admin_faults")
    r.add_route("PUT", "/admin/faults", admin_faults, name="admin_faults:put")
    return app
