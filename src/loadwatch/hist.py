"""The latency histogram, in one place: one fixed geometry (integer µs, 1 µs .. 1 h, 3 significant figures),
vectorised bulk recording, fast percentiles, exact merging through the standard encoded form, and the non-empty
buckets of an encoded histogram as arrays. The engine records with it, the run record and the report read it, the
statistics (loadwatch.stats.histboot's bootstrap, the gate) resample its bucket arrays.

It sits at the top of the core, not in loadwatch.engine: the statistics and the pipeline read stored histograms
without needing the load generator.

`hdrh.record_value` costs ~1.7 µs in pure Python, more than the rest of the request path, so the hot path
appends raw µs values to an `array('q')` and `record_many` bins them with numpy once per window into the same
counters `record_value` would touch (a test checks the equality). Percentiles are read with a cumulative sum
using hdrh's own definition (`rank`: target count rounded, highest equivalent value)."""

from __future__ import annotations

import base64
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from hdrh.histogram import HdrHistogram

__all__ = [
    "HIGHEST_US",
    "LOWEST_US",
    "PERCENTILES",
    "SIG_FIGS",
    "STAT_KEYS",
    "BucketCounts",
    "at_least",
    "clear",
    "decode",
    "decode_counts",
    "empty_stats",
    "encode",
    "merge_encoded",
    "new_hist",
    "percentile_us",
    "rank",
    "record_many",
    "stats_ms",
]

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # 1 h: anything slower is recorded at it and counted as clamped (see record_many)
SIG_FIGS = 3
PERCENTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
STAT_KEYS = ("mean", "p50", "p90", "p95", "p99", "p999", "max")


def new_hist() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIG_FIGS)


def _counts(h: HdrHistogram) -> np.ndarray:
    return np.ctypeslib.as_array(h.counts)


def clear(h: HdrHistogram) -> None:
    """Empty `h` in place (hdrh's own `reset` loops over its 23k counters in Python)."""
    _counts(h)[:] = 0
    h.total_count = 0
    h.min_value = HIGHEST_US * 2
    h.max_value = 0


@lru_cache(maxsize=1)
def _geometry() -> tuple[int, int, int, int, int, np.ndarray]:
    h = new_hist()
    # per counts index: the median equivalent value, for the mean (as hdrh's get_mean_value computes it)
    med = np.array(
        [h._hdr_median_equiv_value(h.get_value_from_index(i)) for i in range(h.counts_len)], dtype=np.float64
    )
    return (
        h.sub_bucket_mask,
        h.unit_magnitude,
        h.sub_bucket_half_count_magnitude,
        h.sub_bucket_half_count,
        h.counts_len,
        med,
    )


def record_many(h: HdrHistogram, values: array[int] | np.ndarray | Iterable[int]) -> int:
    """Record integer µs values exactly as `h.record_value` would, in one vectorised pass. Values above
    HIGHEST_US are recorded at HIGHEST_US (the edge) instead of being refused; returns how many were (the
    caller counts them: nothing is clipped in silence). Negative values (impossible from a monotonic clock)
    are recorded as 0."""
    v = np.asarray(values if not isinstance(values, array) else np.frombuffer(values, dtype=np.int64), dtype=np.int64)
    if v.size == 0:
        return 0
    mask, unit_mag, sbhcm, half, counts_len, _ = _geometry()
    clamped = int(np.count_nonzero(v > HIGHEST_US))
    v = np.clip(v, 0, HIGHEST_US)
    # bit length via the float exponent: exact because values < 2**53
    bitlen = np.frexp((v | mask).astype(np.float64))[1].astype(np.int64)
    bucket = bitlen - unit_mag - (sbhcm + 1)
    sub = v >> (bucket + unit_mag)
    idx = ((bucket + 1) << sbhcm) + sub - half
    _counts(h)[:] += np.bincount(idx, minlength=counts_len).astype(np.uint64)
    h.total_count += int(v.size)
    h.min_value = min(h.min_value, int(v.min()))
    h.max_value = max(h.max_value, int(v.max()))
    return clamped


def rank(total: int, percentile: float) -> int:
    """hdrh's definition of the q-th percentile's rank among `total` values: round(q% of N), at least 1."""
    return max(int(min(percentile, 100.0) * total / 100 + 0.5), 1)


def percentile_us(h: HdrHistogram, percentile: float) -> int:
    """`h.get_value_at_percentile(percentile)` without the Python loop over 23k counters."""
    total = h.total_count
    if total <= 0:
        return 0
    cum = np.cumsum(_counts(h))
    idx = int(np.searchsorted(cum, rank(total, percentile), side="left"))
    idx = min(idx, h.counts_len - 1)
    value = h.get_value_from_index(idx)
    return int(h.get_highest_equivalent_value(value) if percentile else h.get_lowest_equivalent_value(value))


