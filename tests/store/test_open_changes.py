"""Open changes through the real gate, lifecycle and store (embedded Postgres), triaged through the CLI: a lasting
regression fails every night until a person decides, and each decision does what docs/METHOD.md says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loadwatch import store
from loadwatch.cli import main
from loadwatch.metrics import run_metrics
from loadwatch.pipeline import compare
from loadwatch.pipeline.open_changes import OpenChangesPolicy
from loadwatch.store.changes import active_changes, series_changes

PLAN, ENV = "changesplan00001", "changesenv000001"
START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
WIGGLE = (1.0, 1.01, 0.99, 1.015, 0.985)  # a clean series' night-to-night spread


@pytest.fixture
def engine(fresh_db):
    eng = store.connect(fresh_db)
    yield eng
    eng.dispose()


def night(engine: Any, i: int, p50: float, policy: OpenChangesPolicy = "fail") -> dict[str, Any]:
    """Judge night i against the stored history and followed changes, as the chain does, and store it."""
    started = START + timedelta(days=i)
    load = {"requests": 10_000, "errors": 0, "latency_ms": {"p50": p50 * WIGGLE[i % len(WIGGLE)]}}
    summary: dict[str, Any] = {"run_id": f"n{i:02d}", "status": "completed", "started_at": started.isoformat(),
                               "finished_at": (started + timedelta(minutes=1)).isoformat(), "trigger": "cli",
                               "load": load, "plan": {"hash": PLAN}, "environment": {"hash": ENV}}
    history = store.comparable_history(engine, plan_hash=PLAN, env_hash=ENV, before=started)
    current = compare.to_point({"run_id": summary["run_id"], "started_at": started, "metrics": run_metrics(summary)})
    findings = compare.judge(current, [compare.to_point(p) for p in history], thresholds=[], load=load,
                             changes=active_changes(engine, plan_hash=PLAN, env_hash=ENV), policy=policy)
    summary.update(verdict=findings["verdict"], verdict_reasons=findings["verdict_reasons"],
                   open_changes=[c.model_dump(mode="json") for c in findings["open_changes"]])
    store.save_run(engine, {"summary": summary, "status": "completed"})
    return summary


def clean_nights(engine: Any, n: int = 11) -> None:
    for i in range(n):
        assert night(engine, i, 10.0)["verdict"] in ("pass", "insufficient_history")


def triage(fresh_db: str, change_id: str, decision: str, capsys: pytest.CaptureFixture[str]) -> str:
    code = main(["triage", change_id, decision, "--by", "alice", "--note", f"{decision} it",
                 "--database-url", fresh_db])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def held_p50(engine: Any, before_night: int) -> dict[str, float | None]:
    """Each earlier night's p50 as the gate sees it (None: held out of the baseline); the stored value stays."""
    hist = store.comparable_history(engine, plan_hash=PLAN, env_hash=ENV,
                                    before=START + timedelta(days=before_night))
    assert all(p["metrics"]["*"].get("p50_ms") is not None for p in hist)  # the report still draws every night
    return {p["run_id"]: compare.to_point(p).metrics.get("*", {}).get("p50_ms") for p in hist}


def test_a_lasting_regression_fails_every_night_and_stays_out_of_the_baseline(engine):
    clean_nights(engine)
    nights = [night(engine, i, 13.0) for i in range(11, 16)]  # +30 %, lasting
    assert [s["verdict"] for s in nights] == ["regression"] * 5
    change = nights[-1]["open_changes"][0]
    assert change["status"] == "open" and change["failing"] and change["nights_open"] == 5
    assert change["first_run_id"] == "n11" and change["change_percent"] == pytest.approx(30, abs=3)
    assert {c["change_id"] for s in nights for c in s["open_changes"]} == {change["change_id"]}  # one change
    assert any("open 5 nights" in r and change["change_id"] in r for r in nights[-1]["verdict_reasons"])
    baseline = held_p50(engine, 16)
    assert all(baseline[f"n{i}"] is None for i in range(11, 16))  # untriaged regression nights: no baseline
    assert baseline["n10"] is not None


def test_warn_fails_only_the_first_night(engine):
    clean_nights(engine)
    verdicts = [night(engine, i, 13.0, policy="warn")["verdict"] for i in range(11, 14)]
    assert verdicts == ["regression", "pass", "pass"]
    assert active_changes(engine, plan_hash=PLAN, env_hash=ENV)[0].status == "open"


