"""The nightly chain without Prefect (loadwatch.pipeline.chain run by tests/plain_runner.py's plain runners),
against the real demo target and a real Postgres: the record it builds, what it stores, spools and writes, the
failed preflight, the interrupt, and the shape of summary.json (pinned in summary_shape.json)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
from plain_runner import plain_stages
from record_shape import differences, shape_of

from loadwatch import metrics
from loadwatch import record as record_module
from loadwatch.errors import StoreUnavailable, TargetUnavailable
from loadwatch.infra import interrupts
from loadwatch.params import RunParams
from loadwatch.pipeline import chain, compare
from loadwatch.pipeline.chain import run_chain
from loadwatch.record import RunSummary
from loadwatch.store import repo

GOLDEN = json.loads((Path(__file__).parent / "summary_shape.json").read_text())
# summary.json's lap keys of a night without capacity, A/B or notifications: one name per stage (chain._Laps)
STAGES = ["preflight", "open_target", "capture_before", "lock", "load", "capture_after", "compare", "store",
          "publish"]


def _rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return list(conn.execute(sql).fetchall())


def _params(out: Path, **overrides) -> RunParams:
    # the capacity stage has its own tests (tests/capacity); here it would add its budget to every run
    return RunParams(**{"duration": 3, "rate": 40, "warmup": 1, "out_dir": str(out), "trigger": "cli",
                        "capacity": False, **overrides})


def _recording(stages: chain.Stages) -> tuple[chain.Stages, list[str]]:
    """The same runners, each noting its Stages field name when it is called."""
    called: list[str] = []

    def noted(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def runner(*args: Any, **kwargs: Any) -> Any:
            called.append(name)
            return fn(*args, **kwargs)
        return runner

    runners = {f.name: noted(f.name, getattr(stages, f.name)) for f in fields(stages)
               if getattr(stages, f.name) is not None}
    return replace(stages, **runners), called


def _count_metric_vectors(monkeypatch) -> list[int]:
    """Every module that could derive a run's metric vector, wrapped to count the derivations (the real function)."""
    calls: list[int] = []

    def counted(summary):
        calls.append(1)
        return metrics.run_metrics(summary)

    for module in (chain, compare, record_module, repo):
        monkeypatch.setattr(module, "run_metrics", counted)
    return calls


def test_two_nights_through_the_chain(fresh_db, tmp_path, monkeypatch):
    derived = _count_metric_vectors(monkeypatch)
    stages, called = _recording(plain_stages())
    first = run_chain(_params(tmp_path / "a", notes="first", tags=["x"]), stages, store_url=fresh_db)
    written = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert written == json.loads(json.dumps(first.to_json(), default=str))  # the returned record is what was written
    assert differences(GOLDEN, shape_of(written)) == []
    assert RunSummary.model_validate(written).to_json() == written  # the model reads back what it wrote
    assert first.status == "completed" and first.trigger == "cli" and first.notes == "first" and first.tags == ["x"]
    assert list(first.timings_s) == STAGES
    # every lap is named by the stage it times: the load ∥ monitor is one lap, `load`; `lock` is the chain's wait for
    # the target's lock; the report writes the summary.json that would hold its lap
    ran = {"load" if name in ("start_load", "start_monitor") else name for name in called} - {"report"}
    assert set(first.timings_s) == ran | {"lock"} and "report" in called
    assert first.totals.requests > 50 and first.totals.latency_ms.p95 is not None
    assert first.baseline_run_ids == []
    own = {t["expr"] for t in first.thresholds if not t.get("default")}
    assert own == {"p95 < 50ms", "error_rate < 1%"}  # the plan sets error_rate: no default one beside it
    assert {t["expr"] for t in first.thresholds if t.get("default")} == {
        f"{name}: answers > 0" for name in first.load["scenarios"]}
    for group in ("target", "database", "host", "generator"):
        assert first.resources[group]["samples"] >= 2, group  # the monitor ran beside the load
    # the statements' calls in every interval, and beside them the load's requests in the same intervals (METHOD §9)
    intervals = written["resources"]["database"]["statement_intervals"]
    assert intervals["calls"] and set(intervals["requests"]) <= set(written["load"]["scenarios"])
    assert 0 < sum(map(sum, intervals["requests"].values())) <= written["load"]["sends"] + 0.01
    for f in ("report.html", "report.md"):
        assert (tmp_path / "a" / f).stat().st_size > 0
    stored = _rows(fresh_db, "SELECT run_id, status, verdict, notes, summary->'timings_s' FROM runs")
    # stored before the publish and report stages: the stored timings end at the comparison
    assert stored == [(first.run_id, "completed", first.verdict, "first", {k: first.timings_s[k] for k in STAGES[:7]})]
    assert _rows(fresh_db, f"SELECT count(*) FROM histograms WHERE run_id = '{first.run_id}'")[0][0] > 0
    # the metric vector is derived once per night: judged, stored and charted from the record that carries it
    assert len(derived) == 1
    stored_metrics = _rows(fresh_db, "SELECT scenario, metric, value FROM measurements WHERE run_id = "
                                     f"'{first.run_id}'")
    vector = metrics.run_metrics(written)
    assert sorted(stored_metrics) == sorted((sc, m, v) for sc, ms in vector.items() for m, v in ms.items())

    second = run_chain(_params(tmp_path / "b"), plain_stages(), store_url=fresh_db)
    usable = first.verdict != "inconclusive"  # a generator-bound night (a loaded box) is never a baseline
    assert second.baseline_run_ids == ([first.run_id] if usable else [])
    assert differences(GOLDEN, shape_of(json.loads((tmp_path / "b" / "summary.json").read_text()))) == []
    if usable:
        assert second.comparison, "the second night is compared with the first"
    assert second.exit_code == {"pass": 0, "insufficient_history": 0}.get(second.verdict, second.exit_code)


