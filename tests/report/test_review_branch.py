"""The trend review by branch (`loadwatch report --branch`, as Apache Otava's): a branch's newest run is judged
against main's baseline, never against the branch's own earlier runs; main's review sees main's runs only."""

from __future__ import annotations

import json

import sqlalchemy as sa

from loadwatch.cli import main

from .test_import_and_review import write_seed_nights

MAIN_NIGHTS, BRANCH_NIGHTS = 15, 3
SLOWED = "Performance Stats"  # the slowest scenario: the whole run's p95 moves with it


def _store_branches(db: str, tmp_path) -> tuple[list[str], list[str]]:
    """15 nights of main, then 3 nights of a branch whose slowest scenario is 1.6 times slower; run ids oldest
    first."""
    files = write_seed_nights(tmp_path, nights=MAIN_NIGHTS + BRANCH_NIGHTS, step_night=MAIN_NIGHTS, step=1.6,
                              step_scenario=SLOWED)
    assert main(["import", *map(str, files), "--database-url", db]) == 0
    engine = sa.create_engine(db.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        ids = list(conn.execute(sa.text("SELECT run_id FROM runs ORDER BY started_at")).scalars())
        conn.execute(sa.text("UPDATE runs SET target_branch = 'main', target_version = '1.0' WHERE run_id = ANY(:ids)"),
                     {"ids": ids[:MAIN_NIGHTS]})
        conn.execute(sa.text("UPDATE runs SET target_branch = 'feature-slow', target_version = '1.1', "
                             "target_commit = 'c0ffee00c0ffee00' WHERE run_id = ANY(:ids)"), {"ids": ids[MAIN_NIGHTS:]})
    engine.dispose()
    return ids[:MAIN_NIGHTS], ids[MAIN_NIGHTS:]


def _review(db: str, out, *args: str) -> tuple[int, dict]:
    code = main(["report", "--last", "30", "--out", str(out), "--database-url", db, *args])
    return code, json.loads((out / "summary.json").read_text()) if code == 0 else {}


def test_a_branch_is_judged_against_mains_baseline(fresh_db, tmp_path, capsys):
    main_ids, branch_ids = _store_branches(fresh_db, tmp_path)
    code, summary = _review(fresh_db, tmp_path / "branch", "--branch", "feature-slow")
    assert code == 0
    assert summary["run_id"] == branch_ids[-1]
    # its baseline is main's nights only: the branch's two earlier (slow) nights are charted, never a baseline
    assert summary["baseline_run_ids"] and set(summary["baseline_run_ids"]) <= set(main_ids)
    assert summary["verdict"] == "regression"
    assert summary["verdict_reasons"][0] == f"branch feature-slow: its newest run compared with main's baseline of " \
                                            f"{MAIN_NIGHTS} runs"
    rows = [r for r in summary["comparison"] if r["scenario"] == "*" and r["metric"] == "p95_ms"]
    assert rows and rows[0]["outcome"] == "regression" and rows[0]["n_baseline"] == MAIN_NIGHTS
    assert rows[0]["change_percent"] > 40  # against main: the branch's own slow nights would have hidden it
    # the change point over the charted runs (main's, then the branch's) names the builds it happened between
    cps = [c for c in summary["change_points"] if c["scenario"] == "*" and c["metric"] == "p95_ms"]
    assert [c["run_id"] for c in cps] == [branch_ids[0]]
    assert (cps[0]["version_before"], cps[0]["version_after"]) == ("1.0", "1.1 (c0ffee00c0ff)")
    md = (tmp_path / "branch" / "report.md").read_text()
    assert "between 1.0 and 1.1 (c0ffee00c0ff)" in md


def test_mains_review_sees_mains_runs_only(fresh_db, tmp_path):
    main_ids, branch_ids = _store_branches(fresh_db, tmp_path)
    code, summary = _review(fresh_db, tmp_path / "main", "--branch", "main")
    assert code == 0
    assert summary["run_id"] == main_ids[-1]
    assert set(summary["baseline_run_ids"]) <= set(main_ids[:-1]) and summary["baseline_run_ids"]
    assert summary["verdict"] != "regression", summary["verdict_reasons"]
    # without --branch the newest run of any branch is reviewed, as before
    code, summary = _review(fresh_db, tmp_path / "any")
    assert code == 0 and summary["run_id"] == branch_ids[-1]


def test_an_unknown_branch_is_a_clear_error(fresh_db, tmp_path, capsys):
    _store_branches(fresh_db, tmp_path)
    code = main(["report", "--out", str(tmp_path / "r"), "--database-url", fresh_db, "--branch", "nope"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no completed runs of branch 'nope'" in err and "--branch" in err


def test_the_review_judges_with_the_reviewed_runs_own_min_history():
    """A run's plan block records its `verdict:` section; the review's gate reads `min_history` there, the method's
    default for a run stored before the section was recorded or with one this version cannot read."""
    from loadwatch.pipeline.compare import recorded_gate_config

    assert recorded_gate_config({"verdict": {"min_history": 6, "open_changes": "fail", "confirm": True}}) \
        .min_history == 6
    assert recorded_gate_config({"name": "p"}).min_history == 10
    assert recorded_gate_config({"verdict": {"min_history": 99}}).min_history == 10
