"""The lifecycle of open changes, night by night (docs/METHOD.md, "Open changes"). Pure: the comparison's rows and
confirmed change points in, tonight's view of every change out; the store keeps them (loadwatch.store.changes).

- A gate row `regression`, or a change point this run confirms, on a series with no open or confirmed change opens
  one (id from the opening run, scenario and metric: storing the night again, or from the spool, keeps it).
- Every later night judges the series against the baseline from before the change (the change's nights are held out
  of it). A night with any check still bad (`regression` or `suspect`) is held by the change (`seen_tonight` when it
  is a `regression` itself, as the opening night always is: the notifications wait for a later such night); a night
  judged `ok` or `improvement` recovers it (`recovered`, no decision needed) and enters the baseline again.
- An open change fails every night it is seen (`verdict.open_changes: fail`, the default), or only the night it
  opened (`warn`). A confirmed one (and an open one under `warn`) fails only a night worse than its own level by more
  than the metric's floor.
- `expected` and `dismissed` changes are no longer followed: the store restarts the series' baseline at an expected
  change and lets a dismissed change's nights back into it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from loadwatch.changes import OpenChange
from loadwatch.stats.model import DIRECTION, ERROR_RATE_FLOOR_POINTS, ERROR_RATE_FLOOR_RATIO, FLOORS

__all__ = ["OpenChangesPolicy", "Tracked", "change_id", "describe", "track"]

OpenChangesPolicy = Literal["fail", "warn"]
STILL_THERE = ("regression", "suspect")  # a row with any check still bad: the series has not come back
BACK = ("ok", "improvement")


def change_id(run_id: str, scenario: str, metric: str) -> str:
    """A short, stable id a person can type: the same run, scenario and metric always give the same id."""
    return "c" + hashlib.sha1(f"{run_id}|{scenario}|{metric}".encode()).hexdigest()[:8]


def _size(c: OpenChange) -> str:
    if c.change_percent is None:
        return "changed"
    return f"{c.change_percent:+.1f} {'pts' if c.unit == 'points' else '%'}"


def describe(c: OpenChange) -> str:
    """"list_tools p95 +41.0 % since 2026-12-02, open 5 nights" (and its state when not plainly open)."""
    nights = f"{c.nights_open} night{'s' if c.nights_open != 1 else ''}"
    since = c.first_seen_at[:10]
    state = {"open": f"open {nights}", "confirmed": f"confirmed, seen {nights}",
             "recovered": f"recovered after {nights}"}.get(c.status, c.status)
    return f"{c.scenario} {c.metric} {_size(c)} since {since}, {state} (change {c.change_id})"


def _worse_than_level(c: OpenChange, value: float) -> bool:
    """A confirmed change's further worsening: beyond its own level by more than the metric's floor."""
    if c.level is None:
        return False
    d = DIRECTION.get(c.metric, 1)
    if c.metric == "error_rate":
        return value - c.level >= ERROR_RATE_FLOOR_POINTS and value >= ERROR_RATE_FLOOR_RATIO * c.level
    if c.level <= 0:
        return d * (value - c.level) > 0
    return d * (value / c.level - 1.0) >= FLOORS.get(c.metric, 0.0)


class Tracked:
    """Tonight's changes and the series whose regression they excuse (a confirmed change at its level, or an open
    change under `warn` after its first night)."""

    def __init__(self, changes: list[OpenChange], excused: set[tuple[str, str]]) -> None:
        self.changes = changes
        self.excused = excused

    @property
    def failing(self) -> list[OpenChange]:
        return [c for c in self.changes if c.failing]


def _follow(c: OpenChange, row: Mapping[str, Any] | None, policy: OpenChangesPolicy) -> OpenChange:
    """A followed change on a night after the one that opened it."""
    nights = c.nights_open + 1
    outcome = (row or {}).get("outcome")
    if row is None or outcome not in (*STILL_THERE, *BACK):
        # not judged tonight (not measured, too little history): still open, listed, failing as the policy says
        held = row is not None
        failing = c.status == "open" and policy == "fail"
        return c.model_copy(update={"nights_open": nights, "held": held, "failing": failing,
                                    "seen_tonight": False})
    if outcome in BACK:
        return c.model_copy(update={"nights_open": nights, "held": False, "failing": False, "status": "recovered",
                                    "seen_tonight": False})
    if c.status == "confirmed" or policy == "warn":  # listed at its level; a further worsening fails the night
        failing = outcome == "regression" and _worse_than_level(c, float(row["value"]))
    else:
        failing = True
    return c.model_copy(update={"nights_open": nights, "held": True, "failing": failing,
                                "seen_tonight": outcome == "regression"})


def _open(row: Mapping[str, Any], *, source: Literal["gate", "change_point"], run_id: str, started_at: str,
          versions: tuple[str | None, str | None], size: float | None = None) -> OpenChange:
    unit: Literal["percent", "points"] = "points" if row.get("metric") == "error_rate" else "percent"
    ci = row.get("ci")
    change = size if size is not None else row.get("change" if unit == "points" else "change_percent")
    return OpenChange(
        change_id=change_id(run_id, row["scenario"], row["metric"]), scenario=row["scenario"], metric=row["metric"],
        status="open", change_percent=change, unit=unit,
        ci=(float(ci[0]), float(ci[1])) if ci and ci[0] is not None and ci[1] is not None else None,
        first_run_id=run_id, first_seen_at=started_at, nights_open=1, version_before=versions[0],
        version_after=versions[1], failing=True, source=source, baseline=row.get("baseline"),
        level=row.get("value"), held=True, seen_tonight=True,
    )


def track(
    comparison: Sequence[Mapping[str, Any]],
    confirmed_points: Sequence[Mapping[str, Any]],
    active: Sequence[OpenChange],
    *,
    run_id: str,
    started_at: str,
    versions: tuple[str | None, str | None] = (None, None),
    policy: OpenChangesPolicy = "fail",
) -> Tracked:
    """Tonight's view of every followed change, and the changes this night opens."""
    rows = {(r["scenario"], r["metric"]): r for r in comparison}
    out: list[OpenChange] = []
    followed: set[tuple[str, str]] = set()
    for c in active:
        key = (c.scenario, c.metric)
        followed.add(key)
        out.append(_follow(c, rows.get(key), policy))
    for key, row in rows.items():
        if row.get("outcome") == "regression" and key not in followed:
            followed.add(key)
            out.append(_open(row, source="gate", run_id=run_id, started_at=started_at, versions=versions))
    for cp in confirmed_points:
        key = (cp["scenario"], cp["metric"])
        if key in followed:
            continue
        followed.add(key)
        row = {**rows.get(key, {}), "scenario": cp["scenario"], "metric": cp["metric"]}
        row.setdefault("baseline", cp.get("mean_before"))
        before, after = cp.get("mean_before"), cp.get("mean_after")
        size = (after - before if before is not None and after is not None else None) \
            if cp["metric"] == "error_rate" else cp.get("forward_change_percent")
        out.append(_open(row, source="change_point", run_id=run_id, started_at=started_at, versions=versions,
                         size=size))
    out = [c.model_copy(update={"reason": describe(c)}) for c in out]
    excused = {(c.scenario, c.metric) for c in out if not c.failing}
    return Tracked(out, excused)
