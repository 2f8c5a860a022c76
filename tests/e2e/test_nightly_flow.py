"""The whole nightly chain through a real Prefect engine, against the demo target and a real Postgres."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from loadwatch.params import RunParams

pytestmark = pytest.mark.e2e


def _run(tmp_path, name: str, **overrides):
    from loadwatch.flows.nightly import nightly

    out = tmp_path / name
    # the capacity stage has its own tests (tests/capacity); here it would add its 60 s budget to every run
    params = RunParams(**{"duration": 5, "rate": 80, "warmup": 1, "out_dir": str(out), "trigger": "cli",
                          "capacity": False, **overrides})
    state = nightly(**params.model_dump(), return_state=True)
    summary = json.loads((out / "summary.json").read_text())
    return state, summary, out


def test_two_consecutive_runs(prefect_harness, fresh_db, tmp_path, monkeypatch):
    monkeypatch.setenv("LOADWATCH_DATABASE_URL", fresh_db)
    state1, s1, out1 = _run(tmp_path, "first")
    assert state1.is_completed(), state1.message
    for f in ("report.html", "report.md", "summary.json"):
        assert (out1 / f).stat().st_size > 0
    load = s1["load"]
    assert load["requests"] > 100
    assert load["errors"] == 0, load["errors_by_kind"]
    assert set(load["scenarios"]) == {
        "list_tools", "search_by_name", "get_tool", "search_enabled", "search_latest", "performance_stats"}
    assert all(b["requests"] > 0 for b in load["scenarios"].values())
    for key in ("p50", "p95", "p99", "p999", "max"):
        assert load["latency_ms"][key] > 0
    res = s1["resources"]
    for group in ("target", "database", "host", "generator"):
        assert res[group]["samples"] >= 3, group
    assert res["target"]["cpu_percent"]["max"] > 0 and res["target"]["rss_mb"]["avg"] > 0
    assert s1["target_stats"]["delta"], "the stats endpoint's counters were diffed over the window"
    assert s1["baseline_run_ids"] == []
    assert s1["verdict"] == "insufficient_history"
    assert {t["expr"] for t in s1["thresholds"] if not t.get("default")} == {"p95 < 50ms", "error_rate < 1%"}
    assert s1["score"]["total"] >= 0

    state2, s2, _ = _run(tmp_path, "second")
    assert s2["baseline_run_ids"] == [s1["run_id"]]
    assert state2.is_completed() or s2["verdict"] in ("regression", "threshold_breach")

    engine = sa.create_engine(fresh_db.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT run_id, status FROM runs ORDER BY started_at")).all()
        hists = conn.execute(sa.text("SELECT count(*) FROM histograms WHERE run_id = :r"), {"r": s1["run_id"]}).scalar()
        samples = conn.execute(sa.text("SELECT count(DISTINCT grp) FROM resource_samples")).scalar()
    engine.dispose()
    assert [r.run_id for r in runs] == [s1["run_id"], s2["run_id"]]
    assert hists >= 7 * 2  # six scenarios + "*", latency and service time
    assert samples >= 4


def _flow_run_log_lines(flow_run_id) -> list[tuple[str, str]]:
    """(logger name, message) of every log line the API holds for that flow run and its task runs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=30)  # the handler ships its lines in batches
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])), limit=200)
    return [(entry.name, entry.message) for entry in logs]


def test_the_stages_module_loggers_reach_the_flow_runs_logs(prefect_harness, fresh_db, tmp_path, monkeypatch):
    """The core logs to its module loggers (no logger threaded through the stages); Prefect's extra-loggers setting
    (PREFECT_LOGGING_EXTRA_LOGGERS=loadwatch, set before Prefect is imported: tests/conftest.py here, the CLI and the
    deployments' environment elsewhere) ships their INFO lines to the flow run's logs, with the run they belong to."""
    monkeypatch.setenv("LOADWATCH_DATABASE_URL", fresh_db)
    state, summary, _ = _run(tmp_path, "logged", duration=2, rate=20)
    lines = _flow_run_log_lines(state.state_details.flow_run_id)
    by_logger = {name for name, _ in lines}
    assert {"loadwatch.pipeline.chain", "loadwatch.pipeline.preflight", "loadwatch.pipeline.load"} <= by_logger, lines
    assert any(name == "loadwatch.pipeline.load" and message.startswith("load done:") for name, message in lines)
    assert any(summary["run_id"] in message for name, message in lines if name == "loadwatch.pipeline.chain")


def _task_names(flow_run_id) -> list[str]:
    """The task of each task run of that flow run (its name without the run's suffix)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return [r.name for r in runs]


def test_every_lap_is_named_like_the_task_it_times(prefect_harness, fresh_db, tmp_path, monkeypatch):
    monkeypatch.setenv("LOADWATCH_DATABASE_URL", fresh_db)
    state, summary, _ = _run(tmp_path, "laps", duration=2, rate=20)
    tasks = {name.rsplit("-", 1)[0].replace("-", "_") for name in _task_names(state.state_details.flow_run_id)}
    # the load ∥ monitor is one lap, `load`; `lock` is the chain's wait for the target's lock (no task); the report
    # writes the summary.json that would hold its own lap
    expected = (tasks - {"monitor", "report"}) | {"lock"}
    assert "report" in tasks and "monitor" in tasks
    assert set(summary["timings_s"]) == expected
