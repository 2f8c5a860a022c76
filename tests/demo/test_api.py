"""Every route of the demo Tool Catalog over real HTTP on loopback, against a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from loadwatch.demo.seed import CATEGORIES, PLATFORMS, generate

from .conftest import Served, http

API = "/api/v1/tools"


def _count(db: str, where: str = "true", params: tuple[Any, ...] = ()) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute(f"SELECT count(*) FROM tool_catalog.tools WHERE {where}", params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return int(row[0])


def test_seeded_deterministically_and_idempotently(served: Served, catalog_db: str) -> None:
    rows = generate()
    assert _count(catalog_db) == len(rows)
    assert len({r.tool_name for r in rows}) == 300
    assert _count(catalog_db, "is_latest") == 300
    assert generate() == rows
    again = Served(catalog_db)  # a second start over the same database seeds nothing new
    try:
        assert _count(catalog_db) == len(rows)
        assert again.get("/health").body["tool_count"] == len(rows)
    finally:
        again.close()
    with psycopg.connect(catalog_db) as conn:
        idx = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'tool_catalog'")}
        # every child version points at an existing parent of the same tool
        orphans = conn.execute(
            "SELECT count(*) FROM tool_catalog.tools c JOIN tool_catalog.tools p ON p.id = c.parent_version_id"
            " WHERE p.tool_name <> c.tool_name"
        ).fetchone()
    assert {"idx_tools_name_trgm", "idx_tools_description_trgm", "idx_tools_name_latest_enabled"} <= idx
    assert orphans == (0,)


def test_list_default_paging_and_total(target: Served, catalog_db: str) -> None:
    r = target.get(API)
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert (r.body["page"], r.body["page_size"], r.body["total"]) == (1, 50, _count(catalog_db))
    assert len(r.body["tools"]) == 50
    names = [(t["tool_name"], t["id"]) for t in r.body["tools"]]
    assert names == sorted(names)
    p1 = target.get(API + "?page=1&page_size=7").body["tools"]
    p2 = target.get(API + "?page=2&page_size=7").body["tools"]
    assert len(p1) == len(p2) == 7
    assert not {t["id"] for t in p1} & {t["id"] for t in p2}
    assert p1[-1]["tool_name"] <= p2[0]["tool_name"]
    past = target.get(API + "?page=100000&page_size=100").body
    assert past["tools"] == [] and past["total"] == _count(catalog_db)
    keys = {
        "id",
        "tool_name",
        "version",
        "description",
        "platform",
        "category",
        "status",
        "enabled",
        "defaults",
        "dependencies",
        "metadata",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
        "is_latest",
    }
    assert keys <= set(p1[0])


@pytest.mark.parametrize(
    ("query", "where", "params"),
    [
        ("platform=linux", "platform = %s", ("linux",)),
        ("category=network", "category = %s", ("network",)),
        ("status=deprecated", "status = %s", ("deprecated",)),
        ("enabled=false", "NOT enabled", ()),
        ("enabled=true&latest=true", "enabled AND is_latest", ()),
        ("latest=false", "NOT is_latest", ()),
        ("name=disk", "tool_name ILIKE %s", ("%disk%",)),
        ("name=net&name_match=prefix", "tool_name LIKE %s", ("net%",)),
        ("name=NET", "tool_name ILIKE %s", ("%net%",)),
        (
            "platform=docker&category=system&latest=true",
            "platform = 'docker' AND category = 'system' AND is_latest",
            (),
        ),
        ("name=100%25", "false", ()),  # a literal %, not a wildcard
    ],
)
def test_list_filters_are_done_in_sql(
    target: Served, catalog_db: str, query: str, where: str, params: tuple[Any, ...]
) -> None:
    r = target.get(f"{API}?{query}&page_size=100")
    assert r.status == 200, r.body
    assert r.body["total"] == _count(catalog_db, where, params)
    tools = r.body["tools"]
    assert len(tools) == min(100, r.body["total"])
    for key, value in (p.split("=") for p in query.split("&")):
        for t in tools:
            if key in ("platform", "category", "status"):
                assert t[key] == value
            elif key == "enabled":
                assert t["enabled"] is (value == "true")
            elif key == "latest":
                assert t["is_latest"] is (value == "true")
            elif key == "name" and "name_match=prefix" in query:
                assert t["tool_name"].startswith(value.lower())
            elif key == "name":
                assert value.lower() in t["tool_name"]


def test_list_filters_reach_real_rows(target: Served) -> None:
    # the seed spreads over every platform and category, so each filter returns something
    for p in PLATFORMS:
        assert target.get(f"{API}?platform={p}&latest=true").body["total"] > 0
    for c in CATEGORIES:
        assert target.get(f"{API}?category={c}").body["total"] > 0


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=x",
        "page_size=0",
        "page_size=101",
        "platform=amiga",
        "category=x",
        "status=gone",
        "enabled=maybe",
        "latest=2",
        "name=",
        "name_match=suffix&name=a",
        "colour=blue",
        "name=" + "a" * 101,
    ],
)
def test_list_rejects_bad_parameters_with_400(target: Served, query: str) -> None:
    r = target.get(f"{API}?{query}")
    assert r.status == 400
    assert r.body["error"] == "Bad Request" and r.body["message"]


def test_get_by_name_latest_version_and_404(target: Served, catalog_db: str) -> None:
    multi = next(r for r in generate() if r.parent_version_id is not None and r.is_latest and r.enabled)
    r = target.get(f"{API}/{multi.tool_name}")
    assert r.status == 200
    assert (r.body["tool_name"], r.body["version"], r.body["is_latest"]) == (multi.tool_name, multi.version, True)
    assert r.body["capabilities"] == [c.name for c in multi.capabilities]
    missing = target.get(f"{API}/no-such-tool")
    assert missing.status == 404 and "no-such-tool" in missing.body["message"]


def test_versions(target: Served) -> None:
    all_rows = generate()
    name = next(x for x in all_rows if x.parent_version_id).tool_name
    rows = [r for r in all_rows if r.tool_name == name]
    r = target.get(f"{API}/{rows[0].tool_name}/versions")
    assert r.status == 200
    assert r.body["tool_name"] == rows[0].tool_name
    assert r.body["total_versions"] == len(rows) >= 2
    assert [v["version"] for v in r.body["versions"]] == [x.version for x in rows]
    assert [v["is_latest"] for v in r.body["versions"]] == [False] * (len(rows) - 1) + [True]
    assert target.get(f"{API}/nope/versions").status == 404


def test_search_finds_matches_by_name_and_description(target: Served) -> None:
    r = target.get(f"{API}/search/query?q=dns&limit=5")
    assert r.status == 200
    assert r.body["query"] == "dns" and r.body["fields"] == ["name", "description"]
    assert 0 < len(r.body["results"]) <= 5 <= r.body["total"]
    assert all("dns" in (x["tool_name"] + x["description"]).lower() for x in r.body["results"])
    scores = [x["score"] for x in r.body["results"]]
    assert scores == sorted(scores, reverse=True)
    # description only: a word that appears in descriptions, never in names
    d = target.get(f"{API}/search/query?q=certificates&fields=description").body
    assert d["total"] > 0 and all("certificates" in x["description"] for x in d["results"])
    assert target.get(f"{API}/search/query?q=certificates&fields=name").body["total"] == 0
    # similarity: a misspelt name still finds the tool
    assert "netcheck" in {
        x["tool_name"] for x in target.get(f"{API}/search/query?q=netchek&fields=name").body["results"]
    }
    assert target.get(f"{API}/search/query?q=zzzqqq").body == {
        "query": "zzzqqq",
        "fields": ["name", "description"],
        "results": [],
        "total": 0,
    }


@pytest.mark.parametrize("query", ["", "q=", "q=a&fields=owner", "q=a&limit=0", "q=a&limit=101", "q=a&x=1"])
def test_search_rejects_bad_parameters(target: Served, query: str) -> None:
    r = target.get(f"{API}/search/query?{query}")
    assert r.status == 400 and r.body["message"]


def test_cache_counts_hits_and_misses_and_skips_404(target: Served) -> None:
    name = generate()[5].tool_name
    before = target.stats()["cache"]
    assert target.get(f"{API}/{name}").status in (200, 404)
    target.get(f"{API}/{name}")
    target.get(f"{API}/{name}")
    target.get(f"{API}/definitely-missing")
    target.get(f"{API}/definitely-missing")
    after = target.stats()["cache"]
    assert after["total_requests"] - before["total_requests"] == 5
    assert after["misses"] - before["misses"] >= 2  # the unknown name is never cached
    assert after["hits"] - before["hits"] >= 2
    assert after["hits"] + after["misses"] == after["total_requests"]


def test_stats_shape_and_live_counters(target: Served) -> None:
    before = target.stats()
    target.get(API)
    target.get(f"{API}/search/query?q=log")
    target.get("/nope")
    body = target.get(f"{API}/performance/stats").body
    assert body["status"] == "success" and body["timestamp"] and body["version"]
    perf = body["performance"]
    assert set(perf["cache"]) >= {
        "size",
        "max_size",
        "hits",
        "misses",
        "hit_rate",
        "evictions",
        "expirations",
        "total_requests",
    }
    pool = perf["connection_pool"]
    assert pool["min"] <= pool["size"] <= pool["max"] and pool["in_use"] >= 0 and pool["waiting"] >= 0
    db = perf["database"]
    assert db["xact_commit"] > 0 and db["tup_returned"] > 0
    assert 0 <= db["cache_hit_ratio"] <= 100
    assert db["top_tables"][0]["schemaname"] == "tool_catalog" and db["top_tables"][0]["size_bytes"] > 0
    req = perf["requests"]
    assert req["total"] - before["requests"]["total"] == 4  # list, search, the 404 and the previous stats call
    assert req["by_route"]["list_tools"] >= 1 and req["by_route"]["search"] >= 1
    assert req["by_route"]["unmatched"] >= 1


def test_health_version_and_unknown_routes(target: Served) -> None:
    for path in ("/health", f"{API}/health"):
        h = target.get(path)
        assert h.status == 200 and h.body["status"] == "ok" and h.body["tool_count"] > 0
    for path in ("/version", f"{API}/version"):
        v = target.get(path)
        assert v.status == 200 and v.body["version"] and "git_sha" in v.body
    nf = target.get("/api/v2/things")
    assert nf.status == 404 and nf.body["error"] == "Not Found"
    m = http(target.url + API, "POST", {})
    assert m.status == 405 and m.body["error"] == "Method Not Allowed"


def test_bad_admin_body_is_400(target: Served) -> None:
    r = http(target.url + "/admin/faults", "PUT", {"delay_ms": -5})
    assert r.status == 400 and "delay_ms" in r.body["message"]
    r = http(target.url + "/admin/faults", "PUT", ["x"])
    assert r.status == 400
    assert target.get("/admin/faults").body["delay_ms"] == 0
