"""Whose statement is it, from one night (loadwatch.pipeline.ownership; docs/METHOD.md §9): golden cases on nights
simulated request by request (tests/pipeline/night_sim.py), the load's windows aligned with the monitor's intervals
as the chain aligns them."""

from __future__ import annotations

import pytest
from night_sim import T0, Night, simulate

from loadwatch.pipeline.ownership import BACKGROUND, align_requests, night_owner, night_owners

WEIGHTS = {"list_tools": 0.35, "search_by_name": 0.25, "get_tool": 0.40}  # the demo plan's mix
RATE = 40


def _owner(night: Night, stmt: str) -> dict:
    requests = align_requests(night.ends, night.lengths, night.windows)
    return dict(night_owner(night.calls[stmt], requests, night.lengths))


def test_a_window_is_shared_among_the_intervals_it_overlaps_by_overlap():
    windows = [{"t": 10.0, "scenario": "a", "requests": 10}, {"t": 11.0, "scenario": "a", "requests": 4},
               {"t": 10.0, "scenario": "b", "requests": 2}]
    got = align_requests([10.25, 11.25, 12.25], [1.0, 1.0, 1.0], windows)
    assert got == {"a": [2.5, 7.5 + 1.0, 3.0], "b": [0.5, 1.5, 0.0]}
    # what falls outside every interval is left out
    assert align_requests([10.5], [0.25], windows) == {"a": [2.5], "b": [0.5]}



def test_a_request_is_never_counted_in_two_overlapping_intervals():
    """An interval's length is the monitor's monotonic clock and its end the wall clock: neighbours can overlap by a
    few ms (here 3 ms). Each counts from where the last ended, so the windows' requests are counted once."""
    windows = [{"t": 9.0, "scenario": "a", "requests": 100}, {"t": 10.0, "scenario": "a", "requests": 100}]
    got = align_requests([10.0, 10.997, 11.994], [1.0, 1.0, 1.0], windows)
    assert got == {"a": [100.0, 99.7, 0.3]}
    assert sum(got["a"]) == 200.0

def test_aligned_requests_add_up_to_the_windows_when_the_intervals_cover_the_load():
    night = simulate(seconds=20, rate=RATE, weights=WEIGHTS, per_request={})
    got = align_requests(night.ends, night.lengths, night.windows)
    for sc in WEIGHTS:
        total = sum(w["requests"] for w in night.windows if w["scenario"] == sc)
        assert abs(sum(got[sc]) - total) < 0.5, sc  # each interval rounded to 1/1000 of a request


@pytest.mark.parametrize("seconds", [15, 30, 60])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_statement_run_once_per_get_tool_request_is_get_tools(seconds, seed):
    night = simulate(seconds=seconds, rate=RATE, weights=WEIGHTS, seed=seed,
                     per_request={"lookup": {"get_tool": 1.0}})
    got = _owner(night, "lookup")
    assert got["owners"] == ["get_tool"], got
    assert got["coefficients"]["get_tool"] == pytest.approx(1.0, abs=0.1)
    assert got["reason"] == "runs with get_tool's requests second by second"


@pytest.mark.parametrize("seconds", [30, 60])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_statement_run_on_a_part_of_get_tools_requests_is_get_tools_over_half_a_minute(seconds, seed):
    # a cache's misses: its calls follow get_tool's requests with noise of their own (which of them miss), so it
    # takes more intervals than a statement every request runs
    night = simulate(seconds=seconds, rate=RATE, weights=WEIGHTS, seed=seed, per_request={"misses": {"get_tool": 0.6}})
    misses = _owner(night, "misses")
    assert misses["owners"] == ["get_tool"], misses
    assert misses["coefficients"]["get_tool"] == pytest.approx(0.6, abs=0.15)


@pytest.mark.parametrize("seconds", [15, 30, 60])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_statement_two_scenarios_run_is_shared_by_both(seconds, seed):
    night = simulate(seconds=seconds, rate=RATE, weights=WEIGHTS, seed=seed,
                     per_request={"page": {"list_tools": 1.0, "search_by_name": 1.0}})
    got = _owner(night, "page")
    assert sorted(got["owners"]) == ["list_tools", "search_by_name"], got
    assert "get_tool" not in got["coefficients"]


