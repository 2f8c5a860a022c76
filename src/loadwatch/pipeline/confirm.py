"""The confirmation re-measure: a new regression must show again in a second load of the same night before it fails
the night (docs/METHOD.md §3.7).

A gate row that would open a change (a `regression` of a series no open change follows) was measured once. A night
can be slow for a minute for reasons that are not the target's (a neighbour on the host, a checkpoint, a page-cache
eviction: on the project's CI machine one clean night had every scenario's p50 +10 % at once), and a nightly job that
pages someone for that is soon ignored. So the chain loads the target a second time, at once, under the same lock and
plan, and judges that second run against the same baseline; a row stays a regression only when the second run's row
shows it again: past its floor, its interval clear of "no change" in the same direction. A row the second run does
not reproduce becomes `suspect`, with both measurements on the row. What a confirmation run measured is kept in the
record (`confirmation`), never dropped.

Pure: the chain decides when to re-measure (`to_confirm`), the comparison merges the two judgements (`reproduce`).
Perfherder's retriggers and Pinpoint's repeated runs answer the same question by hand; here it is part of the night."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadwatch.changes import OpenChange
from loadwatch.findings import ConfirmationBlock, ConfirmationOutcome, ConfirmationRow
from loadwatch.stats.gate import short_of_z

__all__ = ["ConfirmationBlock", "SecondLoad", "confirmation_block", "not_reproduced_reasons", "reproduce", "to_confirm"]


@dataclass(frozen=True)
class SecondLoad:
    """The night's confirmation load as the compare stage takes it: its metric vector and histograms (judged like the
    first load's), its engine summary, how long it took, the series it had to reproduce, and `why_not` when it
    cannot judge (its generator fell behind, it failed): then the first load's verdict stands, saying so."""

    series: list[tuple[str, str]]
    metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    histograms: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    load: Mapping[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    why_not: str | None = None


def _key(row: Mapping[str, Any]) -> tuple[str, str]:
    return str(row["scenario"]), str(row["metric"])


def to_confirm(rows: Sequence[Mapping[str, Any]], followed: Sequence[OpenChange]) -> list[tuple[str, str]]:
    """The series whose regression tonight would open a new change: the ones a confirmation run must reproduce. A
    series an open change already follows is judged by that change's rules (METHOD §11), not re-measured."""
    known = {(c.scenario, c.metric) for c in followed}
    return sorted({_key(r) for r in rows if r.get("outcome") == "regression" and _key(r) not in known})


def _percent(row: Mapping[str, Any] | None) -> float | None:
    if row is None:
        return None
    v = row.get("change", row.get("change_percent"))
    return None if v is None else round(float(v), 3)


def _reproduces(second: Mapping[str, Any]) -> bool:
    """The second load's row shows the regression again: a regression by all three checks, or past its floor with its
    99 % interval clear of "no change" in the bad direction while its z falls short of the critical value. That value
    guards a whole night's rows against chance (many series, few false alarms, §3); the second load tests only the
    series the first one picked, so its own interval is the test (METHOD §3.7 "How sure the second load must be")."""
    return second.get("outcome") == "regression" or short_of_z(second, interval_required=True)


def reproduce(
    first: Sequence[dict[str, Any]],
    second: Sequence[Mapping[str, Any]],
    series: Sequence[tuple[str, str]],
) -> tuple[list[dict[str, Any]], list[ConfirmationRow]]:
    """`first`'s rows with each of `series` judged by both runs: kept a regression when `second` shows the same
    series regressed again (`_reproduces`), else `suspect`; every such row carries `confirmation` (the second run's
    value, change and outcome). A series the second run could not judge (no answers, too few requests for that tail)
    is not reproduced: the first night alone never fails it, and the row says why."""
    wanted = set(series)
    again = {_key(r): r for r in second}
    merged: list[dict[str, Any]] = []
    told: list[ConfirmationRow] = []
    for row in first:
        key = _key(row)
        if key not in wanted or row.get("outcome") != "regression":
            merged.append(row)
            continue
        other = again.get(key)
        reproduced = other is not None and _reproduces(other)
        entry: ConfirmationRow = {
            "scenario": key[0], "metric": key[1],
            "first_change": _percent(row), "change": _percent(other),
            "value": None if other is None else other.get("value"),
            "outcome": "not_judged" if other is None else str(other.get("outcome")),
            "reproduced": reproduced,
        }
        told.append(entry)
        merged.append({**row, "confirmation": dict(entry)} if reproduced
                      else {**row, "outcome": "suspect", "confirmation": dict(entry)})
    return merged, told


def confirmation_block(second: SecondLoad, rows: Sequence[ConfirmationRow]) -> ConfirmationBlock:
    """What the record keeps of a confirmation load: why it ran, what it measured and what it decided."""
    reproduced = [r for r in rows if r["reproduced"]]
    outcome: ConfirmationOutcome = (
        "not_judged" if second.why_not is not None or not rows
        else "reproduced" if len(reproduced) == len(rows)
        else "not_reproduced" if not reproduced else "partly_reproduced")
    return {
        "series": [f"{s} {m}" for s, m in second.series],
        "outcome": outcome,
        "reason": second.why_not,
        "rows": list(rows),
        "requests": int(second.load.get("requests") or 0),
        "errors": int(second.load.get("errors") or 0),
        "generator_bound": bool(second.load.get("generator_bound")),
        "duration_s": round(second.duration_s, 3),
        "metrics": {sc: dict(ms) for sc, ms in second.metrics.items()},
    }


def _fmt(change: float | None, metric: str) -> str:
    if change is None:
        return "no value"
    return f"{change:+.1f} pts" if metric == "error_rate" else f"{change:+.1f} %"


def not_reproduced_reasons(rows: Sequence[ConfirmationRow]) -> list[str]:
    """One verdict line per series the second load did not reproduce (the night does not fail on it)."""
    return [f"not reproduced by a second load: {r['scenario']} {r['metric']} {_fmt(r['first_change'], r['metric'])} "
            f"on the first, {_fmt(r['change'], r['metric'])} ({r['outcome']}) on the second: suspect, not failing"
            for r in rows if not r["reproduced"]]
