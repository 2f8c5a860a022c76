"""The end-to-end proof: twelve clean nights, then one endpoint of the demo target made twice as slow; the
thirteenth run's verdict is a regression for that scenario only, the flow ends Failed, the CLI exits 1, and the
report says so.

Twice, not +30 % as before: the gate no longer divides each scenario by the run's common mode (a slowdown of every
scenario must stay a regression of every scenario, issue 13), so a scenario is judged against its own night-to-
night spread, which on this test's shared core is about ±10 % for p50 (the row says so: effects below about 45 %
cannot be seen). A doubling is well beyond that band; +30 % is not, and claiming otherwise would be the lie."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import pytest
import yaml

from loadwatch.cli import main
from loadwatch.params import RunParams

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NIGHTS = 12
# Enough samples per night that a scenario's p50 varies by well under half its 5 % floor from night to night
# (the gate leaves noisier series out); ~240 search requests a night.
RATE = 150
NIGHT_S = 6
# search_by_name is the only scenario on the demo target's search route (list_tools shares its route with
# search_enabled and search_latest), and at 20 % of the mix it has plenty of samples per night.
SLOW_SCENARIO = "search_by_name"
SLOW_ENDPOINT = "search"
# The proof runs the default plan minus performance_stats. That endpoint reads Postgres's statistics views and
# relation sizes (file stat calls), so its latency follows the host's I/O rather than the service's code: in one
# CI run (2026-11-27) its p50 was +38.5 % on a clean night and the gate, rightly, called it a regression.
DROPPED_SCENARIO = "performance_stats"


def _plan_without_stats_scenario(folder: Path) -> str:
    from importlib import resources

    from loadwatch.config import DEFAULT_PLAN

    doc = yaml.safe_load(resources.files("loadwatch.plans").joinpath(DEFAULT_PLAN).read_text())
    doc["scenarios"] = [sc for sc in doc["scenarios"] if sc["name"] != DROPPED_SCENARIO]
    doc.pop("capacity", None)  # the proof is about the fixed-rate gate; the capacity stage would add ~40 s a night
    path = folder / "proof_plan.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def test_thirteenth_night_catches_an_endpoint_twice_as_slow(prefect_harness, fresh_db, tmp_path, monkeypatch):
    from loadwatch.demo import DemoTarget
    from loadwatch.flows.nightly import nightly

    monkeypatch.setenv("LOADWATCH_DATABASE_URL", fresh_db)
    plan = _plan_without_stats_scenario(tmp_path)
    demo = DemoTarget.start()  # one long-lived service, as a deployed target would be
    # Generator and target on different cores, as BENCHMARKING.md asks of any measurement on this machine
    # (the generator's processes inherit this process's affinity).
    own_cpus = os.sched_getaffinity(0)
    if len(own_cpus) >= 2:
        first, second = sorted(own_cpus)[:2]
        os.sched_setaffinity(demo.pid, {second})
        os.sched_setaffinity(0, {first})
    try:
        summaries = []
        for night in range(NIGHTS):
            out = tmp_path / f"night{night:02d}"
            # thresholds off: this test is about the statistical gate, not absolute limits
            params = RunParams(plan=plan, target_url=demo.url, duration=NIGHT_S, warmup=1, rate=RATE, out_dir=str(out),
                               trigger="ci", thresholds=[])
            state = nightly(**params.model_dump(), return_state=True)
            s = json.loads((out / "summary.json").read_text())
            assert s["load"]["errors"] == 0, s["load"]["errors_by_kind"]
            assert state.is_completed(), (night, s["verdict"], s["verdict_reasons"])
            summaries.append(s)
        assert len(summaries[-1]["baseline_run_ids"]) == NIGHTS - 1

        base_p50 = statistics.median(s["load"]["scenarios"][SLOW_SCENARIO]["latency_ms"]["p50"] for s in summaries)
        demo.set_faults({"endpoints": {SLOW_ENDPOINT: {"delay_ms": round(1.0 * base_p50, 3)}}})

        out = tmp_path / "night12"
        code = main(["run", "--plan", plan, "--target", demo.url, "--duration", str(NIGHT_S), "--warmup", "1",
                     "--rate", str(RATE), "--out", str(out), "--trigger", "ci", "--no-thresholds"])
    finally:
        os.sched_setaffinity(0, own_cpus)
        demo.stop()
    s13 = json.loads((out / "summary.json").read_text())
    assert code == 1, s13["verdict_reasons"]
    assert s13["verdict"] == "regression"
    regressed = {c["scenario"] for c in s13["comparison"] if c["outcome"] == "regression"}
    # the aggregate "*" contains the slowed scenario; no other scenario may be blamed
    assert regressed - {"*"} == {SLOW_SCENARIO}, s13["comparison"]
    latency = [c for c in s13["comparison"] if c["scenario"] == SLOW_SCENARIO and c["outcome"] == "regression"]
    assert any(c["change_percent"] > 50 for c in latency)
    md = (out / "report.md").read_text()
    assert SLOW_SCENARIO in md and "regression" in md.lower()
    assert SLOW_SCENARIO in (out / "report.html").read_text()