def test_expected_restarts_the_series_at_the_change(engine, fresh_db, capsys):
    clean_nights(engine)
    first = night(engine, 11, 13.0)["open_changes"][0]
    assert night(engine, 12, 13.0)["verdict"] == "regression"
    assert "expected by alice (expected it)" in triage(fresh_db, first["change_id"], "expected", capsys)
    assert [night(engine, i, 13.0)["verdict"] for i in range(13, 16)] == ["pass"] * 3
    baseline = held_p50(engine, 16)
    assert baseline["n10"] is None and baseline["n11"] is not None  # restarted at the change, its nights in
    stored = series_changes_of(engine)[first["change_id"]]
    assert stored.status == "expected" and stored.triage is not None
    assert (stored.triage.decision, stored.triage.by, stored.triage.note) == ("expected", "alice", "expected it")


def test_dismiss_lets_the_nights_back_into_the_baseline(engine, fresh_db, capsys):
    clean_nights(engine)
    first = night(engine, 11, 13.0)["open_changes"][0]
    assert held_p50(engine, 12)["n11"] is None
    triage(fresh_db, first["change_id"], "dismiss", capsys)
    assert held_p50(engine, 12)["n11"] == pytest.approx(13.0 * WIGGLE[1])
    assert night(engine, 12, 10.0)["verdict"] == "pass"  # the false alarm is over: nothing open, nothing failing
    assert active_changes(engine, plan_hash=PLAN, env_hash=ENV) == []


def test_confirm_passes_at_its_level_and_fails_further_worsening(engine, fresh_db, capsys):
    clean_nights(engine)
    first = night(engine, 11, 13.0)["open_changes"][0]
    triage(fresh_db, first["change_id"], "confirm", capsys)
    at_level = night(engine, 12, 13.0)
    assert at_level["verdict"] == "pass"
    listed = at_level["open_changes"][0]
    assert listed["status"] == "confirmed" and not listed["failing"] and listed["triage"]["by"] == "alice"
    assert any("listed, not failing" in r for r in at_level["verdict_reasons"])
    worse = night(engine, 13, 13.0 * 1.3)
    assert worse["verdict"] == "regression" and worse["open_changes"][0]["failing"]


def test_a_change_that_comes_back_without_a_decision_is_recovered(engine):
    clean_nights(engine)
    assert night(engine, 11, 13.0)["verdict"] == "regression"
    back = night(engine, 12, 10.0)
    assert back["verdict"] == "pass" and back["open_changes"][0]["status"] == "recovered"
    assert active_changes(engine, plan_hash=PLAN, env_hash=ENV) == []
    assert held_p50(engine, 13)["n11"] is None  # never accepted: still no baseline


def test_triage_of_an_unknown_change_is_invalid_input(fresh_db, capsys):
    assert main(["triage", "cdeadbeef", "dismiss", "--database-url", fresh_db]) == 2
    assert "no change with this id" in capsys.readouterr().err


def series_changes_of(engine: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        return {c.change_id: c for c in series_changes(conn, plan_hash=PLAN, env_hash=ENV)}


def test_the_trend_review_shows_the_changes_and_their_decisions(engine, fresh_db, capsys, tmp_path):
    from loadwatch.report.render import render_markdown
    from loadwatch.report.review import review_data

    clean_nights(engine)
    first = night(engine, 11, 13.0)["open_changes"][0]
    data = review_data(engine, last=30)
    assert data["summary"]["verdict_reasons"][0].startswith("1 open change waiting for a decision")
    assert data["summary"]["verdict"] == "regression"
    assert first["change_id"] in data["summary"]["verdict_reasons"][0]
    triage(fresh_db, first["change_id"], "confirm", capsys)
    data = review_data(engine, last=30)
    [shown] = data["summary"]["open_changes"]
    assert shown["status"] == "confirmed" and shown["triage"]["by"] == "alice"
    assert "confirmed by alice" in render_markdown(data)


def test_by_defaults_to_the_os_user(engine, fresh_db, capsys):
    import getpass

    clean_nights(engine)
    first = night(engine, 11, 13.0)["open_changes"][0]
    assert main(["triage", first["change_id"], "dismiss", "--database-url", fresh_db]) == 0
    stored = series_changes_of(engine)[first["change_id"]]
    assert stored.triage is not None and stored.triage.by == getpass.getuser() and stored.triage.note is None
    assert f"dismissed by {getpass.getuser()}" in capsys.readouterr().out