@pytest.mark.parametrize("seconds", [15, 30, 60])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_calls_that_follow_no_request_cannot_be_told(seconds, seed):
    night = simulate(seconds=seconds, rate=RATE, weights=WEIGHTS, seed=seed, per_request={},
                     background={"noise": 8.0})
    got = _owner(night, "noise")
    assert got["owners"] == [] and got["reason"], got
    assert BACKGROUND not in got["coefficients"]


def test_a_statement_every_scenario_runs_alike_is_shared_by_all_when_its_calls_stop_with_the_load():
    # under a constant arrival rate the scenarios' requests add up to the same number every second, so inside the
    # load "once per request of every scenario" and "40 calls a second of its own" fit alike; the intervals where
    # the load starts and ends tell them apart (its calls stop with the requests)
    night = simulate(seconds=30, rate=RATE, weights=WEIGHTS, per_request={"all": dict.fromkeys(WEIGHTS, 1.0)})
    assert sorted(_owner(night, "all")["owners"]) == sorted(WEIGHTS)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_statement_every_scenario_runs_alike_cannot_be_told_from_calls_of_its_own_inside_the_load(seed):
    # the same night without its first and last intervals: nothing tells the two readings apart; it says so
    night = simulate(seconds=30, rate=RATE, weights=WEIGHTS, seed=seed,
                     per_request={"all": dict.fromkeys(WEIGHTS, 1.0), "lookup": {"get_tool": 1.0}})
    requests = {k: v[1:-1] for k, v in align_requests(night.ends, night.lengths, night.windows).items()}
    got = night_owner(night.calls["all"][1:-1], requests, night.lengths[1:-1])
    assert got["owners"] == [] and "rate of their own" in got["reason"], got
    # while a statement of one scenario is still told inside the load
    assert night_owner(night.calls["lookup"][1:-1], requests, night.lengths[1:-1])["owners"] == ["get_tool"]


def test_too_few_intervals_or_calls_cannot_be_told_and_say_why():
    short = simulate(seconds=5, rate=RATE, weights=WEIGHTS, per_request={"lookup": {"get_tool": 1.0}})
    got = _owner(short, "lookup")
    assert got["owners"] == [] and "too few" in got["reason"], got
    rare = simulate(seconds=30, rate=RATE, weights=WEIGHTS, per_request={"rare": {"get_tool": 0.01}})
    got = _owner(rare, "rare")
    assert got["owners"] == [] and "too few" in got["reason"], got
    alone = night_owner([5, 6, 5] * 10, {"get_tool": [5.0, 6.0, 5.0] * 10}, [1.0] * 30)
    assert alone["owners"] == [] and "one scenario" in alone["reason"]


def test_night_owners_reads_the_runs_statement_intervals():
    night = simulate(seconds=30, rate=RATE, weights=WEIGHTS, per_request={"1": {"search_by_name": 1.0}})
    block = {"t": night.ends, "interval_s": night.lengths, "calls": night.calls,
             "requests": align_requests(night.ends, night.lengths, night.windows)}
    got = night_owners(block, ["1", "2"])  # "2" is not in the block: left out
    assert list(got) == ["1"] and got["1"]["owners"] == ["search_by_name"]
    assert night_owners({"t": night.ends, "interval_s": night.lengths, "calls": night.calls}, ["1"]) == {}
    assert night_owners(None, ["1"]) == {}
    assert T0 < night.ends[0] < T0 + 1.0


def test_intervals_out_of_step_with_the_loads_seconds_are_apportioned_and_still_tell_over_a_longer_night():
    # a monitor interval that does not end on the load's seconds (an interval other than 1 s): each window is shared
    # among two intervals by overlap, which blurs the requests a little; a nightly minute still tells
    night = simulate(seconds=60, rate=RATE, weights=WEIGHTS, offset=0.37,
                     per_request={"lookup": {"get_tool": 1.0}, "page": {"list_tools": 1.0, "search_by_name": 1.0},
                                  "misses": {"get_tool": 0.6}}, background={"noise": 8.0})
    assert _owner(night, "lookup")["owners"] == ["get_tool"]
    assert _owner(night, "misses")["owners"] == ["get_tool"]
    assert sorted(_owner(night, "page")["owners"]) == ["list_tools", "search_by_name"]
    assert _owner(night, "noise")["owners"] == []