def test_an_unreachable_target_is_a_failed_preflight(fresh_db, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TargetUnavailable, match="not reachable"):
        run_chain(_params(tmp_path, target_url=f"http://127.0.0.1:{port}"), plain_stages(),
                  store_url=fresh_db)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["status"] == "failed_preflight" and written["verdict"] == "failed"
    assert written["load"] == {} and "not reachable" in written["verdict_reasons"][0]
    assert differences(GOLDEN, shape_of(written)) == []
    assert _rows(fresh_db, "SELECT status, verdict FROM runs") == [("failed_preflight", "failed")]


def test_a_failing_store_spools_the_record_and_still_writes_the_report(store_refusing_runs, tmp_path, monkeypatch):
    fresh_db = store_refusing_runs
    spool = tmp_path / "spool"
    monkeypatch.setenv("LOADWATCH_SPOOL_DIR", str(spool))
    with pytest.raises(StoreUnavailable, match="disk full") as err:
        run_chain(_params(tmp_path / "a"), plain_stages(), store_url=fresh_db)
    spooled = list(spool.glob("*.json"))
    assert len(spooled) == 1 and str(spooled[0]) in err.value.message
    record = json.loads(spooled[0].read_text())
    assert set(record) == {"summary", "status", "trigger", "flow_run_id", "notes", "tags", "histograms", "windows",
                           "timeline", "resource_samples", "metrics"}
    assert record["metrics"]["*"]["requests"] > 0  # the run's metric vector travels with the spooled record
    assert record["histograms"] and record["summary"]["run_id"]
    assert (tmp_path / "a" / "report.html").exists() and (tmp_path / "a" / "summary.json").exists()

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("DROP TRIGGER lw_fail ON runs")
    second = run_chain(_params(tmp_path / "b"), plain_stages(), store_url=fresh_db)
    runs = _rows(fresh_db, "SELECT run_id FROM runs ORDER BY started_at")
    assert [r[0] for r in runs] == [record["summary"]["run_id"], second.run_id]  # the preflight stored it first
    assert not list(spool.glob("*.json"))


def test_an_interrupt_keeps_what_was_measured_as_aborted(fresh_db, tmp_path):
    done = threading.Event()

    def interrupt_mid_load() -> None:
        me = psutil.Process()
        while not done.wait(0.1):  # the load has started once generator processes exist
            if any("multiprocessing" in " ".join(p.cmdline()) for p in me.children(recursive=True)):
                break
        if not done.wait(2.0):
            interrupts.STOP.set()  # what the SIGINT handler does (loadwatch.infra.interrupts)

    killer = threading.Thread(target=interrupt_mid_load)
    killer.start()
    try:
        summary = run_chain(_params(tmp_path, duration=60, warmup=0), plain_stages(), store_url=fresh_db)
    finally:
        done.set()
        killer.join()
        interrupts.STOP.clear()
    assert summary.status == "aborted" and summary.verdict == "aborted"
    assert summary.verdict_reasons == ["interrupted (SIGINT/SIGTERM)"] and summary.exit_code == 130
    assert summary.totals.requests > 0  # what was measured is kept
    assert summary.timings_s["load"] < 30
    assert _rows(fresh_db, "SELECT status, verdict FROM runs") == [("aborted", "aborted")]

