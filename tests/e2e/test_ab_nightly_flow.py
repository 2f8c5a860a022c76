"""The nightly A/B stage and the run's build through a real Prefect engine: the flow's `ab` task compares two real
builds of a small loopback service (the candidate answers every request with a 500: a regression two pairs tell) and
the flow run ends Failed with the A/B row; the flow's version/commit/branch parameters are recorded with the run.
The A/B statistics of a slowed candidate through the chain: tests/pipeline/test_ab_nightly.py."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadwatch.ab.builds import free_port
from loadwatch.infra.procs import stop_group, wait_healthy
from loadwatch.params import RunParams

pytestmark = pytest.mark.e2e
SERVER = Path(__file__).parents[1] / "ab" / "ab_server.py"


def _cmd(delay_ms: float) -> str:
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(SERVER))} --port {{port}} --delay-ms {delay_ms:g}"


@pytest.fixture
def target(tmp_path: Path) -> Iterator[str]:
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


def test_the_flow_fails_the_night_on_a_same_night_ab_regression(prefect_harness, fresh_db, tmp_path, monkeypatch,
                                                                target):
    from loadwatch.flows.nightly import nightly

    monkeypatch.setenv("LOADWATCH_DATABASE_URL", fresh_db)
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: ab_flow\n"
        f"target: {{url: '{target}', health_path: /health, startup_timeout: 30}}\n"
        "load: {model: open, rate: 80, duration: 2, warmup: 0.5, timeout: {connect: 2, total: 5}}\n"
        "scenarios:\n"
        "  - {name: items, path: /items}\n"
        "ab:\n"
        f"  baseline: \"{_cmd(3)}\"\n"
        f"  candidate: \"{_cmd(3)} --fail\"\n"
        "  percentiles: [p50]\n"
        "  alpha: 0.05\n"
        "  looks: 1\n"
        "  max_pairs: 2\n"
        "  round: 1.5\n"
        "  budget: 300\n"
    )
    out = tmp_path / "out"
    params = RunParams(plan=str(plan), out_dir=str(out), trigger="cli", capacity=False, version="2.0.0",
                       commit="0123456789abcdef", branch="release-2")
    state = nightly(**params.model_dump(), return_state=True)
    summary = json.loads((out / "summary.json").read_text())
    assert state.is_failed(), state.message
    assert summary["verdict"] == "regression" and summary["ab"]["verdict"] == "regression"
    assert summary["verdict_reasons"][0].startswith("same-night A/B regression")
    rows = {r["percentile"]: r for r in summary["ab"]["rows"] if r["scenario"] == "*"}
    assert rows["error_rate"]["verdict"] == "regression" and rows["error_rate"]["same_night"] is True
    assert "ab" in summary["timings_s"]
    assert summary["revision"] == {"version": "2.0.0", "commit": "0123456789abcdef", "branch": "release-2",
                                   "source": {"version": "cli", "commit": "cli", "branch": "cli"}}
