"""Counters over a window: two readings (the target's stats endpoint, the target database's counters) flattened to
numbers and diffed, so a cache hit rate is Δhits / Δlookups of *this* run, not of the process's lifetime."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from loadwatch.observations import CounterWindow

__all__ = [
    "counter_deltas",
    "flatten_numeric",
]

# Ratios derived over the window: (counter suffix, partner suffix). `blks_hit`/`blks_read` is Postgres'.
_RATIO_PAIRS = (("hits", "misses"), ("hit", "miss"), ("hit", "read"))


def flatten_numeric(doc: Mapping[str, Any], prefix: str = "", *, _depth: int = 0) -> dict[str, float]:
    """Dotted keys of the numeric leaves: {"a": {"b": 1}} -> {"a.b": 1.0}. Booleans, strings, lists and
    non-finite numbers are left out (a list has no stable key to diff by)."""
    out: dict[str, float] = {}
    if _depth > 32:  # a stats document is never this deep; stop rather than recurse without bound
        return out
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            if math.isfinite(value):
                out[name] = float(value)
        elif isinstance(value, Mapping):
            out.update(flatten_numeric(value, f"{name}.", _depth=_depth + 1))
    return out


def _ratio_pairs(keys: Iterable[str]) -> list[tuple[str, str, str]]:
    """(hit key, partner key, derived name) for every X.hits/X.misses, X_hit/X_miss, blks_hit/blks_read."""
    present = set(keys)
    pairs = []
    for key in sorted(present):
        for hit, other in _RATIO_PAIRS:
            if not key.endswith(hit):
                continue
            base = key[: -len(hit)]
            if base and base[-1] not in "._":
                continue
            partner = base + other
            if partner in present:
                pairs.append((key, partner, base + "hit_rate_window"))
                break
    return pairs


# Fields that are levels, not counts (a ratio, a size, a percentile): diffing them means nothing, so they
# are reported as {pre, post} under "gauges". Matched on the last dotted segment, as a whole word.
_GAUGE = re.compile(
    r"(?:^|_)(?:ratio|rate|percent|pct|avg|average|mean|median|p\d+|size|current|active|idle|available"
    r"|min|max|utilization|usage|gauge|level)$",
    re.IGNORECASE,
)


def _is_gauge(key: str) -> bool:
    return bool(_GAUGE.search(key.rsplit(".", 1)[-1]))


def counter_deltas(pre: Mapping[str, Any], post: Mapping[str, Any]) -> CounterWindow:
    """{"pre", "post", "delta", "resets", "gauges"} of two readings (nested or already flat).

    delta[key] = post - pre for keys present in both (a key in only one reading has no delta); a counter
    that went down was reset during the window, so everything it counts happened since: delta = post, and
    its key is listed in `resets`. A field whose name says it is a level (…ratio, …_size, avg, p95, …) is
    not diffed: it is in `gauges` as {pre, post}. Derived ratios over the window go into delta too:
    `X.hit_rate_window` = 100 * Δhits / (Δhits + Δmisses), None when there were no lookups (the same for
    `_hit`/`_miss` and Postgres' `blks_hit`/`blks_read`).
    """
    flat_pre, flat_post = flatten_numeric(pre), flatten_numeric(post)
    delta: dict[str, float | None] = {}
    resets: list[str] = []
    gauges: dict[str, dict[str, float]] = {}
    for key in sorted(flat_pre.keys() & flat_post.keys()):
        if _is_gauge(key):
            gauges[key] = {"pre": flat_pre[key], "post": flat_post[key]}
            continue
        d = flat_post[key] - flat_pre[key]
        if d < 0:
            resets.append(key)
            d = flat_post[key]
        delta[key] = d
    for hit, other, name in _ratio_pairs(list(delta)):
        h, m = delta[hit], delta[other]
        assert h is not None and m is not None
        delta[name] = round(100.0 * h / (h + m), 4) if h + m > 0 else None
    return {"pre": flat_pre, "post": flat_post, "delta": delta, "resets": resets, "gauges": gauges}
