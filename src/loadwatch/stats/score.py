"""The seed's 100-point score (research/seed_origin.md §1), kept for continuity; it never gates a run.

P95 (40): < 50 ms -> 40; 50..100 ms -> int(40 (100 - p95) / 50); else 0.  Errors (30): 0 % -> 30;
< 1 % -> int(30 (1 - err%)); else 0.  Throughput (20): >= 10 rps -> 20; 5..10 -> int(20 rps / 10); else 0.
Consistency (10): p99 < 2 p95 -> 10 (the seed divided by p95; multiplying keeps p95 = 0 from crashing).
Bands: >= 90 EXCELLENT, >= 70 GOOD, >= 50 FAIR, else POOR."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["score"]


def _num(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(float(x)):
        return 0.0
    return float(x)


def score(load: Mapping[str, Any]) -> dict[str, Any]:
    """{total, p95, error_rate, throughput, consistency, band} from a `load` summary."""
    lat = load.get("latency_ms") or {}
    p95 = _num(lat.get("p95"))
    p99 = _num(lat.get("p99"))
    requests = _num(load.get("requests"))
    err = 100.0 * _num(load.get("errors")) / requests if requests > 0 else 0.0
    rps = _num(load.get("rps"))

    if lat.get("p95") is None:  # no answers: no latency points, and no consistency to speak of
        s_p95 = 0
    elif p95 < 50:
        s_p95 = 40
    elif p95 < 100:
        s_p95 = int(40 * (100 - p95) / 50)
    else:
        s_p95 = 0
    if err == 0:
        s_err = 30
    elif err < 1:
        s_err = int(30 * (1 - err))
    else:
        s_err = 0
    if rps >= 10:
        s_tput = 20
    elif rps >= 5:
        s_tput = int(20 * rps / 10)
    else:
        s_tput = 0
    s_cons = 10 if lat.get("p95") is not None and p99 < 2 * p95 else 0
    total = s_p95 + s_err + s_tput + s_cons
    band = "EXCELLENT" if total >= 90 else "GOOD" if total >= 70 else "FAIR" if total >= 50 else "POOR"
    return {
        "total": total,
        "p95": s_p95,
        "error_rate": s_err,
        "throughput": s_tput,
        "consistency": s_cons,
        "band": band,
    }
