"""Fault injection for the demo target (issue 8 §7): the knobs, their validation and their runtime state.

Each knob is set globally and may be overridden per endpoint; an endpoint's knob that is not given falls
back to the global one. `stall_at` counts seconds from the moment the faults took effect (server start for
command-line faults, the PUT for runtime changes).

Besides the timing knobs, three faults change what the service really does (issue 17), so that a regression
has a cause loadwatch can find: `drop_indexes` (global) drops schema indexes in Postgres, `n_plus_one` loads
list_tools' page one query per tool, and `cache: false` is a cache that stops caching (every lookup misses,
nothing is stored)."""

from __future__ import annotations

import ipaddress
import math
import random
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from loadwatch.demo.schema import DROPPABLE_INDEXES
from loadwatch.errors import InvalidInput

__all__ = ["ENDPOINTS", "EndpointFaults", "FaultState", "Faults", "Knobs", "is_loopback_peer"]

ENDPOINTS = ("list_tools", "get_tool", "versions", "search", "stats", "health", "version")
_KNOBS = ("delay_ms", "slowdown", "error_rate", "stall_at", "stall_for", "cache", "n_plus_one", "miss_ms")
_BOOL_KNOBS = ("cache", "n_plus_one")


@dataclass(frozen=True)
class Knobs:
    """The effective faults of one request."""

    delay_ms: float = 0.0  # added before the handler runs
    slowdown: float = 0.0  # the response waits an extra slowdown x the handler's own time
    error_rate: float = 0.0  # fraction of requests answered 500 (seeded RNG)
    stall_at: float | None = None  # seconds after the faults took effect
    stall_for: float = 0.0  # every response waits while [stall_at, stall_at + stall_for) lasts
    cache: bool = True  # False: lookups still happen (and count) but always miss, and nothing is stored
    n_plus_one: bool = False  # list_tools only: one query per tool of the page instead of one for the page
    # get_tool only: what the lookup behind the cache costs besides its database statement (a remote call, a render),
    # paid on every miss: a property of the service that makes its cache worth having, not a fault by itself
    miss_ms: float = 0.0


@dataclass(frozen=True)
class EndpointFaults:
    """Per-endpoint overrides; None = use the global value."""

    delay_ms: float | None = None
    slowdown: float | None = None
    error_rate: float | None = None
    stall_at: float | None = None
    stall_for: float | None = None
    cache: bool | None = None
    n_plus_one: bool | None = None
    miss_ms: float | None = None


