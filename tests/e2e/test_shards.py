"""Scale-out through Prefect on a local Dask cluster: two shards, each with its own generator processes,
started at one barrier, merged exactly."""

from __future__ import annotations

import json

import pytest

from loadwatch.params import RunParams

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_two_shards_on_a_local_dask_cluster(prefect_harness, fresh_db, tmp_path, monkeypatch):
    from loadwatch.flows.nightly import nightly

    monkeypatch.setenv("LOADWATCH_DATABASE_URL", fresh_db)
    out = tmp_path / "sharded"
    params = RunParams(duration=4, warmup=1, rate=60, workers=1, shards=2, out_dir=str(out), capacity=False)
    state = nightly(**params.model_dump(), return_state=True)
    summary = json.loads((out / "summary.json").read_text())
    # this test is about the sharding mechanics, not the host's latency: on a loaded 2-core CI box two Dask
    # workers, their generators, the target and Postgres share the cores, and the demo plan's `p95 < 50ms` may
    # be breached (CI saw 847 ms once). Any other outcome (a crash, inconclusive, an error) still fails.
    assert state.is_completed() or summary["verdict"] == "threshold_breach", state.message
    load = summary["load"]
    shards = load["shards"]
    assert len(shards) == 2 and {s["index"] for s in shards} == {0, 1}
    assert sum(s["requests"] for s in shards) == load["requests"] > 100
    assert sum(w["requests"] for w in load["workers"]) == load["requests"]
    for s in shards:
        assert s["host"] and abs(s["start_skew_s"]) < 5
        assert s["requests"] == pytest.approx(load["requests"] / 2, rel=0.2)
    assert set(load["scenarios"]) >= {"list_tools", "get_tool"}
