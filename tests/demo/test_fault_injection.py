"""Each fault knob over real HTTP, globally and per endpoint, switched at runtime through /admin/faults.

Latency checks are lower bounds only (an injected sleep can only make a response slower); what was injected
is read from the X-Injected-Fault header."""

from __future__ import annotations

import random
import time

from loadwatch.demo.seed import generate

from .conftest import Reply, Served

API = "/api/v1/tools"


def _timed(target: Served, path: str) -> tuple[Reply, float]:
    t0 = time.perf_counter()
    r = target.get(path)
    return r, time.perf_counter() - t0


def _injected(r: Reply) -> str:
    return r.headers.get("X-Injected-Fault", "")


def test_admin_get_and_put_switch_faults_at_runtime(target: Served) -> None:
    assert target.get("/admin/faults").body["endpoints"] == {}
    put = target.set_faults({"delay_ms": 5, "endpoints": {"search": {"delay_ms": 0}}})
    assert put.status == 200 and put.body["delay_ms"] == 5
    assert target.get("/admin/faults").body["endpoints"] == {"search": {"delay_ms": 0.0}}
    assert "delay=5ms" in _injected(target.get(API + "?page_size=1"))
    assert _injected(target.get(API + "/search/query?q=log")) == ""
    target.set_faults({})
    assert _injected(target.get(API + "?page_size=1")) == ""


def test_global_delay(target: Served) -> None:
    target.set_faults({"delay_ms": 120})
    r, elapsed = _timed(target, "/health")
    assert r.status == 200 and "delay=120ms" in _injected(r)
    assert elapsed >= 0.115
    r, _ = _timed(target, API + "/search/query?q=git")
    assert "delay=120ms" in _injected(r)


def test_delay_on_one_endpoint_only(target: Served) -> None:
    target.set_faults({"endpoints": {"list_tools": {"delay_ms": 100}}})
    r, elapsed = _timed(target, API + "?page_size=5")
    assert r.status == 200 and len(r.body["tools"]) == 5
    assert _injected(r) == "delay=100ms" and elapsed >= 0.095
    for path in ("/health", API + "/search/query?q=dns", f"{API}/{generate()[0].tool_name}/versions"):
        assert _injected(target.get(path)) == ""


def test_slowdown_scales_the_handlers_own_time(target: Served) -> None:
    target.set_faults({"endpoints": {"search": {"slowdown": 3.0}}})
    r, elapsed = _timed(target, API + "/search/query?q=net&limit=50")
    assert r.status == 200 and r.body["total"] > 0
    kind, _, amount = _injected(r).partition("=")
    assert kind == "slowdown"
    extra_ms = float(amount.removesuffix("ms"))
    assert extra_ms > 0
    # the client waited for the handler and then for the injected extra
    assert elapsed * 1000 >= extra_ms
    assert _injected(target.get(API + "?page_size=1")) == ""


def test_error_rate_is_seeded_and_per_endpoint(target: Served) -> None:
    target.set_faults({"seed": 7, "endpoints": {"health": {"error_rate": 0.4}}})
    before = target.stats()["requests"]["errors"]
    statuses = [target.get("/health").status for _ in range(40)]
    rng = random.Random(7)
    assert statuses == [500 if rng.random() < 0.4 else 200 for _ in range(40)]
    assert 0 < statuses.count(500) < 40
    assert target.stats()["requests"]["errors"] - before == statuses.count(500)
    # other endpoints unaffected
    assert all(target.get(API + "?page_size=1").status == 200 for _ in range(10))
    # the same seed set again replays the same sequence
    target.set_faults({"seed": 7, "endpoints": {"health": {"error_rate": 0.4}}})
    assert [target.get("/health").status for _ in range(40)] == statuses