@lru_cache(maxsize=1)
def _edge_hist() -> HdrHistogram:
    return new_hist()


def at_least(stats: dict[str, float | None], censored_min_us: int | None) -> list[str]:
    """The keys of `stats_ms` output that are lower bounds, given the smallest censored value (a latency
    recorded when its request was abandoned, or clamped at the edge; its true value is at least that).

    The value at rank r is exact while every censored value lies in a higher bucket: raising censored values
    then moves nothing at or below rank r. Once the bucket at rank r reaches the smallest censored value's
    bucket, the true value at that rank can only be larger: a lower bound. `max` is then always one, and so is
    the mean (it averages lower bounds)."""
    if censored_min_us is None:
        return []
    edge_ms = round(_edge_hist().get_lowest_equivalent_value(int(censored_min_us)) / 1000.0, 3)
    return [k for k in STAT_KEYS if k == "mean" or (stats.get(k) or 0.0) >= edge_ms]


def empty_stats() -> dict[str, float | None]:
    """No answers, no latency: every key is None (null in summary.json, "no answers" in the report), never 0."""
    return dict.fromkeys(STAT_KEYS)


def stats_ms(h: HdrHistogram) -> dict[str, float | None]:
    """{mean, p50, p90, p95, p99, p999, max} in milliseconds (all None when the histogram is empty)."""
    total = h.total_count
    if total <= 0:
        return empty_stats()
    counts = _counts(h)
    cum = np.cumsum(counts)
    out: dict[str, float | None] = {}
    mean_us = float(np.dot(counts.astype(np.float64), _geometry()[5]) / total)
    out["mean"] = round(mean_us / 1000.0, 3)
    for key, pct in PERCENTILES.items():
        idx = min(int(np.searchsorted(cum, rank(total, pct), side="left")), h.counts_len - 1)
        out[key] = round(h.get_highest_equivalent_value(h.get_value_from_index(idx)) / 1000.0, 3)
    out["max"] = round(h.get_max_value() / 1000.0, 3)
    return out


def encode(h: HdrHistogram) -> str:
    raw = h.encode()
    return raw.decode("ascii") if isinstance(raw, bytes) else str(raw)


def decode(blob: str) -> HdrHistogram:
    h = new_hist()
    if blob:
        h.decode_and_add(blob)
    return h


def merge_encoded(blobs: Iterable[str]) -> HdrHistogram:
    """Exact merge: counters added, so percentiles of the merge are those of the union."""
    h = new_hist()
    for blob in blobs:
        if blob:
            h.decode_and_add(blob)
    return h


# ---------------------------------------------------------------- bucket arrays (what the statistics resample)


@dataclass(frozen=True)
class BucketCounts:
    """Non-empty buckets of a latency histogram: values (µs, highest equivalent value, ascending) and counts."""

    values: np.ndarray
    counts: np.ndarray

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def decode_counts(blob: str) -> BucketCounts | None:
    """The buckets of a base64 HdrHistogram (as `hdrh` encodes it, any geometry); None when empty or unreadable."""
    if not blob:
        return None
    try:
        base64.b64decode(blob, validate=False)
        h = HdrHistogram.decode(blob)
    except Exception:  # a corrupt stored blob (hdrh's cookie/length errors, zlib.error...) is no histogram
        return None
    if h is None or h.total_count <= 0:
        return None
    counts = _counts(h).astype(np.int64)
    nz = np.flatnonzero(counts)
    return BucketCounts(values=_highest_equivalent_values(h, nz), counts=counts[nz])


def _highest_equivalent_values(h: HdrHistogram, index: np.ndarray) -> np.ndarray:
    """hdrh's get_highest_equivalent_value(get_value_from_index(i)) for every i at once (the same integer
    arithmetic, vectorised: one Python call per bucket cost ~1 s for a year of 10-scenario histograms)."""
    half_mag = int(h.sub_bucket_half_count_magnitude)
    half = int(h.sub_bucket_half_count)
    unit = int(h.unit_magnitude)
    idx = index.astype(np.int64)
    bucket = (idx >> half_mag) - 1
    sub = (idx & (half - 1)) + half
    first = bucket < 0
    sub[first] -= half
    bucket[first] = 0
    lowest = sub << (bucket + unit)
    highest: np.ndarray = (lowest + (np.int64(1) << (bucket + unit)) - 1).astype(np.float64)
    return highest