@dataclass(frozen=True)
class Faults:
    delay_ms: float = 0.0
    slowdown: float = 0.0
    error_rate: float = 0.0
    stall_at: float | None = None
    stall_for: float = 0.0
    cache: bool = True
    n_plus_one: bool = False
    miss_ms: float = 0.0
    seed: int = 0
    endpoints: dict[str, EndpointFaults] = field(default_factory=dict)
    drop_indexes: tuple[str, ...] = ()  # schema indexes dropped in Postgres while these faults are in force

    def knobs(self, endpoint: str) -> Knobs:
        over = self.endpoints.get(endpoint)
        values = {k: getattr(self, k) for k in _KNOBS}
        if over is not None:
            values.update({k: v for k in _KNOBS if (v := getattr(over, k)) is not None})
        return Knobs(**values)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["drop_indexes"] = list(self.drop_indexes)
        out["endpoints"] = {
            name: {k: v for k, v in asdict(ep).items() if v is not None} for name, ep in self.endpoints.items()
        }
        return out

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "faults") -> Faults:
        """Validate a JSON-like mapping; raises InvalidInput naming the field and what is allowed."""
        if not isinstance(data, dict):
            raise InvalidInput("must be a JSON object", source=source)
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise InvalidInput(f"unknown key(s) {unknown}; allowed: {sorted(allowed)}", source=source)
        values = _knob_values(data, source=source, prefix="")
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InvalidInput("must be an integer", source=source, field="seed")
        drop = data.get("drop_indexes", [])
        if not isinstance(drop, list) or not all(isinstance(n, str) for n in drop):
            raise InvalidInput("must be a list of index names", source=source, field="drop_indexes")
        unknown_idx = sorted(set(drop) - set(DROPPABLE_INDEXES))
        if unknown_idx:
            raise InvalidInput(
                f"unknown index(es) {unknown_idx}; allowed: {sorted(DROPPABLE_INDEXES)}", source=source,
                field="drop_indexes",
            )
        raw_eps = data.get("endpoints", {})
        if not isinstance(raw_eps, dict):
            raise InvalidInput(
                f"must be an object keyed by endpoint name {list(ENDPOINTS)}", source=source, field="endpoints"
            )
        endpoints: dict[str, EndpointFaults] = {}
        for name, raw in raw_eps.items():
            if name not in ENDPOINTS:
                raise InvalidInput(
                    f"unknown endpoint {name!r}; allowed: {list(ENDPOINTS)}", source=source, field="endpoints"
                )
            if not isinstance(raw, dict):
                raise InvalidInput("must be an object of fault knobs", source=source, field=f"endpoints.{name}")
            bad = sorted(set(raw) - set(_KNOBS))
            if bad:
                raise InvalidInput(
                    f"unknown knob(s) {bad}; allowed: {list(_KNOBS)}", source=source, field=f"endpoints.{name}"
                )
            endpoints[name] = EndpointFaults(**_knob_values(raw, source=source, prefix=f"endpoints.{name}."))
        return cls(**values, seed=seed, endpoints=endpoints, drop_indexes=tuple(dict.fromkeys(drop)))


def _knob_values(data: dict[str, Any], *, source: str, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _KNOBS:
        if key not in data:
            continue
        value = data[key]
        where = prefix + key
        if key in _BOOL_KNOBS:
            if not isinstance(value, bool):
                raise InvalidInput("must be true or false", source=source, field=where)
            out[key] = value
            continue
        if key == "stall_at" and value is None:
            out[key] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise InvalidInput("must be a finite number >= 0", source=source, field=where)
        if key == "error_rate" and value > 1:
            raise InvalidInput("must be a fraction between 0 and 1", source=source, field=where)
        if key in ("delay_ms", "stall_for", "stall_at", "miss_ms") and value > 3_600_000:
            raise InvalidInput("is unreasonably large (at most one hour)", source=source, field=where)
        if key == "slowdown" and value > 100:
            raise InvalidInput("must be at most 100 (x the handler's own time)", source=source, field=where)
        out[key] = float(value)
    return out


class FaultState:
    """The faults in force, when they took effect, and the seeded RNG that decides injected errors."""

    def __init__(self, faults: Faults | None = None, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self.set(faults or Faults())

    def set(self, faults: Faults) -> None:
        self.faults = faults
        self.since = self._clock()
        self._rng = random.Random(faults.seed)
        self._cache: dict[str, Knobs] = {}

    def knobs(self, endpoint: str) -> Knobs:
        k = self._cache.get(endpoint)
        if k is None:
            k = self._cache[endpoint] = self.faults.knobs(endpoint)
        return k

    def should_fail(self, k: Knobs) -> bool:
        # drawn only when a rate is set, so the sequence of failures is reproducible for a given seed
        return k.error_rate > 0 and self._rng.random() < k.error_rate

    def stall_remaining(self, k: Knobs) -> float:
        """Seconds this response must still wait because a stall window is open now (0 if none)."""
        if k.stall_at is None or k.stall_for <= 0:
            return 0.0
        elapsed = self._clock() - self.since
        start, end = k.stall_at, k.stall_at + k.stall_for
        return end - elapsed if start <= elapsed < end else 0.0


def is_loopback_peer(peer: str | None) -> bool:
    """True only for a loopback IP peer (127.0.0.0/8, ::1, IPv4-mapped loopback); the admin endpoint's gate."""
    if not peer:
        return False
    try:
        addr = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback
