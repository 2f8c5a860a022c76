"""Stored summaries of any version read once through the run record's model (loadwatch.store.get_summary →
loadwatch.record.read_summary), against the real embedded store: an earlier version's lap keys, an imported run's
verdict, and a stored summary that does not validate (exit 3, naming the run and the field)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from loadwatch import store
from loadwatch.cli import main
from loadwatch.errors import InfrastructureError
from loadwatch.report.header import VERDICTS as BADGES
from loadwatch.vocabulary import VERDICT_EXIT, VERDICTS

SUMMARIES = Path(__file__).parents[1] / "pipeline" / "summaries"


def _seed_files(folder: Path, nights: int) -> list[Path]:
    from report.test_import_and_review import write_seed_nights

    return write_seed_nights(folder, nights=nights)


def test_an_earlier_versions_summary_reads_back_with_todays_lap_keys(engine):
    earlier = json.loads(gzip.decompress((SUMMARIES / "history.json.gz").read_bytes()))
    assert {"target", "baseline"} <= set(earlier["timings_s"])  # written before the laps took their stages' names
    store.save_run(engine, {"summary": earlier, "status": "completed", "trigger": earlier["trigger"]})
    read = store.get_summary(engine, earlier["run_id"])
    assert read is not None and read.run_id == earlier["run_id"]
    # (jsonb keeps keys in its own order)
    assert set(read.timings_s) == {"preflight", "open_target", "capture_before", "lock", "load", "compare", "store",
                                   "publish"}
    assert read.timings_s["open_target"] == earlier["timings_s"]["target"]
    assert read.timings_s["capture_before"] == earlier["timings_s"]["baseline"]
    assert store.get_summary(engine, "no-such-run") is None


def _imported(db: str, folder: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Two seed nights imported with `loadwatch import`; the newest one's run id (the command's last word)."""
    assert main(["import", *map(str, _seed_files(folder, nights=2)), "--database-url", db]) == 0
    return capsys.readouterr().out.split()[-1]


def test_an_imported_run_is_a_known_verdict(fresh_db, tmp_path, capsys):
    run_id = _imported(fresh_db, tmp_path, capsys)
    engine = store.connect(fresh_db)
    try:
        read = store.get_summary(engine, run_id)
    finally:
        engine.dispose()
    assert read is not None and read.verdict == "imported" and read.trigger == "import"
    assert read.exit_code == 0 and not read.failing  # history, never a judged night
    assert main(["explain", run_id, "--database-url", fresh_db]) == 0
    assert "stored without attribution" in capsys.readouterr().out


def test_every_verdict_has_a_badge_and_an_exit_code():
    assert "imported" in VERDICTS and VERDICT_EXIT["imported"] == 0
    assert set(BADGES) == set(VERDICTS)


def test_a_stored_summary_that_does_not_validate_exits_3_naming_the_run_and_the_field(fresh_db, tmp_path, capsys):
    run_id = _imported(fresh_db, tmp_path, capsys)
    engine = store.connect(fresh_db)
    try:
        with engine.begin() as conn:  # a verdict no version of loadwatch wrote
            conn.execute(sa.text("UPDATE runs SET summary = jsonb_set(summary, '{verdict}', '\"maybe\"') "
                                 "WHERE run_id = :r"), {"r": run_id})
        with pytest.raises(InfrastructureError, match=f"trend store: run {run_id}'s stored summary: verdict: "
                                                      "Input should be 'pass'"):
            store.get_summary(engine, run_id)
    finally:
        engine.dispose()
    assert main(["explain", run_id, "--database-url", fresh_db]) == 3
    err = capsys.readouterr().err
    assert f"run {run_id}'s stored summary: verdict:" in err and "'imported'" in err and "Traceback" not in err