def test_error_rate_one_fails_everything_with_json(target: Served) -> None:
    target.set_faults({"error_rate": 1.0})
    for path in (API, f"{API}/{generate()[0].tool_name}", API + "/search/query?q=x", "/version"):
        r = target.get(path)
        assert r.status == 500 and r.body["message"] == "injected fault"
    assert target.get("/admin/faults").status == 200  # the admin endpoint is never faulted
    target.set_faults({})
    assert target.get(API).status == 200


def test_stall_window_holds_responses_until_it_ends(target: Served) -> None:
    target.set_faults({"stall_at": 0, "stall_for": 1.0})
    r, elapsed = _timed(target, "/health")
    kind, _, amount = _injected(r).partition("=")
    assert r.status == 200 and kind == "stall"
    assert elapsed * 1000 >= float(amount.removesuffix("ms")) > 0
    # once the window is over (the first response waited until its end), nothing stalls any more
    assert _injected(target.get("/health")) == ""
    target.set_faults({"stall_at": 3600, "stall_for": 5})
    assert _injected(target.get("/health")) == ""  # a window in the future does not stall yet


def test_stall_on_one_endpoint(target: Served) -> None:
    target.set_faults({"endpoints": {"get_tool": {"stall_at": 0, "stall_for": 0.5}}})
    assert _injected(target.get("/health")) == ""
    r = target.get(f"{API}/{generate()[0].tool_name}")
    assert r.status == 200 and _injected(r).startswith("stall=")


def test_no_cache_is_a_cache_that_stops_caching_per_endpoint_and_globally(target: Served) -> None:
    name = next(r.tool_name for r in generate() if r.is_latest and r.enabled)
    target.get(f"{API}/{name}")  # warm
    warm = target.stats()["cache"]
    assert target.get(f"{API}/{name}").status == 200
    hit = target.stats()["cache"]
    assert hit["hits"] == warm["hits"] + 1
    # the fault empties the cache and stops storing: every lookup is counted, and every one misses
    target.set_faults({"endpoints": {"get_tool": {"cache": False}}})
    for _ in range(3):
        r = target.get(f"{API}/{name}")
        assert r.status == 200 and r.body["tool_name"] == name and _injected(r) == "no-cache"
    after = target.stats()["cache"]
    assert (after["hits"], after["misses"]) == (hit["hits"], hit["misses"] + 3)
    assert after["size"] == 0
    target.set_faults({"cache": False})
    target.get(f"{API}/{name}")
    assert target.stats()["cache"]["misses"] == hit["misses"] + 4
    target.set_faults({})
    target.get(f"{API}/{name}")  # caching again: one miss stores it, the next lookup hits
    target.get(f"{API}/{name}")
    final = target.stats()["cache"]
    assert (final["hits"], final["misses"]) == (hit["hits"] + 1, hit["misses"] + 5)


def test_a_lookup_cost_is_paid_on_every_miss_and_never_on_a_hit(target: Served) -> None:
    """`miss_ms`: what get_tool's lookup behind the cache costs (a remote call), paid only when the cache misses, so
    a cache that stops caching costs every request that much (the attribution proof's cache fault)."""
    names = [r.tool_name for r in generate() if r.is_latest and r.enabled][1:3]
    target.set_faults({"cache": False})  # empties the cache (as a restart would)
    target.set_faults({"endpoints": {"get_tool": {"miss_ms": 4}}})
    first = target.get(f"{API}/{names[0]}")
    again = target.get(f"{API}/{names[0]}")
    assert first.status == again.status == 200 and first.body == again.body
    assert _injected(first) == "miss=4ms", "the first lookup after the cache was emptied misses, and pays"
    assert _injected(again) == "", "a hit never pays the lookup"
    target.set_faults({"endpoints": {"get_tool": {"miss_ms": 4, "cache": False}}})
    for _ in range(2):
        assert _injected(target.get(f"{API}/{names[1]}")) == "no-cache;miss=4ms"
    target.set_faults({})
    assert "miss=" not in _injected(target.get(f"{API}/{names[1]}"))
