"""The nights something goes wrong: unreachable target, failing database, interrupts, secrets.

Each test provokes the fault for real and asserts the outcome: exit code, message, stored state, no orphans."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg
import pytest
import sqlalchemy as sa
from e2e_procs import assert_no_survivors, cmdline, interrupt, kill_group, wait_for_load

from loadwatch.cli import main

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return list(conn.execute(sql).fetchall())


def test_unreachable_target_fails_preflight_fast(prefect_harness, fresh_db, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOADWATCH_DATABASE_URL", fresh_db)
    started = time.monotonic()
    code = main(["run", "--no-capacity", "--target", f"http://127.0.0.1:{_free_port()}", "--duration", "5",
                 "--out", str(tmp_path)])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 3, err
    assert "not reachable" in err and "Traceback" not in err
    assert elapsed < 60  # bounded: a 5 s reachability window plus Prefect's own start-up
    assert _rows(fresh_db, "SELECT status, verdict FROM runs") == [("failed_preflight", "failed")]
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "failed_preflight"


def test_failing_store_spools_then_next_run_stores_it(prefect_harness, store_refusing_runs, tmp_path, monkeypatch,
                                                      capsys):
    fresh_db = store_refusing_runs
    monkeypatch.setenv("LOADWATCH_DATABASE_URL", fresh_db)
    spool = tmp_path / "spool"
    monkeypatch.setenv("LOADWATCH_SPOOL_DIR", str(spool))
    code = main(["run", "--no-capacity", "--duration", "3", "--rate", "40", "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err
    assert code == 3, err
    spooled = list(spool.glob("*.json"))
    assert len(spooled) == 1 and str(spooled[0]) in err
    first = json.loads(spooled[0].read_text())["summary"]
    assert (tmp_path / "a" / "report.html").exists()  # the report is written even though the store failed

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("DROP TRIGGER lw_fail ON runs")
    code = main(["run", "--no-capacity", "--duration", "3", "--rate", "40", "--out", str(tmp_path / "b")])
    assert code in (0, 1), capsys.readouterr().err
    rows = _rows(fresh_db, "SELECT run_id, started_at FROM runs ORDER BY started_at")
    assert rows[0][0] == first["run_id"]  # stored with its original time, first
    assert len(rows) == 2 and not list(spool.glob("*.json"))
    second = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert second["baseline_run_ids"] == [first["run_id"]]


def test_sigint_stops_stores_aborted_and_leaves_no_orphans(prefect_harness, fresh_db, tmp_path):
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "LOADWATCH_DATABASE_URL": fresh_db, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadwatch", "run", "--no-capacity", "--duration", "60", "--warmup", "0", "--rate", "40",
         "--out", str(tmp_path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    me = psutil.Process(proc.pid)
    try:
        wait_for_load(me, timeout=90)
        time.sleep(2)
        descendants = me.children(recursive=True)
        err, took = interrupt(proc)
    finally:
        kill_group(proc)
    assert proc.returncode == 130, err
    assert took < 30
    assert_no_survivors(descendants)
    summary = json.loads((Path(tmp_path) / "summary.json").read_text())
    assert summary["status"] == "aborted" and summary["verdict"] == "aborted"
    assert summary["load"]["requests"] > 0  # what was measured is kept
    assert _rows(fresh_db, "SELECT status FROM runs") == [("aborted",)]


def test_credentials_never_leak(prefect_harness, fresh_db, tmp_path, monkeypatch, capsys):
    # trust auth ignores the password, so the run works while the URL carries a secret
    secret_url = fresh_db.replace("postgresql://postgres:@", "postgresql://postgres:hunter2secret@")
    assert "hunter2secret" in secret_url
    code = main(["-v", "run", "--no-capacity", "--duration", "3", "--rate", "30", "--out", str(tmp_path),
                 "--database-url", secret_url])
    captured = capsys.readouterr()
    assert code in (0, 1), captured.err
    for f in ("summary.json", "report.html", "report.md"):
        assert "hunter2secret" not in (tmp_path / f).read_text()
    assert "hunter2secret" not in captured.err + captured.out
    engine = sa.create_engine(fresh_db.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT summary::text FROM runs")).scalar()
    engine.dispose()
    assert "hunter2secret" not in stored


def test_target_dies_mid_run_errors_are_classified_and_the_run_is_stored(prefect_harness, fresh_db, tmp_path,
                                                                        monkeypatch):
    import threading

    from loadwatch.demo import DemoTarget
    from loadwatch.flows.nightly import nightly
    from loadwatch.params import RunParams

    monkeypatch.setenv("LOADWATCH_DATABASE_URL", fresh_db)
    demo = DemoTarget.start()
    done = threading.Event()

    def kill_mid_run() -> None:
        me = psutil.Process()
        while not done.wait(0.1):  # the load has started once generator processes exist
            if any("multiprocessing" in cmdline(p) for p in me.children(recursive=True)):
                break
        if not done.wait(4.0):
            os.kill(demo.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_mid_run)
    killer.start()
    try:
        params = RunParams(target_url=demo.url, duration=8, warmup=1, rate=60, out_dir=str(tmp_path))
        state = nightly(**params.model_dump(), return_state=True)
    finally:
        done.set()
        killer.join()
        demo.stop()
    summary = json.loads((tmp_path / "summary.json").read_text())
    load = summary["load"]
    assert load["requests"] > load["errors"] > 0  # answered before the kill, refused after it
    kinds = set(load["errors_by_kind"])
    assert kinds & {"connect_refused", "connection_reset", "read_timeout"}, kinds
    assert all(e["sample"] for e in load["errors_by_kind"].values())
    assert any("target" in w and "failed" in w for w in summary["warnings"]), summary["warnings"]
    assert state.is_failed()  # error_rate < 1% is breached
    assert summary["verdict"] == "threshold_breach"
    # the monitor survived the target's death and kept sampling the other groups
    assert summary["resources"]["host"]["samples"] >= 6
    assert summary["resources"]["target"]["samples"] >= 2
    assert _rows(fresh_db, "SELECT status FROM runs") == [("completed",)]
