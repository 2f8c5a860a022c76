"""Whose statement is it, from one night: a statement's calls in every monitor interval regressed on the scenarios'
requests in the same intervals (docs/METHOD.md §9).

pg_stat_statements does not say which request ran a statement. But a statement that scenario k runs c_k times per
request has, in interval w, calls_w ≈ Σ_k c_k · n_{k,w} (n: requests of k completed in w), and the scenarios'
requests per second move independently of each other with the random draw of the mix, second by second, even when
the night's mix as a whole is the same every night. Fitted by non-negative least squares (scipy.optimize.nnls) over
the night's intervals, with one more column for calls that follow no request (a background job, a pool's checks:
calls per second); the owner is the scenario carrying at least OWNER_SHARE of the fitted calls, when the fit can tell.

Pure functions: `align_requests` (the load's per-second windows onto the monitor's intervals) and `night_owner`
(the fit and its checks); `night_owners` applies both to a run's `statement_intervals`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from typing_extensions import TypedDict

from loadwatch.observations import StatementIntervals

__all__ = [
    "BACKGROUND",
    "MAX_DISPERSION",
    "MIN_CALLS",
    "MIN_DOF",
    "OWNER_SHARE",
    "OWNER_Z",
    "NightOwner",
    "align_requests",
    "night_owner",
    "night_owners",
]

BACKGROUND = "(no request)"  # the column of calls per second that follow no request
# The owners carry at least this share of the fitted calls (the rest is left to scenarios the fit does not need).
OWNER_SHARE = 0.9
# A scenario is needed by the fit when leaving it out (the others, and the background, refitted without it) raises
# the residual sum of squares by at least OWNER_Z² residual variances: its coefficient is > 0 at about 3 sigma, in
# the way a constrained fit can tell (a plain standard error is infinite when the night's total rate is constant:
# the background column is then the sum of the scenarios' columns).
OWNER_Z = 3.0
# Residual variance of the owners' own fit at most this many times Poisson noise (a count's variance is about its
# mean): the requests' completions fall into the monitor's intervals a little apart from their statements (the
# windows are apportioned by overlap), which costs about a third of it; more means calls depend on more than the
# requests (a cache warming up during the load).
MAX_DISPERSION = 4.0
MIN_DOF = 6  # intervals beyond the fitted columns: fewer, and the residual variance is a guess
MIN_CALLS = 20  # as for a statement's own series (loadwatch.metrics.MIN_STATEMENT_CALLS)
_VAR_FLOOR = 0.25  # calls are whole numbers, requests apportioned fractions: a residual variance below this is none


class NightOwner(TypedDict):
    """What one night's intervals say of one statement: its `owners` (one scenario; several when it is shared; []
    when it cannot be told, `reason` saying why), their calls per request (`coefficients`), the `intervals` fitted,
    and the owners' fit's residual variance over Poisson noise (`dispersion`)."""

    owners: list[str]
    reason: str
    coefficients: dict[str, float]
    intervals: int
    dispersion: float | None


def align_requests(ends: Sequence[float], lengths: Sequence[float],
                   windows: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Each scenario's requests in each monitor interval (ending at wall-clock `ends[i]`, `lengths[i]` long). A
    window (the load's second from wall-clock `t`, per scenario: the requests *completed* in it) is shared among the
    intervals it overlaps by the fraction of the second each covers (requests taken as spread evenly over the
    second); what falls outside every interval is left out."""
    # an interval's length is the monitor's monotonic clock, its end the wall clock: two neighbours can overlap by
    # a few ms, and a request in the overlap would be counted in both; each starts no earlier than the last ended
    starts = [max(e - d, ends[i - 1]) if i else e - d for i, (e, d) in enumerate(zip(ends, lengths, strict=True))]
    out: dict[str, list[float]] = {}
    for w in windows:
        name, n, ws = str(w.get("scenario")), float(w.get("requests") or 0), float(w.get("t") or 0.0)
        col = out.setdefault(name, [0.0] * len(ends))
        if n <= 0:
            continue
        we = ws + 1.0
        i = bisect.bisect_right(ends, ws)  # the first interval ending after the window starts
        while i < len(ends) and starts[i] < we:
            overlap = min(we, ends[i]) - max(ws, starts[i])
            if overlap > 0:
                col[i] += n * overlap
            i += 1
    return {k: [round(v, 3) for v in col] for k, col in out.items()}


