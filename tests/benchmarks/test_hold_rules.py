"""benchmarks/hold_rules.py's variants of the open-change hold do what their names say, and the shipped rule is
restored after them."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import hold_rules

import loadwatch.pipeline.open_changes as oc
from loadwatch.changes import OpenChange

KW = {"run_id": "r5", "started_at": "2026-12-05T02:00:00+00:00"}


def _open() -> OpenChange:
    return OpenChange(change_id="c1", scenario="s", metric="p95_ms", status="open", change_percent=40.0,
                      ci=(30.0, 50.0), first_run_id="r1", first_seen_at="2026-12-02T02:00:00+00:00", nights_open=2,
                      failing=True, level=14.0, baseline=10.0)


def _suspect(value: float, *, z: float, ci: bool) -> dict:
    return {"scenario": "s", "metric": "p95_ms", "outcome": "suspect", "value": value, "baseline": 10.0,
            "change_percent": 100 * (value / 10 - 1), "ci": [1.0, 30.0], "robust_z": z, "n_baseline": 20,
            "direction": 1, "checks": {"z": False, "floor": True, "ci": ci}}


def _status(variant: str, row: dict) -> str:
    hold_rules.use(variant)
    try:
        return oc.track([row], [], [_open()], **KW).changes[0].status
    finally:
        oc._follow = hold_rules.SHIPPED_FOLLOW


def test_each_variant_recovers_exactly_the_nights_it_names():
    size_only_near_base = _suspect(11.0, z=1.0, ci=False)  # floor alone; 11 is nearer 10 than 14
    size_only_near_level = _suspect(13.0, z=1.5, ci=False)  # floor alone; 13 is nearer the level 14
    own_interval_clear = _suspect(11.0, z=1.0, ci=True)  # the night's own interval says it is still slower
    high_z = _suspect(13.0, z=2.5, ci=True)
    rows = (size_only_near_base, size_only_near_level, own_interval_clear, high_z)
    assert [_status("any", r) for r in rows] == ["open", "open", "open", "open"]
    assert [_status("floor_only", r) for r in rows] == ["recovered", "recovered", "open", "open"]
    assert [_status("nearer", r) for r in rows] == ["recovered", "open", "open", "open"]
    assert [_status("z_hold", r) for r in rows] == ["recovered", "recovered", "recovered", "open"]
    assert oc._follow is hold_rules.SHIPPED_FOLLOW
