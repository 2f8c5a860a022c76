"""Pure load schedules: when each open-model request is *intended* to start, how many closed-model users
are active, and how a run is split into shares (processes × shards). No sockets, no clocks: testable alone.

Open model: the arrival rate r(t) is piecewise linear (a constant `rate`, or `stages` ramping linearly from
the previous target, the first from 0). N(t) = ∫ r is the expected number of arrivals by t; arrival j is
intended at N⁻¹(j) (constant spacing) or at N⁻¹(E_j) with E_j a unit-rate Poisson process (Poisson
arrivals at the same local rate: the time-rescaling theorem). Share `part` of `parts` takes every
`parts`-th constant arrival (interleaved), or an independent Poisson stream at 1/parts of the rate."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from loadwatch.config import LoadSpec

__all__ = [
    "RateCurve",
    "closed_users_at",
    "intended_offsets",
    "local_users",
    "split_count",
]


@dataclass(frozen=True)
class _Segment:
    start: float  # seconds from the run start
    duration: float
    r0: float  # rate at the segment start (req/s)
    r1: float  # rate at the segment end
    n0: float  # arrivals expected before the segment

    @property
    def n_total(self) -> float:
        return (self.r0 + self.r1) / 2.0 * self.duration


class RateCurve:
    """r(t) piecewise linear; N(t) and its inverse in closed form (quadratic within a ramp)."""

    def __init__(self, points: list[tuple[float, float]], start_rate: float = 0.0) -> None:
        self.segments: list[_Segment] = []
        t = 0.0
        n = 0.0
        r0 = start_rate
        for duration, target in points:
            seg = _Segment(t, duration, r0, target, n)
            self.segments.append(seg)
            t += duration
            n += seg.n_total
            r0 = target
        self.duration = t
        self.total = n

    @classmethod
    def from_load(cls, load: LoadSpec) -> RateCurve:
        if load.stages:
            return cls([(s.duration, s.target) for s in load.stages], start_rate=0.0)
        rate = float(load.rate or 0.0)
        return cls([(load.duration, rate)], start_rate=rate)

    def rate_at(self, t: float) -> float:
        for seg in self.segments:
            if t < seg.start + seg.duration:
                return seg.r0 + (seg.r1 - seg.r0) * max(t - seg.start, 0.0) / seg.duration
        return self.segments[-1].r1 if self.segments else 0.0

    def arrivals_by(self, t: float) -> float:
        for seg in self.segments:
            if t < seg.start + seg.duration:
                tau = max(t - seg.start, 0.0)
                slope = (seg.r1 - seg.r0) / seg.duration
                return seg.n0 + seg.r0 * tau + slope * tau * tau / 2.0
        return self.total

    def time_of(self, n: float) -> float | None:
        """The t with N(t) = n, or None when the run ends first."""
        if n > self.total or n < 0:
            return None
        for seg in self.segments:
            if n <= seg.n0 + seg.n_total and seg.n_total > 0:
                m = n - seg.n0
                slope = (seg.r1 - seg.r0) / seg.duration
                if abs(slope) < 1e-12:
                    tau = m / seg.r0
                else:  # slope/2 τ² + r0 τ - m = 0, the root in [0, duration]; stable form
                    disc = seg.r0 * seg.r0 + 2.0 * slope * m
                    tau = (
                        2.0 * m / (seg.r0 + math.sqrt(max(disc, 0.0)))
                        if seg.r0 + math.sqrt(max(disc, 0.0)) > 0
                        else 0.0
                    )
                return seg.start + min(max(tau, 0.0), seg.duration)
        return None


def intended_offsets(load: LoadSpec, *, part: int = 0, parts: int = 1, seed: int = 0) -> Iterator[float]:
    """Intended send times (seconds from the run start, increasing, < duration) for share `part` of `parts`."""
    curve = RateCurve.from_load(load)
    end = curve.duration
    if load.arrival == "poisson":
        rng = random.Random(f"{seed}:{part}:{parts}")  # str seeds are stable across processes
        n = 0.0
        while True:
            n += rng.expovariate(1.0) * parts
            t = curve.time_of(n)
            if t is None or t >= end:
                return
            yield t
    j = part
    while True:
        t = curve.time_of(float(j))
        if t is None or t >= end:
            return
        yield t
        j += parts


def closed_users_at(load: LoadSpec, t: float) -> int:
    """Active virtual users (all shares together) at t seconds into the run."""
    if load.stages:
        curve = RateCurve([(s.duration, s.target) for s in load.stages], start_rate=0.0)
        return math.floor(curve.rate_at(t) + 1e-9) if t < curve.duration else int(load.stages[-1].target)
    users = int(load.users or 0)
    if load.ramp <= 0:
        return users
    return min(users, math.floor(t * users / load.ramp) + 1)


def local_users(global_count: int, part: int, parts: int) -> int:
    """How many of the first `global_count` users (numbered u, owned by share u % parts) this share runs."""
    if global_count <= part:
        return 0
    return (global_count - part + parts - 1) // parts


def split_count(total: int, part: int, parts: int) -> int:
    """An integer share of `total` such that the shares add up exactly."""
    return total // parts + (1 if part < total % parts else 0)
