"""Synthetic nightly series with known changes, for the change-point benchmark (fixed seeds, reproducible)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Case", "suite"]


@dataclass
class Case:
    kind: str  # step | two_steps | noise | spikes | step_spikes
    values: list[float]
    changes: list[int] = field(default_factory=list)  # first night of each new level
    cv: float = 0.0
    step: float = 0.0


def _noise(rng: np.random.Generator, n: int, cv: float) -> np.ndarray:
    return 100.0 * (1.0 + cv * rng.standard_normal(n))


def suite(seed: int = 20261126, nights: int = 100, reps: int = 6) -> list[Case]:
    """Steps of 5/10/20/30 % (up and down) at CV 3/4/5 %, two-step series, pure noise, one-night spikes."""
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    for cv in (0.03, 0.04, 0.05):
        for step in (0.05, 0.10, 0.20, 0.30):
            for r in range(reps):
                sign = 1 if r % 2 == 0 else -1
                at = int(rng.integers(20, nights - 20))
                v = _noise(rng, nights, cv)
                v[at:] *= 1 + sign * step
                cases.append(Case("step", v.tolist(), [at], cv, sign * step))
            for _ in range(reps // 2):
                a = int(rng.integers(15, 40))
                b = int(rng.integers(60, 85))
                v = _noise(rng, nights, cv)
                v[a:] *= 1 + step
                v[b:] *= 1 - step
                cases.append(Case("two_steps", v.tolist(), [a, b], cv, step))
        for _ in range(reps * 2):
            cases.append(Case("noise", _noise(rng, nights, cv).tolist(), [], cv))
        for _ in range(reps * 2):
            v = _noise(rng, nights, cv)
            for night in rng.choice(np.arange(5, nights - 5), size=3, replace=False):
                v[night] *= 1 + rng.choice([-1, 1]) * rng.uniform(0.3, 0.6)
            cases.append(Case("spikes", v.tolist(), [], cv))
        for _ in range(reps):
            at = int(rng.integers(30, 70))
            v = _noise(rng, nights, cv)
            v[at:] *= 1.2
            for night in (at - 10, at + 10):
                v[night] *= 1.5
            cases.append(Case("step_spikes", v.tolist(), [at], cv, 0.2))
    return cases