def _nnls(a: Any, y: Any) -> tuple[Any, float]:
    from scipy.optimize import nnls  # scipy: loaded when a night is attributed, not on import

    coef, rnorm = nnls(a, y)
    return coef, float(rnorm) ** 2


def _not_told(reason: str, intervals: int, dispersion: float | None = None) -> NightOwner:
    return {"owners": [], "reason": reason, "coefficients": {}, "intervals": intervals, "dispersion": dispersion}


def night_owner(calls: Sequence[float], requests: Mapping[str, Sequence[float]],
                seconds: Sequence[float]) -> NightOwner:
    """Whose statement it is from one night's intervals: `calls[i]` its calls in interval i, `requests[k][i]` the
    requests of scenario k in it, `seconds[i]` its length (see the module docstring and METHOD.md §9)."""
    import numpy as np

    y = np.asarray(calls, dtype=float)
    names = [k for k, col in requests.items() if sum(col) > 0]
    labels = [*names, BACKGROUND]
    a = np.column_stack([np.asarray(requests[k], dtype=float) for k in names] + [np.asarray(seconds, dtype=float)])
    # the night's intervals are those of the load: before and after it, calls (loadwatch's own probes, the load's
    # pools fetched before it starts) have no requests to follow
    during = a[:, :-1].sum(axis=1) > 0
    a, y = a[during], y[during]
    w, p = a.shape
    if len(names) < 2:
        return _not_told("one scenario ran: there is nobody to tell it from" if names else "no requests to follow", w)
    if w - p < MIN_DOF:
        return _not_told(f"{w} intervals: too few for {len(names)} scenarios", w)
    if y.sum() < MIN_CALLS:
        return _not_told(f"{y.sum():.0f} calls: too few", w)
    try:
        coef, rss = _nnls(a, y)
        var = max(rss / (w - p), _VAR_FLOOR)
        needed = [j for j in range(p) if coef[j] > 0
                  and _nnls(np.delete(a, j, axis=1), y)[1] - rss >= OWNER_Z**2 * var]
        if not needed:
            return _not_told("no scenario's requests are needed to follow its calls second by second: the other "
                             "scenarios, or calls at a rate of their own, fit them as well", w)
        sub = a[:, needed]
        c, rss_own = _nnls(sub, y)
    except RuntimeError as exc:  # nnls gave up (its iteration bound): no answer rather than a guess
        return _not_told(f"the fit did not converge ({exc})", w)
    fitted = c * sub.sum(axis=0)
    order = sorted(range(len(needed)), key=lambda i: -fitted[i])
    owners: list[str] = []
    carried = 0.0
    for i in order:
        owners.append(labels[needed[i]])
        carried += float(fitted[i])
        if carried >= OWNER_SHARE * float(fitted.sum()):
            break
    dispersion = round(rss_own / max(w - len(needed), 1) / max(float(y.mean()), 1.0), 3)
    if BACKGROUND in owners:
        return _not_told("part of its calls follow no request (calls per second of their own)", w, dispersion)
    if dispersion > MAX_DISPERSION:
        return _not_told(f"its calls vary {dispersion:.1f} times more than counting noise around what the requests "
                         "explain", w, dispersion)
    coefficients = {labels[needed[i]]: round(float(c[i]), 4) for i in order if labels[needed[i]] in owners}
    return {"owners": owners, "reason": "runs with " + " and ".join(f"{k}'s" for k in owners) + " requests second "
            "by second", "coefficients": coefficients, "intervals": w, "dispersion": dispersion}


def night_owners(intervals: StatementIntervals | None, qids: Iterable[str]) -> dict[str, NightOwner]:
    """`night_owner` of each statement `qids` that the run's `statement_intervals` (with the load's requests aligned)
    hold; statements it does not hold are left out."""
    if not intervals or not intervals.get("requests"):
        return {}
    requests = intervals["requests"]
    seconds = intervals.get("interval_s") or []
    out: dict[str, NightOwner] = {}
    for qid in qids:
        col = (intervals.get("calls") or {}).get(qid)
        if col is not None and len(col) == len(seconds):
            out[qid] = night_owner(col, requests, seconds)
    return out
