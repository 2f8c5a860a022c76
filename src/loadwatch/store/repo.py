"""Reading and writing runs: one transaction per run, idempotent by run id.

A *record* is the JSON-able dict the pipeline produces for one run (and what the spool keeps on disk when
the database is away): {"summary", "status", "trigger", "flow_run_id", "notes", "tags", "histograms",
"windows", "timeline", "resource_samples"}. Everything else in the store is derived from it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any, NotRequired

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from typing_extensions import TypedDict

from loadwatch.errors import InfrastructureError, InvalidInput
from loadwatch.metrics import run_metrics
from loadwatch.record import RunRecord, RunSummary, read_summary
from loadwatch.store import changes

__all__ = [
    "TRIAGE_STATES",
    "HistoryPoint",
    "comparable_history",
    "exclude_run",
    "get_summary",
    "history_points",
    "list_change_points",
    "query",
    "recent_runs",
    "run_exists",
    "run_key",
    "run_series",
    "save_run",
    "thin_windows",
    "triage",
]

TRIAGE_STATES = ("confirmed", "dismissed", "expected")


@cache
def _queries() -> dict[str, str]:
    text = resources.files("loadwatch.sql").joinpath("queries.sql").read_text()
    out: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        if line.startswith("-- name:"):
            name = line.split(":", 1)[1].strip()
            out[name] = ""
        elif name and not line.startswith("--"):
            out[name] += line + "\n"
    return {k: v.strip().rstrip(";") for k, v in out.items()}


def query(name: str) -> sa.TextClause:
    """A named trend query from sql/queries.sql."""
    return sa.text(_queries()[name])


def _json(value: Any) -> str:
    """JSON for jsonb columns; datetimes (e.g. change-point times) become ISO strings."""
    return json.dumps(value, default=lambda o: o.isoformat() if isinstance(o, datetime) else str(o))


def _ts(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _insert_statement(table: str, columns: Sequence[str]) -> sa.TextClause:
    return sa.text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})")


Row = dict[str, Any]


def _run_row(record: Mapping[str, Any]) -> Row:
    s = record["summary"]
    plan, env = s.get("plan") or {}, s.get("environment") or {}
    rev = s.get("revision") or {}
    return {
        "run_id": s["run_id"],
        "started_at": _ts(s["started_at"]),
        "finished_at": _ts(s.get("finished_at")),
        "status": record.get("status", "completed"),
        "verdict": s.get("verdict"),
        "trigger": record.get("trigger") or "cli",
        "flow_run_id": record.get("flow_run_id"),
        "plan_name": plan.get("name"),
        "plan_hash": plan.get("hash"),
        "plan": _json(plan),
        "env_hash": env.get("hash"),
        "environment": _json(env),
        "target_url": plan.get("target_url"),
        "target_version": rev.get("version") or env.get("target_version"),
        "target_commit": rev.get("commit"),
        "target_branch": rev.get("branch"),
        "notes": record.get("notes"),
        "tags": list(record.get("tags") or []),
        "summary": _json(s),
    }


def _scenario_rows(run_id: str, record: Mapping[str, Any]) -> list[Row]:
    s = record["summary"]
    scen_plan = {sc["name"]: sc for sc in (s.get("plan") or {}).get("scenarios") or []}
    return [
        {
            "run_id": run_id,
            "scenario": name,
            "method": scen_plan.get(name, {}).get("method"),
            "path": scen_plan.get(name, {}).get("path"),
            "weight": scen_plan.get(name, {}).get("weight"),
            "requests": int(b.get("requests") or 0),
            "errors": int(b.get("errors") or 0),
        }
        for name, b in ((s.get("load") or {}).get("scenarios") or {}).items()
    ]


def _measurement_rows(run_id: str, record: Mapping[str, Any]) -> list[Row]:
    """The run's metric vector, only for a completed run: the one its record carries (derived once, for the
    comparison), else derived from the summary (an imported record)."""
    if record.get("status", "completed") != "completed":
        return []
    metrics = record.get("metrics")
    if metrics is None:
        metrics = run_metrics(record["summary"])
    return [{"run_id": run_id, "scenario": sc, "metric": m, "value": v} for sc, ms in metrics.items()
            for m, v in ms.items()]


def _histogram_rows(run_id: str, record: Mapping[str, Any]) -> list[Row]:
    return [
        {"run_id": run_id, "scenario": sc, "kind": kind, "encoded": enc}
        for sc, kinds in (record.get("histograms") or {}).items()
        for kind, enc in kinds.items()
        if kind in ("latency", "service") and enc
    ]


def _window_rows(run_id: str, record: Mapping[str, Any]) -> list[Row]:
    return [
        {
            "run_id": run_id,
            "t": _ts(w["t"]),
            "scenario": w["scenario"],
            "requests": int(w.get("requests") or 0),
            "errors": int(w.get("errors") or 0),
            "warmup": bool(w.get("warmup")),
            "encoded": w.get("latency"),
        }
        for w in record.get("windows") or []
    ]


def _timeline_rows(run_id: str, record: Mapping[str, Any]) -> list[Row]:
    return [
        {
            "run_id": run_id,
            "t": _ts(p["t"]),
            "requests": int(p.get("requests") or 0),
            "errors": int(p.get("errors") or 0),
            **{k: p.get(k) for k in ("rps", "p50_ms", "p95_ms", "p99_ms", "max_ms")},
            "warmup": bool(p.get("warmup")),
        }
        for p in record.get("timeline") or []
    ]


def _resource_sample_rows(run_id: str, record: Mapping[str, Any]) -> list[Row]:
    """One row per group and instant (a sample repeated by a retried monitor is stored once)."""
    seen: set[tuple[str, datetime | None]] = set()
    rows = []
    for smp in record.get("resource_samples") or []:
        key = (str(smp.get("group")), _ts(smp.get("t")))
        if key in seen:
            continue
        seen.add(key)
        rows.append({"run_id": run_id, "t": key[1], "grp": key[0], "cpu_percent": smp.get("cpu_percent"),
                     "rss_mb": smp.get("rss_mb"), "data": _json(smp)})
    return rows


def _threshold_rows(run_id: str, record: Mapping[str, Any]) -> list[Row]:
    return [
        {
            "run_id": run_id,
            "expr": t["expr"],
            "scenario": t.get("scenario") or "*",
            "metric": t.get("metric") or "",
            "value": t.get("value"),
            "limit_value": t.get("limit"),
            "passed": bool(t.get("passed")),
        }
        for t in record["summary"].get("thresholds") or []
    ]


def _verdict_rows(run_id: str, record: Mapping[str, Any]) -> list[Row]:
    rows = []
    for c in record["summary"].get("comparison") or []:
        ci = c.get("ci") or [None, None]
        rows.append({
            "run_id": run_id,
            "scenario": c["scenario"],
            "metric": c["metric"],
            "outcome": c["outcome"],
            "value": c.get("value"),
            "baseline": c.get("baseline"),
            "change_percent": c.get("change_percent"),
            "ci_low": ci[0],
            "ci_high": ci[1],
            "robust_z": c.get("robust_z"),
            "evidence": _json(c),
        })
    return rows


def _change_point_rows(run_id: str, record: Mapping[str, Any]) -> list[Row]:
    """Change points belong to the series, not to the run: keyed by the run they point at, noting who found them."""
    s = record["summary"]
    plan, env = s.get("plan") or {}, s.get("environment") or {}
    return [
        {
            "run_id": cp["run_id"],
            "scenario": cp.get("scenario", "*"),
            "metric": cp.get("metric", ""),
            "plan_hash": plan.get("hash"),
            "env_hash": env.get("hash"),
            "detected_by": run_id,
            "fcp": cp.get("forward_change_percent"),
            "p": cp.get("p_value"),
            "mb": cp.get("mean_before"),
            "ma": cp.get("mean_after"),
            "direction": cp.get("direction"),
            "state": cp.get("state") if cp.get("state") in ("pending", "confirmed") else "pending",
            "evidence": _json(cp),
        }
        for cp in s.get("change_points") or []
        if cp.get("run_id")
    ]


RowBuilder = Callable[[str, Mapping[str, Any]], list[Row]]
# The run's child tables in insert order: (table, its row builder, the named statement that writes the rows, or None
# for a plain INSERT). The tables a run owns are emptied first, so storing a run again replaces it; change_points
# are the series' (keyed by the run they point at) and upserted, never deleted here.
def _ab_rows(run_id: str, record: Mapping[str, Any]) -> list[Row]:
    """The same-night A/B rows (summary.json's `ab`), with the two builds they compared."""
    ab = record["summary"].get("ab") or {}
    return [
        {"run_id": run_id, "scenario": r["scenario"], "percentile": r["percentile"], "verdict": r["verdict"],
         "reason": r["reason"], "pairs": r["pairs"], "change_percent": r.get("change_percent"),
         "ci_low_percent": r.get("ci_low_percent"), "ci_high_percent": r.get("ci_high_percent"),
         "baseline": ab.get("baseline") or "", "candidate": ab.get("candidate") or "",
         "same_night": bool(r.get("same_night", True))}
        for r in ab.get("rows") or []
    ]


_CHILD_TABLES: tuple[tuple[str, RowBuilder, str | None], ...] = (
    ("run_scenarios", _scenario_rows, None),
    ("measurements", _measurement_rows, None),
    ("histograms", _histogram_rows, None),
    ("histogram_windows", _window_rows, None),
    ("timeline", _timeline_rows, None),
    ("resource_samples", _resource_sample_rows, "insert_resource_samples"),
    ("thresholds", _threshold_rows, None),
    ("ab_rows", _ab_rows, None),
    ("verdicts", _verdict_rows, "insert_verdicts"),
    ("change_points", _change_point_rows, "upsert_change_point"),
)
_OWNED = tuple(table for table, _, _ in _CHILD_TABLES if table != "change_points")


def save_run(engine: Engine, record: RunRecord | Mapping[str, Any]) -> None:
    """Store one run atomically. Storing the same run id again replaces it (no duplicates). A run's typed record is
    stored as its JSON (summary.json's contract); spooled and imported records arrive as that JSON already."""
    if not isinstance(record, Mapping):
        record = record.to_json()
    run_id = record["summary"]["run_id"]
    with engine.begin() as conn:
        conn.execute(query("upsert_run"), _run_row(record))
        for table in _OWNED:
            conn.execute(sa.text(f"DELETE FROM {table} WHERE run_id = :r"), {"r": run_id})
        for table, build, named in _CHILD_TABLES:
            rows = build(run_id, record)
            if rows:
                conn.execute(query(named) if named else _insert_statement(table, list(rows[0])), rows)
        changes.save_changes(conn, record["summary"])


def run_exists(engine: Engine, run_id: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(query("run_exists"), {"r": run_id}).first() is not None


def get_summary(engine: Engine, run_id: str) -> RunSummary | None:
    """A stored run's summary (None: no such run), written by any version, validated once through the record model
    (loadwatch.record.read_summary). One that does not validate is the store's problem, not the caller's input:
    InfrastructureError (exit 3) naming the run and the field."""
    with engine.connect() as conn:
        row = conn.execute(query("run_summary"), {"r": run_id}).first()
    if row is None:
        return None
    return read_summary(row[0], source=f"trend store: run {run_id}'s stored summary", error=InfrastructureError)


class HistoryPoint(TypedDict):
    """A stored run as the comparison sees it (oldest first in a history)."""

    run_id: str
    started_at: datetime
    metrics: dict[str, dict[str, float]]
    histograms: dict[str, str]
    excluded: bool
    verdict: str | None
    probe: dict[str, float] | None
    target_version: str | None
    target_commit: str | None
    target_branch: str | None
    # [[scenario, metric], ...]: values no baseline (an open change holds them; docs/METHOD.md §11)
    held: NotRequired[list[list[str]]]


def _points(conn: Connection, rows: Sequence[Any]) -> list[HistoryPoint]:
    ids = [r.run_id for r in rows]
    metrics: dict[str, dict[str, dict[str, float]]] = {i: {} for i in ids}
    hists: dict[str, dict[str, str]] = {i: {} for i in ids}
    if ids:
        for m in conn.execute(query("series_measurements"), {"run_ids": ids}):
            metrics[m.run_id].setdefault(m.scenario, {})[m.metric] = m.value
        for h in conn.execute(query("series_histograms"), {"run_ids": ids}):
            hists[h.run_id][h.scenario] = h.encoded
    return [
        {
            "run_id": r.run_id,
            "started_at": r.started_at,
            "metrics": metrics[r.run_id],
            "histograms": hists[r.run_id],
            "excluded": bool(r.excluded),
            "verdict": r.verdict,
            "probe": getattr(r, "probe", None),
            # the attribution names a version change between the last good run and this one
            "target_version": getattr(r, "target_version", None),
            "target_commit": getattr(r, "target_commit", None),
            "target_branch": getattr(r, "target_branch", None),
        }
        for r in reversed(rows)  # oldest first
    ]


def comparable_history(
    engine: Engine, *, plan_hash: str, env_hash: str, before: datetime, limit: int = 200, branch: str | None = None
) -> list[HistoryPoint]:
    """Completed comparable runs before `before`, oldest first, since the last change point marked `expected` (only
    the target's `branch` when given: the trend review's baseline of a branch is main's); the series' values on
    nights held by an open change (or before a change marked `expected`) marked `held`."""
    with engine.connect() as conn:
        since = conn.execute(query("last_expected_change"), {"plan_hash": plan_hash, "env_hash": env_hash}).scalar()
        rows = conn.execute(
            query("comparable_runs"),
            {"plan_hash": plan_hash, "env_hash": env_hash, "before": before, "since": since, "limit": limit,
             "branch": branch},
        ).all()
        points = _points(conn, rows)
        # untriaged regression nights are no baseline; an accepted change restarts its series (docs/METHOD.md)
        changes.apply_to_history(conn, points, plan_hash=plan_hash, env_hash=env_hash)
        return points


def history_points(engine: Engine, run_ids: Sequence[str]) -> list[HistoryPoint]:
    with engine.connect() as conn:
        rows = conn.execute(query("runs_by_id"), {"ids": list(run_ids)}).all()
        return _points(conn, rows)


def run_key(engine: Engine, run_id: str) -> dict[str, Any]:
    """What makes a run comparable: {plan_hash, env_hash, started_at}."""
    with engine.connect() as conn:
        row = conn.execute(query("run_key"), {"r": run_id}).one()
    return {"plan_hash": row.plan_hash, "env_hash": row.env_hash, "started_at": row.started_at}


def run_series(engine: Engine, run_id: str) -> dict[str, Any]:
    """One stored run's per-second timeline, resource samples and histograms, as the report reads them."""
    with engine.connect() as conn:
        # mappings(): a column named `t` would otherwise collide with Row.t
        timeline = [
            {**r, "t": r["t"].timestamp()}
            for r in conn.execute(query("run_timeline"), {"r": run_id}).mappings()
        ]
        samples = [
            {"t": r["t"].timestamp(), "group": r["grp"], "cpu_percent": r["cpu_percent"], "rss_mb": r["rss_mb"]}
            for r in conn.execute(query("run_resource_samples"), {"r": run_id}).mappings()
        ]
        hists: dict[str, dict[str, str]] = {}
        for r in conn.execute(query("run_histograms"), {"r": run_id}):
            hists.setdefault(r.scenario, {})[r.kind] = r.encoded
    return {"timeline": timeline, "resource_samples": samples, "histograms": hists}


def recent_runs(engine: Engine, *, last: int, plan_hash: str | None = None,
                branch: str | None = None) -> list[HistoryPoint]:
    """The last `last` completed runs (optionally of one plan, of one branch), oldest first, with metrics."""
    with engine.connect() as conn:
        rows = conn.execute(query("recent_runs"), {"plan_hash": plan_hash, "limit": last, "branch": branch}).all()
        return _points(conn, rows)


def list_change_points(engine: Engine, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(query("change_points_of_runs"), {"ids": list(run_ids)}).all()
    return [
        {
            "id": r.id,
            "run_id": r.run_id,
            "scenario": r.scenario,
            "metric": r.metric,
            "forward_change_percent": r.forward_change_percent,
            "p_value": r.p_value,
            "state": r.state,
            "direction": r.direction,
            "mean_before": r.mean_before,
            "mean_after": r.mean_after,
            "time": r.started_at.isoformat(),
        }
        for r in rows
    ]


def triage(engine: Engine, change_id: str, decision: str, note: str | None = None) -> dict[str, Any]:
    """Record a person's decision on a change point; `expected` restarts the baseline from its run."""
    if decision not in TRIAGE_STATES:
        raise InvalidInput(f"one of {', '.join(TRIAGE_STATES)}", source="triage", field="decision")
    try:
        ident = int(change_id)
    except ValueError:
        raise InvalidInput("a change-point id is a number (see the report)", source="triage", field=change_id) from None
    with engine.begin() as conn:
        row = conn.execute(query("triage_change_point"), {"s": decision, "n": note, "i": ident}).first()
    if row is None:
        raise InvalidInput("no change point with this id", source="triage", field=change_id)
    return dict(row._mapping)


def exclude_run(engine: Engine, run_id: str, reason: str) -> None:
    with engine.begin() as conn:
        res = conn.execute(query("exclude_run"), {"r": run_id, "why": reason})
    if res.rowcount == 0:
        raise InvalidInput("no run with this id", source="exclude", field=run_id)


def thin_windows(engine: Engine, *, before: datetime) -> int:
    """Retention: drop per-second histogram windows of runs older than `before`; totals stay."""
    with engine.begin() as conn:
        return int(conn.execute(query("thin_windows"), {"before": before}).rowcount)
