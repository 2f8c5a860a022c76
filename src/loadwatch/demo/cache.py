"""An LRU cache with a per-entry TTL and lifetime counters, as in the seed (research/seed_origin.md §4).

Single event-loop use only: no lock. Expired entries are dropped when read (and counted), as the seed does;
counters live for the process lifetime because loadwatch diffs them over the load window."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["LRUCache"]

V = TypeVar("V")


class LRUCache(Generic[V]):
    def __init__(self, max_size: int = 1000, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        if max_size < 1 or ttl <= 0:
            raise ValueError("max_size must be >= 1 and ttl > 0")
        self.max_size = max_size
        self.ttl = ttl
        self._clock = clock
        self._data: OrderedDict[str, tuple[float, V]] = OrderedDict()  # key -> (expires_at, value)
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.expirations = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> V | None:
        entry = self._data.get(key)
        if entry is None:
            self.misses += 1
            return None
        expires_at, value = entry
        if self._clock() >= expires_at:
            del self._data[key]
            self.expirations += 1
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return value

    def set(self, key: str, value: V, ttl: float | None = None) -> None:
        if key in self._data:
            self._data.move_to_end(key)
        elif len(self._data) >= self.max_size:
            self._data.popitem(last=False)
            self.evictions += 1
        self._data[key] = (self._clock() + (self.ttl if ttl is None else ttl), value)

    def delete(self, key: str) -> bool:
        return self._data.pop(key, None) is not None

    def clear(self) -> None:
        """Drop every entry; the counters stay (they are lifetime counters)."""
        self._data.clear()

    def stats(self) -> dict[str, Any]:
        total = self.hits + self.misses
        return {
            "size": len(self._data),
            "max_size": self.max_size,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": round(100.0 * self.hits / total, 2) if total else 0.0,  # percent, as the seed reports it
            "evictions": self.evictions,
            "expirations": self.expirations,
            "total_requests": total,
        }
