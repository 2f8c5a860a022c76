"""The nightly A/B stage through the chain (plain runners, real loopback servers, a real Postgres): the plan's `ab:`
section compares two builds of a small service the same night; the slowed candidate fails the night with its A/B
row, stored as a same-night comparison; a build that cannot start makes the A/B part say so without failing.

The slowdown is ×2 (3 → 6 ms of service time), far beyond what a busy shared machine moves a median by, so the
test cannot pass or fail by chance (as tests/ab/test_ab_cli.py)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from plain_runner import plain_stages
from record_shape import differences, shape_of

from loadwatch.ab.builds import free_port
from loadwatch.cli import main
from loadwatch.infra.procs import stop_group, wait_healthy
from loadwatch.params import RunParams
from loadwatch.pipeline.chain import run_chain

SERVER = Path(__file__).parents[1] / "ab" / "ab_server.py"
GOLDEN = json.loads((Path(__file__).parent / "summary_shape.json").read_text())


def _cmd(delay_ms: float) -> str:
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(SERVER))} --port {{port}} --delay-ms {delay_ms:g}"


@pytest.fixture
def target(tmp_path: Path) -> Iterator[str]:
    """The night's own target: one more instance of the service (the fixed-rate load runs against it)."""
    port = free_port()
    log = tmp_path / "target.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(shlex.split(_cmd(3).replace("{port}", str(port))), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, url + "/health", timeout=30, what="the night's target", log_path=log)
        yield url
    finally:
        stop_group(proc, timeout=10.0)


def _plan(tmp_path: Path, target: str, baseline: str, candidate: str) -> Path:
    p = tmp_path / "plan.yaml"
    p.write_text(
        "name: ab_nightly\n"
        f"target: {{url: '{target}', health_path: /health, startup_timeout: 30}}\n"
        "load: {model: open, rate: 80, duration: 2, warmup: 0.5, timeout: {connect: 2, total: 5}}\n"
        "scenarios:\n"
        "  - {name: items, path: /items}\n"
        "ab:\n"
        f"  baseline: \"{baseline}\"\n"
        f"  candidate: \"{candidate}\"\n"
        "  percentiles: [p50]\n"
        "  alpha: 0.05\n"
        "  looks: 1\n"
        "  max_pairs: 6\n"
        "  round: 1.5\n"
        "  budget: 300\n"
    )
    return p


def _params(plan: Path, out: Path) -> RunParams:
    return RunParams(plan=str(plan), out_dir=str(out), trigger="cli", capacity=False)


def test_a_slowed_candidate_fails_the_night_with_its_ab_row(fresh_db, tmp_path, target):
    plan = _plan(tmp_path, target, _cmd(3), _cmd(6))
    night = run_chain(_params(plan, tmp_path / "out"), plain_stages(),
                      store_url=fresh_db)
    assert night.ab is not None and night.ab["status"] == "completed"
    assert night.ab["verdict"] == "regression" and night.ab["pairs"] == 6
    row = next(r for r in night.ab["rows"] if r["scenario"] == "*" and r["percentile"] == "p50")
    assert row["verdict"] == "regression" and row["same_night"] is True
    assert 50.0 < row["ci_low_percent"] <= row["change_percent"] <= row["ci_high_percent"] < 200.0
    # the first night has no history: only the A/B row can fail it
    assert night.verdict == "regression" and night.exit_code == 1
    assert night.verdict_reasons[0].startswith("same-night A/B regression, http://127.0.0.1:")
    assert "* p50 +" in night.verdict_reasons[0]
    assert "ab" in night.timings_s
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["ab"]["verdict"] == "regression"
    # this plan's target has no stats or version endpoint (the golden shape's runs all had the demo's): those blocks
    # are absent, everything else, the `ab` block with it, has the pinned shape
    plan_dependent = (".target_stats.", ".environment.target_version:")
    assert [d for d in differences(GOLDEN, shape_of(written)) if not d.startswith(plan_dependent)] == []
    with psycopg.connect(fresh_db) as conn:
        stored = conn.execute("SELECT scenario, percentile, verdict, same_night, candidate FROM ab_rows "
                              "WHERE run_id = %s ORDER BY percentile", (night.run_id,)).fetchall()
    assert ("*", "p50", "regression", True, night.ab["candidate"]) in stored
    md = (tmp_path / "out" / "report.md").read_text()
    assert "Same-night A/B" in md and "| whole run | p50 | regression |" in md
    # the trend review shows the stored night's same-night rows too
    assert main(["report", "--out", str(tmp_path / "review"), "--database-url", fresh_db]) == 0
    assert "| whole run | p50 | regression |" in (tmp_path / "review" / "report.md").read_text()


def test_a_build_that_cannot_start_says_so_and_fails_nothing(fresh_db, tmp_path, target):
    plan = _plan(tmp_path, target, _cmd(3), f"{shlex.quote(sys.executable)} -c 'raise SystemExit(3)' {{port}}")
    night = run_chain(_params(plan, tmp_path / "out"), plain_stages(),
                      store_url=fresh_db)
    assert night.ab is not None and night.ab["status"] == "failed" and night.ab["rows"] == []
    assert night.verdict != "regression"
    assert any(r.startswith("same-night A/B: no answer (") for r in night.verdict_reasons)
