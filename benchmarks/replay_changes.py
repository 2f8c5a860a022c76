"""Open changes over 30 nights (issue 22's target), through the real gate, lifecycle and store.

    .venv/bin/python benchmarks/replay_changes.py [--out benchmarks/results/open_changes]

Synthetic nights (p50 10 ms, p95 20 ms, 2 % night-to-night noise, seeded) are judged one after another exactly as
the nightly chain judges them (compare.judge on store.comparable_history, the followed changes from the store) and
stored with save_run on the embedded Postgres. A step of +40 % on night 15, and one night (25) +30 % beyond that
level; the cases:
  no triage, `verdict.open_changes: fail`  -> every night from 15 on fails
  no triage, `warn`                         -> night 15 fails, 16-30 pass and list the open change
  `expected` after night 17                 -> 18-30 pass at the new level, except night 25 (+30 % more), which fails
  `dismiss` after night 17 / `confirm` after night 17 (as a person would, on the same data)
Writes <out>.json (every night's verdict, reasons and open changes) and <out>.md (the table)."""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from loadwatch import store
from loadwatch.infra import postgres as embedded
from loadwatch.metrics import run_metrics
from loadwatch.pipeline import compare
from loadwatch.pipeline.open_changes import OpenChangesPolicy
from loadwatch.store.changes import active_changes, triage_change

PLAN, ENV = "replayplan000001", "replayenv0000001"
START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
NIGHTS, STEP_NIGHT, TRIAGE_AFTER, FURTHER_NIGHT = 30, 15, 17, 25
STEP, FURTHER, NOISE = 1.40, 1.30, 0.02


def night(engine: Any, i: int, scale: float, rng: np.random.Generator, policy: OpenChangesPolicy) -> dict[str, Any]:
    """Judge night i (1-based) against the stored history and store it; its summary."""
    started = START + timedelta(days=i - 1)
    run_id = f"night-{i:02d}"
    p50 = 10.0 * scale * float(np.exp(rng.normal(0, NOISE)))
    p95 = 20.0 * scale * float(np.exp(rng.normal(0, NOISE)))
    load = {"requests": 10_000, "errors": 0, "latency_ms": {"p50": p50, "p95": p95}}
    summary: dict[str, Any] = {"run_id": run_id, "started_at": started.isoformat(), "load": load,
                               "plan": {"hash": PLAN, "name": "replay"}, "environment": {"hash": ENV}}
    history = store.comparable_history(engine, plan_hash=PLAN, env_hash=ENV, before=started)
    current = compare.to_point({"run_id": run_id, "started_at": started, "metrics": run_metrics(summary)})
    findings = compare.judge(current, [compare.to_point(p) for p in history], thresholds=[], load=load,
                             changes=active_changes(engine, plan_hash=PLAN, env_hash=ENV), policy=policy)
    summary.update(verdict=findings["verdict"], verdict_reasons=findings["verdict_reasons"],
                   comparison=findings["comparison"],
                   open_changes=[c.model_dump(mode="json") for c in findings["open_changes"]])
    store.save_run(engine, {"summary": summary, "status": "completed"})
    return summary


def case(admin_url: str, name: str, policy: OpenChangesPolicy, decision: str | None,
         seed: int = 7) -> list[dict[str, Any]]:
    db = f"lw_replay_{uuid.uuid4().hex[:8]}"
    engine = store.connect(embedded.ensure_database(admin_url, db))
    rng = np.random.default_rng(seed)
    out = []
    try:
        for i in range(1, NIGHTS + 1):
            scale = (STEP if i >= STEP_NIGHT else 1.0) * (FURTHER if i == FURTHER_NIGHT else 1.0)
            s = night(engine, i, scale, rng, policy)
            out.append({"night": i, "verdict": s["verdict"], "reasons": s["verdict_reasons"],
                        "open_changes": s["open_changes"]})
            if decision and i == TRIAGE_AFTER:
                for c in active_changes(engine, plan_hash=PLAN, env_hash=ENV):
                    triage_change(engine, c.change_id, decision, by="replay", note=f"{name} after night {i}")
    finally:
        engine.dispose()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
    return out


CASES: list[tuple[str, OpenChangesPolicy, str | None]] = [
    ("no triage, fail", "fail", None), ("no triage, warn", "warn", None),
    ("expected after 17", "fail", "expected"), ("dismissed after 17", "fail", "dismissed"),
    ("confirmed after 17", "fail", "confirmed")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "open_changes"))
    ns = ap.parse_args()
    admin = embedded.admin_url()
    results = {name: case(admin, name, policy, decision) for name, policy, decision in CASES}
    Path(ns.out + ".json").write_text(json.dumps(results, indent=1))
    lines = ["# Open changes over 30 nights (benchmarks/replay_changes.py)", "",
             f"Step x{STEP} on night {STEP_NIGHT} (p50 and p95), x{FURTHER} more on night {FURTHER_NIGHT} only; "
             f"triage after night {TRIAGE_AFTER}. F = the night fails (exit 1), . = passes, "
             "o = passes listing an open change.", "",
             "| case | " + " | ".join(str(i) for i in range(1, NIGHTS + 1)) + " |",
             "|---|" + "---|" * NIGHTS]
    for name, nights in results.items():
        marks = ["F" if n["verdict"] == "regression" else ("o" if n["open_changes"] else ".") for n in nights]
        lines.append(f"| {name} | " + " | ".join(marks) + " |")
    lines.append("")
    for name, nights in results.items():
        failing = [n["night"] for n in nights if n["verdict"] == "regression"]
        lines.append(f"- {name}: failing nights {failing}")
    Path(ns.out + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
