"""The synthetic suites' second loads (benchmarks/stats/synth.py confirmation_night, read by notify_false.py): what
each model keeps of the night and what it redraws."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

from stats.synth import NOTIFY, build_run, confirmation_night, resized, service_suite

P = resized(NOTIFY, services=1, service_nights=3)
SVC = service_suite(P)[0]
NIGHT = SVC.nights[1]


def test_night_persists_keeps_the_nights_factors_and_probe_and_redraws_the_requests():
    again = confirmation_night(P, SVC, NIGHT, (0, 1), transient=False)
    assert again.machine == NIGHT.machine
    assert again.scen_factor == NIGHT.scen_factor
    assert again.probe == NIGHT.probe
    assert set(again.seeds) == set(NIGHT.seeds)
    assert all(again.seeds[k] != NIGHT.seeds[k] for k in NIGHT.seeds)
    first, _ = build_run(SVC, NIGHT)
    second, _ = build_run(SVC, again)
    assert all(first[k]["p50_ms"] != second[k]["p50_ms"] for k in NIGHT.seeds)


def test_transient_redraws_the_factors_with_the_same_requests_as_night_persists():
    persists = confirmation_night(P, SVC, NIGHT, (0, 1), transient=False)
    transient = confirmation_night(P, SVC, NIGHT, (0, 1), transient=True)
    assert transient.seeds == persists.seeds  # paired: the models differ only in the factors
    assert transient.machine != NIGHT.machine
    assert all(transient.scen_factor[k] != NIGHT.scen_factor[k] for k in NIGHT.scen_factor)
    assert transient.probe == NIGHT.probe  # measured once a night, as the pipeline does


def test_second_loads_are_deterministic_in_the_suite_seed_and_key():
    a = confirmation_night(P, SVC, NIGHT, (0, 1), transient=True)
    assert confirmation_night(P, SVC, NIGHT, (0, 1), transient=True) == a
    other_key = confirmation_night(P, SVC, NIGHT, (0, 2), transient=True)
    other_seed = confirmation_night(resized(P, seed=P.seed + 1), SVC, NIGHT, (0, 1), transient=True)
    assert other_key.seeds != a.seeds and other_key.machine != a.machine
    assert other_seed.seeds != a.seeds and other_seed.machine != a.machine
    assert all(0 <= s < 2**63 for s in a.seeds.values())
