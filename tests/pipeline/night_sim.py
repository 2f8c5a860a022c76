"""One night simulated request by request, for the pure tests of whose statement is whose
(loadwatch.pipeline.ownership): what the engine's per-second windows and the monitor's per-interval statement calls
would hold.

Arrivals are paced evenly (the open model's `constant` arrival: the same total every second), each request's
scenario drawn from the weights (as the engine draws it); a statement runs a little after its request arrives and
the request completes a little later; the monitor reads the calls once a second, on the load's seconds (as
it does: both on whole wall-clock seconds) a little late, or at an `offset` of its own."""

from __future__ import annotations

import bisect
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

T0 = 1_765_000_000.0  # the load's start, wall clock


@dataclass
class Night:
    windows: list[dict[str, Any]]  # as LoadResult.windows: {"t", "scenario", "requests"}
    ends: list[float]  # the monitor's intervals: their ends (wall clock) and lengths
    lengths: list[float]
    calls: dict[str, list[int]] = field(default_factory=dict)  # statement -> calls in each interval


def simulate(*, seconds: int, rate: int, weights: Mapping[str, float],
             per_request: Mapping[str, Mapping[str, float]], background: Mapping[str, float] | None = None,
             offset: float = 0.002, latency_s: float = 0.03, seed: int = 1) -> Night:
    """`per_request[statement][scenario]`: how many times a request of that scenario runs it (the whole part every
    time, the fraction as a chance: 0.6 = on 60 % of its requests, a cache's misses); `background[statement]`: calls
    per second that follow no request (a Poisson process)."""
    rng = random.Random(seed)
    names = list(weights)
    readings = [T0 - 1.0 + offset + k + rng.uniform(0.0, 0.01) for k in range(seconds + 3)]
    n_int = len(readings) - 1
    calls = {s: [0] * n_int for s in [*per_request, *(background or {})]}

    def count(stmt: str, at: float) -> None:
        i = bisect.bisect_right(readings, at) - 1
        if 0 <= i < n_int:
            calls[stmt][i] += 1

    done: Counter[tuple[int, str]] = Counter()
    for i in range(seconds * rate):
        arrival = T0 + (i + 0.5) / rate
        sc = rng.choices(names, weights=[weights[k] for k in names])[0]
        for stmt, per in per_request.items():
            c = per.get(sc, 0.0)
            n = int(c) + (1 if rng.random() < c - int(c) else 0)
            for _ in range(n):
                count(stmt, arrival + latency_s / 2)
        done[(int(arrival + latency_s - T0), sc)] += 1
    noise = np.random.default_rng(seed)
    for stmt, per_s in (background or {}).items():
        for i in range(n_int):
            a, b = readings[i], readings[i + 1]
            for at in noise.uniform(a, b, noise.poisson(per_s * (b - a))):
                count(stmt, float(at))
    windows = [{"t": round(T0 + s, 3), "scenario": sc, "requests": n, "errors": 0, "warmup": False}
               for (s, sc), n in sorted(done.items())]
    return Night(windows=windows, ends=[round(r, 3) for r in readings[1:]],
                 lengths=[round(b - a, 4) for a, b in pairwise(readings)], calls=calls)
