"""The LRU cache alone: hits, misses, LRU eviction, TTL expiry, lifetime counters."""

from __future__ import annotations

import pytest

from loadwatch.demo.cache import LRUCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_hit_and_miss_counting() -> None:
    c: LRUCache[str] = LRUCache(max_size=4, ttl=10)
    assert c.get("tool:a:latest") is None
    c.set("tool:a:latest", "A")
    assert c.get("tool:a:latest") == "A"
    assert c.get("tool:a:latest") == "A"
    s = c.stats()
    assert (s["hits"], s["misses"], s["total_requests"], s["size"]) == (2, 1, 3, 1)
    assert s["hit_rate"] == pytest.approx(66.67)


def test_lru_eviction_keeps_recently_used() -> None:
    c: LRUCache[int] = LRUCache(max_size=2, ttl=10)
    c.set("a", 1)
    c.set("b", 2)
    assert c.get("a") == 1  # a is now most recently used
    c.set("c", 3)  # evicts b
    assert c.get("b") is None
    assert c.get("a") == 1 and c.get("c") == 3
    assert c.stats()["evictions"] == 1
    assert len(c) == 2


def test_overwrite_does_not_evict() -> None:
    c: LRUCache[int] = LRUCache(max_size=2, ttl=10)
    c.set("a", 1)
    c.set("b", 2)
    c.set("a", 10)
    assert c.stats()["evictions"] == 0
    assert c.get("a") == 10 and c.get("b") == 2


def test_ttl_expiry_counts_expiration_and_miss() -> None:
    clock = Clock()
    c: LRUCache[str] = LRUCache(max_size=2, ttl=5, clock=clock)
    c.set("a", "x")
    clock.now += 4.9
    assert c.get("a") == "x"
    clock.now += 0.2
    assert c.get("a") is None
    s = c.stats()
    assert (s["hits"], s["misses"], s["expirations"], s["size"]) == (1, 1, 1, 0)


def test_per_entry_ttl_and_clear_keeps_counters() -> None:
    clock = Clock()
    c: LRUCache[str] = LRUCache(max_size=3, ttl=100, clock=clock)
    c.set("short", "s", ttl=1)
    c.set("long", "l")
    clock.now += 2
    assert c.get("short") is None and c.get("long") == "l"
    c.clear()
    assert len(c) == 0
    assert c.stats()["hits"] == 1 and c.stats()["expirations"] == 1
    assert c.delete("long") is False


def test_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError):
        LRUCache(max_size=0)
    with pytest.raises(ValueError):
        LRUCache(ttl=0)
