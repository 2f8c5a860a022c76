"""`loadwatch report`: the same report over the stored history, without a new run.

The newest run of the series is judged again with the nightly run's own comparison (`compare.judge`) against the
runs chosen the nightly way (same plan hash and environment fingerprint, since the last `expected` change,
excluded and inconclusive runs left out), change points are detected over the whole window, and the headline
names the open regressions (confirmed by the history, not dismissed or marked expected by a person)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from loadwatch import store
from loadwatch.errors import InvalidInput
from loadwatch.pipeline.compare import (
    builds_of,
    format_change,
    judge,
    machine_busy,
    name_versions,
    recorded_gate_config,
    to_point,
)
from loadwatch.pipeline.open_changes import describe
from loadwatch.record import ReportInput, report_input
from loadwatch.report.render import write_report
from loadwatch.revision import main_line
from loadwatch.stats.history import group_incidents, history_change_points
from loadwatch.stats.model import RunPoint
from loadwatch.store.changes import series_changes
from loadwatch.store.repo import HistoryPoint
from loadwatch.vocabulary import ATTRIBUTION_METRICS, STMT_PREFIX

__all__ = ["review_data", "review_report"]

MAX_CHANGES = 20  # the newest changes of the series shown in the review


def _start_change_points(points: list[RunPoint],
                         pool: Executor | None) -> Callable[[], list[dict[str, Any]]]:
    """history_change_points, started in `pool` when given (the caller runs the gate meanwhile) and collected by
    the returned function; the points go without their histograms, which it does not read."""
    if pool is None:
        return lambda: history_change_points(points)
    future = pool.submit(history_change_points, [
        RunPoint(run_id=p.run_id, started_at=p.started_at, excluded=p.excluded, metrics=p.metrics)
        for p in points
    ])

    def collect() -> list[dict[str, Any]]:
        try:
            return list(future.result())
        except Exception:  # a broken worker costs time, never the answer
            return history_change_points(points)

    return collect


def _open_regressions(engine: Engine, change_points: list[dict[str, Any]]) -> list[str]:
    """Confirmed regression change points a person has not dismissed or marked expected, as headline lines."""
    stored = {(c["run_id"], c["scenario"], c["metric"]): c
              for c in store.list_change_points(engine, sorted({cp["run_id"] for cp in change_points}))}
    out: list[str] = []
    for cp in change_points:
        if cp.get("direction") != "regression" or cp.get("state") != "confirmed":
            continue
        triaged = (stored.get((cp["run_id"], cp["scenario"], cp["metric"])) or {}).get("state")
        if triaged in ("dismissed", "expected"):
            continue
        when = cp.get("time")
        day = when.date().isoformat() if isinstance(when, datetime) else str(when or "")[:10]
        change = format_change({"metric": cp["metric"], "change": cp.get("forward_change_percent"),
                                "change_unit": "points" if cp["metric"] == "error_rate" else "percent"})
        out.append(f"{cp['scenario']} {cp['metric']} {change} since {day} (run {cp['run_id']})")
    return out


def _no_runs(plan_hash: str | None, branch: str | None) -> InvalidInput:
    if branch is not None:
        of_plan = f" of plan {plan_hash}" if plan_hash is not None else ""
        return InvalidInput(f"no completed runs{of_plan} of branch {branch!r} (a run's branch: `loadwatch run "
                            "--branch`, or the CI's GITHUB_HEAD_REF/GITHUB_REF_NAME/CI_COMMIT_REF_NAME)",
                            source="store", field="--branch")
    return InvalidInput("the trend store has no completed runs yet; run `loadwatch run` (or import) first"
                        if plan_hash is None else f"no completed runs of plan {plan_hash}",
                        source="store", field=None if plan_hash is None else "--plan-hash")


def _branch_runs(engine: Engine, *, last: int, plan_hash: str | None, branch: str | None,
                 main_branch: str) -> tuple[list[HistoryPoint], list[HistoryPoint], list[str]]:
    """(baseline, the runs judged and charted after it, reasons to add). Without a branch: the nightly run's own
    choice of comparable runs (plan + environment, since the last expected change, on the main line when the newest
    run names its branch) before the newest run. With
    one (modelled on Apache Otava's `--branch`): the branch's last runs after main's comparable runs, the newest judged
    against main's baseline only, so a branch's own runs never become its baseline."""
    newest = store.recent_runs(engine, last=1, plan_hash=plan_hash, branch=branch)
    if not newest:
        raise _no_runs(plan_hash, branch)
    head = newest[-1]
    key = store.run_key(engine, head["run_id"])
    if branch is None:  # the newest run's own branch chooses, as the nightly chose (loadwatch.revision.main_line)
        past = store.comparable_history(engine, plan_hash=key["plan_hash"], env_hash=key["env_hash"],
                                        before=key["started_at"], limit=max(last - 1, 1))
        past, note = main_line(past, head["target_branch"], main_branch)
        return past, [head], [note] if note else []
    if branch == main_branch:
        past = store.comparable_history(engine, plan_hash=key["plan_hash"], env_hash=key["env_hash"],
                                        before=key["started_at"], limit=max(last - 1, 1), branch=branch)
        return past, [head], []
    mine = [p for p in store.recent_runs(engine, last=last, plan_hash=key["plan_hash"], branch=branch)
            if p["started_at"] <= key["started_at"]]
    main_past = store.comparable_history(engine, plan_hash=key["plan_hash"], env_hash=key["env_hash"],
                                         before=key["started_at"], limit=max(last - len(mine), 1),
                                         branch=main_branch)
    reason = (f"branch {branch}: its newest run compared with {main_branch}'s baseline of {len(main_past)} "
              f"run{'s' if len(main_past) != 1 else ''}" if main_past else
              f"branch {branch}: {main_branch} has no comparable runs (same plan and environment) to compare with")
    return main_past, mine, [reason]


def review_data(engine: Engine, *, last: int, scenario: str | None = None, plan_hash: str | None = None,
                pool: Executor | None = None, branch: str | None = None,
                main_branch: str = "main") -> ReportInput:
    """The review of the newest run (of `branch` when given, against `main_branch`'s baseline)."""
    baseline, mine, branch_reasons = _branch_runs(engine, last=last, plan_hash=plan_hash, branch=branch,
                                                  main_branch=main_branch)
    runs = [*baseline, *mine]
    points = [to_point(p) for p in runs]
    if scenario is not None:
        known = {sc for p in points for sc in p.metrics}
        if scenario not in known:
            raise InvalidInput(f"unknown scenario; the stored runs have: {', '.join(sorted(known))}",
                               source="command line", field="--scenario")
        points = [RunPoint(run_id=p.run_id, started_at=p.started_at,
                                 metrics={k: v for k, v in p.metrics.items() if k == scenario},
                                 histograms={k: v for k, v in p.histograms.items() if k == scenario},
                                 excluded=p.excluded, probe=p.probe) for p in points]
    # attribution series explain a stored run's regression (its `attribution`); a review neither judges them again
    # nor scans them for change points, which would double the detector's work
    points = [RunPoint(run_id=p.run_id, started_at=p.started_at, histograms=p.histograms, excluded=p.excluded,
                             probe=p.probe,
                             metrics={sc: {m: v for m, v in block.items() if m not in ATTRIBUTION_METRICS}
                                      for sc, block in p.metrics.items() if not sc.startswith(STMT_PREFIX)})
              for p in points]
    # judged against the baseline only (with a branch, its own earlier runs are charted, not a baseline)
    current, past = points[-1], points[:len(baseline)]
    stored = store.get_summary(engine, current.run_id)  # validated once (RunSummary); the review then adds its own
    summary: dict[str, Any] = stored.to_json() if stored is not None else {}
    change_points_of = _start_change_points(points, pool)
    load = summary.get("load") or {}
    findings = judge(current, past, thresholds=summary.get("thresholds") or [], load=load,
                     generator_bound=bool(load.get("generator_bound")), machine_busy=machine_busy(summary),
                     change_points=change_points_of, config=recorded_gate_config(summary.get("plan") or {}))
    findings["change_points"] = name_versions(findings["change_points"], builds_of(runs))
    findings["incidents"] = group_incidents([dict(c) for c in findings["change_points"]])
    open_regressions = _open_regressions(engine, findings["change_points"])
    reasons = [*branch_reasons, *findings["verdict_reasons"]]
    if open_regressions:
        n = len(open_regressions)
        reasons.insert(0, f"{n} open regression{'s' if n > 1 else ''}: " + "; ".join(open_regressions))
        if findings["verdict"] in ("pass", "insufficient_history"):
            findings["verdict"] = "regression"
    for name in ("attribution_rows", "attribution_change_points"):
        findings.pop(name, None)  # empty here: the review leaves the attribution series out
    summary.update(findings, verdict_reasons=reasons, open_regressions=open_regressions)
    # the series' changes as stored, with every person's decision (docs/METHOD.md, "Open changes")
    key = store.run_key(engine, current.run_id)
    with engine.connect() as conn:
        changes = series_changes(conn, plan_hash=key["plan_hash"], env_hash=key["env_hash"])
    summary["open_changes"] = [c.model_dump(mode="json") for c in changes[-MAX_CHANGES:]]
    undecided = [c for c in changes if c.status == "open"]
    if undecided:
        n = len(undecided)
        lead = f"{n} open change{'s' if n > 1 else ''} waiting for a decision (`loadwatch triage`): "
        summary["verdict_reasons"] = [lead + "; ".join(describe(c) for c in undecided), *summary["verdict_reasons"]]
        if summary.get("verdict") in ("pass", "insufficient_history"):
            summary["verdict"] = "regression"  # as the nightly run says while a change is open (`fail`, the default)
    series = store.run_series(engine, current.run_id)
    record = {"summary": summary, **series}
    history = [dict(r) for r in runs[:-1]]
    data = report_input(record, history, mode="review")
    data["history"].append({"run_id": current.run_id, "started_at": summary.get("started_at"),
                            "verdict": summary.get("verdict"),
                            "metrics": {sc: dict(ms) for sc, ms in current.metrics.items()}})
    return data


def review_report(engine: Engine, *, last: int, out_dir: Path, scenario: str | None = None,
                  plan_hash: str | None = None, pool: Executor | None = None, branch: str | None = None,
                  main_branch: str = "main") -> dict[str, Path]:
    data = review_data(engine, last=last, scenario=scenario, plan_hash=plan_hash, pool=pool, branch=branch,
                       main_branch=main_branch)
    return write_report(data, out_dir, pool)
