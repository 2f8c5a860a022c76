"""Importing the seed scripts' files, and the trend report over the stored history (no new run)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from loadwatch.cli import main
from loadwatch.commands.importer import SCENARIO_NAMES

STEP_SCENARIO = "Get Tool by Name"


def _seed_load(p95: dict[str, float], rng: random.Random) -> dict:
    scen = {}
    for label, base in p95.items():
        total = 40
        scen[label] = {"total": total, "success": total, "failed": 0, "success_rate_percent": 100.0,
                       "avg_response_ms": round(base * 0.6, 3), "p95_response_ms": round(base, 3)}
    all_p95 = max(p95.values())
    return {
        "duration_seconds": 60.0, "total_requests": 240, "successful_requests": 240, "failed_requests": 0,
        "requests_per_second": 4.0, "error_rate_percent": 0.0, "errors": {},
        "response_times": {"min_ms": 1.0, "max_ms": all_p95 * 1.6, "mean_ms": all_p95 * 0.5,
                           "median_ms": all_p95 * 0.45, "p95_ms": all_p95, "p99_ms": all_p95 * 1.3},
        "scenarios": scen,
    }


def _seed_monitor(when: datetime) -> dict:
    return {
        "analysis": {"samples_collected": 10, "duration_seconds": 54.0,
                     "cpu": {"min": 0.3, "max": 1.8, "avg": 0.7, "samples": [0.7] * 10},
                     "memory": {"min": 19.3, "max": 19.4, "avg": 19.4, "samples": [19.4] * 10}},
        "samples": [{"timestamp": (when + timedelta(seconds=6 * i)).isoformat(), "system": {"cpu_percent": 0.7}}
                    for i in range(10)],
    }


def write_seed_nights(folder: Path, nights: int = 30, step_night: int = 20, step: float = 1.4,
                      step_scenario: str = STEP_SCENARIO) -> list[Path]:
    rng = random.Random(7)
    base = {"List Tools": 6.8, "Search by Name": 5.6, "Get Tool by Name": 2.7, "Search Enabled Tools": 5.3,
            "Search Latest Version": 5.3, "Performance Stats": 10.2}
    files = []
    t0 = datetime(2025, 10, 1, 2, 0, tzinfo=UTC)
    for night in range(nights):
        when = t0 + timedelta(days=night)
        p95 = {k: v * rng.gauss(1.0, 0.03) * (step if k == step_scenario and night >= step_night else 1.0)
               for k, v in base.items()}
        stamp = when.strftime("%Y%m%d_%H%M%S")
        f = folder / f"load_test_results_{stamp}.json"
        f.write_text(json.dumps(_seed_load(p95, rng)))
        m = folder / f"resource_monitor_{(when - timedelta(seconds=2)).strftime('%Y%m%d_%H%M%S')}.json"
        m.write_text(json.dumps(_seed_monitor(when)))
        files += [f, m]
    return files


def test_import_rejects_malformed_files_whole(fresh_db, tmp_path, capsys):
    good = write_seed_nights(tmp_path, nights=2)
    bad_json = tmp_path / "load_test_results_20250101_020000.json"
    bad_json.write_text("{not json")
    bad_field = tmp_path / "load_test_results_20250102_020000.json"
    doc = json.loads(good[0].read_text())
    doc["response_times"].pop("p95_ms")
    bad_field.write_text(json.dumps(doc))
    bad_name = tmp_path / "results.json"
    bad_name.write_text("{}")
    code = main(["import", *map(str, [*good, bad_json, bad_field, bad_name]), "--database-url", fresh_db])
    out = capsys.readouterr()
    assert code == 2
    assert f"skipped {bad_json}: not valid JSON" in out.err
    assert f"skipped {bad_field}: field response_times.p95_ms" in out.err
    assert f"skipped {bad_name}: file name must be" in out.err
    assert out.out.count("stored seed-") == 2
    engine = sa.create_engine(fresh_db.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT count(*) FROM runs")).scalar()
        host = conn.execute(sa.text("SELECT count(*) FROM resource_samples WHERE grp = 'host'")).scalar()
        p95 = conn.execute(sa.text("SELECT value FROM measurements WHERE scenario = 'get_tool' AND metric = 'p95_ms'"
                                   " ORDER BY run_id")).scalars().all()
    engine.dispose()
    assert runs == 2 and host == 20 and len(p95) == 2


def test_thirty_imported_nights_with_a_step_are_reported(fresh_db, tmp_path, capsys):
    seed = tmp_path / "seed"
    seed.mkdir()
    files = write_seed_nights(seed)
    assert main(["import", *map(str, files), "--database-url", fresh_db]) == 0
    out = tmp_path / "report"
    assert main(["report", "--last", "30", "--out", str(out), "--database-url", fresh_db]) == 0
    md = (out / "report.md").read_text()
    changed = SCENARIO_NAMES[STEP_SCENARIO]
    assert changed in md
    summary = json.loads((out / "summary.json").read_text())
    cps = [c for c in summary["change_points"] if c["scenario"] == changed and c["metric"] == "p95_ms"]
    assert cps, summary["change_points"]
    assert any(abs(c["forward_change_percent"] - 40) < 15 for c in cps)
    assert all(c["scenario"] in (changed, "*") for c in summary["change_points"] if c["metric"] == "p95_ms")
    # the headline names the open regression, never a bare PASS
    assert summary["verdict"] == "regression"
    assert summary["verdict_reasons"][0].startswith("1 open regression") or "open regressions" in \
        summary["verdict_reasons"][0]
    assert changed in summary["verdict_reasons"][0] and "since" in summary["verdict_reasons"][0]
    html = (out / "report.html").read_text()
    assert "<svg" in html and changed in html
    assert len(html.encode()) <= 2_000_000


def test_report_on_empty_store_is_a_clear_error(fresh_db, tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path), "--database-url", fresh_db]) == 2
    assert "no completed runs" in capsys.readouterr().err


def test_a_stored_summary_that_does_not_validate_is_refused_naming_the_field(fresh_db, tmp_path, capsys):
    """A stored summary is validated once, through the run record's model, where the store hands it out: one
    message naming the run and the field, exit 3 (what the store holds is no person's input to fix), and no report
    of junk."""
    files = write_seed_nights(tmp_path, nights=3)
    assert main(["import", *map(str, files), "--database-url", fresh_db]) == 0
    engine = sa.create_engine(fresh_db.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        newest = conn.execute(sa.text("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1")).scalar()
        conn.execute(sa.text("UPDATE runs SET summary = summary - 'trigger' WHERE run_id = :r"), {"r": newest})
    engine.dispose()
    out = tmp_path / "report"
    assert main(["report", "--last", "3", "--out", str(out), "--database-url", fresh_db]) == 3
    err = capsys.readouterr().err
    assert f"trend store: run {newest}'s stored summary: trigger: Field required" in err
    assert not (out / "report.html").exists()


def test_review_with_worker_processes_equals_the_serial_review(fresh_db, tmp_path):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from loadwatch import store
    from loadwatch.report.review import review_data

    files = write_seed_nights(tmp_path, nights=30)
    assert main(["import", *map(str, files), "--database-url", fresh_db]) == 0
    engine = store.connect(fresh_db)
    try:
        serial = review_data(engine, last=30)
        with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
            parallel = review_data(engine, last=30, pool=pool)
    finally:
        engine.dispose()
    assert serial["summary"]["change_points"], "the step at night 20 is a change point"
    assert json.dumps(parallel, sort_keys=True, default=str) == json.dumps(serial, sort_keys=True, default=str)


def test_report_command_on_its_own_embedded_store_stops_the_server(tmp_path):
    """The command starts the embedded Postgres itself, stops it while the report is drawn, and leaves nothing."""
    import os
    import subprocess
    import sys

    import psutil

    home = tmp_path / "home"
    env = {**os.environ, "LOADWATCH_HOME": str(home)}
    env.pop("LOADWATCH_DATABASE_URL", None)
    files = write_seed_nights(tmp_path, nights=12)
    run = [sys.executable, "-m", "loadwatch"]
    subprocess.run([*run, "import", *map(str, files)], env=env, check=True, capture_output=True)
    out = tmp_path / "out"
    done = subprocess.run([*run, "report", "--last", "12", "--out", str(out)], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # nothing from matplotlib, Postgres or the workers on the terminal
    assert json.loads((out / "summary.json").read_text())["run_id"]
    pgdata = str(home / "pgdata")
    left = [p for p in psutil.process_iter(["cmdline"]) if pgdata in " ".join(p.info["cmdline"] or [])]
    assert not left, [p.info["cmdline"] for p in left]
