"""Open changes in the trend store (sql/002_open_changes.sql): read a series' changes, keep the nights they hold
out of its history, store what a night saw, and record a person's triage.

The lifecycle itself (when a change opens, fails, recovers) is the comparison's (loadwatch.pipeline.open_changes);
here is only what is stored and how the history is cut by it (docs/METHOD.md, "Open changes")."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection, Engine

from loadwatch.changes import OpenChange, Triage
from loadwatch.errors import InvalidInput
from loadwatch.metrics import run_metrics

if TYPE_CHECKING:  # repo imports this module
    from loadwatch.store.repo import HistoryPoint

__all__ = ["TRIAGE_DECISIONS", "apply_to_history", "recent_changes", "save_changes", "series_changes",
           "triage_change"]

TRIAGE_DECISIONS = ("expected", "dismissed", "confirmed")


def _query(name: str) -> Any:
    from loadwatch.store.repo import query  # repo imports this module: resolved at call time

    return query(name)


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _to_change(r: Any) -> OpenChange:
    triage = None
    if r.triage_decision:
        triage = Triage(decision=r.triage_decision, by=r.triaged_by or "", at=_iso(r.triaged_at) or "",
                        note=r.triage_note)
    ci = (r.ci_low, r.ci_high) if r.ci_low is not None and r.ci_high is not None else None
    return OpenChange(
        change_id=r.change_id, scenario=r.scenario, metric=r.metric, status=r.status,
        change_percent=r.change_percent, unit=r.unit, ci=ci, first_run_id=r.first_run_id,
        first_seen_at=_iso(r.first_seen_at) or "", nights_open=int(r.nights or 0),
        version_before=r.version_before, version_after=r.version_after, failing=False, triage=triage,
        source=r.source, baseline=r.baseline, level=r.level,
    )


def series_changes(conn: Connection, *, plan_hash: str, env_hash: str) -> list[OpenChange]:
    """Every change of one series of runs, oldest first (`nights_open`: the nights stored so far)."""
    rows = conn.execute(_query("series_changes"), {"plan_hash": plan_hash, "env_hash": env_hash}).all()
    return [_to_change(r) for r in rows]


def apply_to_history(conn: Connection, points: list[HistoryPoint], *, plan_hash: str, env_hash: str) -> None:
    """Mark, in place, the series values of the history that are no baseline (`held`: [[scenario, metric], ...],
    left out by the comparison's `to_point`; the report still draws them): a night held by a change nobody accepted
    or dismissed, and the values before a change marked `expected` (its series' baseline restarts at the night that
    opened it). Other series of those nights stay."""
    held: dict[str, set[tuple[str, str]]] = {}
    for r in conn.execute(_query("held_nights"), {"plan_hash": plan_hash, "env_hash": env_hash}):
        held.setdefault(r.run_id, set()).add((r.scenario, r.metric))
    restarts = [(datetime.fromisoformat(c.first_seen_at), c.scenario, c.metric)
                for c in series_changes(conn, plan_hash=plan_hash, env_hash=env_hash) if c.status == "expected"]
    for p in points:
        drop = held.get(p["run_id"], set()) | {(sc, m) for since, sc, m in restarts if p["started_at"] < since}
        if drop:
            p["held"] = [[scenario, metric] for scenario, metric in sorted(drop)]


def save_changes(conn: Connection, summary: Mapping[str, Any]) -> None:
    """Store the changes a night saw (summary.json's `open_changes`): new ones inserted, a known one only moved to
    `recovered` when the night says so (a person's decision is never overwritten), and tonight's night of each."""
    plan_hash = (summary.get("plan") or {}).get("hash")
    env_hash = (summary.get("environment") or {}).get("hash")
    run_id = summary["run_id"]
    metrics = run_metrics(summary)
    conn.execute(_query("delete_change_nights"), {"r": run_id})
    for raw in summary.get("open_changes") or []:
        c = raw if isinstance(raw, OpenChange) else OpenChange.model_validate(raw)
        conn.execute(_query("upsert_change"), {
            "change_id": c.change_id, "plan_hash": plan_hash, "env_hash": env_hash, "scenario": c.scenario,
            "metric": c.metric, "source": c.source, "first_run_id": c.first_run_id,
            "first_seen_at": datetime.fromisoformat(c.first_seen_at), "baseline": c.baseline, "level": c.level,
            "change_percent": c.change_percent, "unit": c.unit, "ci_low": c.ci[0] if c.ci else None,
            "ci_high": c.ci[1] if c.ci else None, "version_before": c.version_before,
            "version_after": c.version_after, "status": c.status,
        })
        value = (metrics.get(c.scenario) or {}).get(c.metric)
        conn.execute(_query("insert_change_night"),
                     {"change_id": c.change_id, "run_id": run_id, "value": value, "held": c.held})


def triage_change(engine: Engine, change_id: str, decision: str, *, by: str, note: str | None) -> dict[str, Any]:
    """Record a person's decision on a change (the CLI's `loadwatch triage`)."""
    if decision not in TRIAGE_DECISIONS:
        raise InvalidInput(f"one of {', '.join(TRIAGE_DECISIONS)}", source="triage", field="decision")
    with engine.begin() as conn:
        row = conn.execute(_query("triage_change"), {"s": decision, "by": by, "n": note, "i": change_id}).first()
    if row is None:
        raise InvalidInput("no change with this id (the report and `loadwatch report` list them)",
                           source="triage", field=change_id)
    return dict(row._mapping)


def recent_changes(engine: Engine, *, plan_hash: str | None = None, limit: int = 50) -> list[OpenChange]:
    """The newest changes (of one plan, or all), for the trend review."""
    with engine.connect() as conn:
        rows = conn.execute(_query("recent_changes"), {"plan_hash": plan_hash, "limit": limit}).all()
    return [_to_change(r) for r in rows]


def active_changes(engine: Engine, *, plan_hash: str, env_hash: str) -> list[OpenChange]:
    """The changes a night must follow: open (nobody decided yet) and confirmed (known, being worked on)."""
    with engine.connect() as conn:
        return [c for c in series_changes(conn, plan_hash=plan_hash, env_hash=env_hash)
                if c.status in ("open", "confirmed")]
