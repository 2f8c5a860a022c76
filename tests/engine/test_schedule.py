"""Pure schedules and the open-model pacer (late/dropped) driven by fake senders: no sockets."""

from __future__ import annotations

import asyncio
import itertools
import time
from time import perf_counter_ns

import pytest
import uvloop

from loadwatch.config import LoadSpec
from loadwatch.engine.pacer import SLOP_NS, OpenPacer, tick_for_rate
from loadwatch.engine.schedule import RateCurve, closed_users_at, intended_offsets, local_users, split_count


def test_constant_rate_is_evenly_spaced_and_bounded() -> None:
    times = list(intended_offsets(LoadSpec(rate=10, duration=2)))
    assert len(times) == 20
    assert times[:3] == pytest.approx([0.0, 0.1, 0.2])
    assert max(times) < 2.0


def test_shares_interleave_and_add_up() -> None:
    load = LoadSpec(rate=100, duration=3)
    whole = list(intended_offsets(load))
    parts = [list(intended_offsets(load, part=i, parts=3)) for i in range(3)]
    assert sorted(t for p in parts for t in p) == pytest.approx(whole)


def test_stages_ramp_linearly() -> None:
    load = LoadSpec(stages=[{"duration": 10, "target": 100}, {"duration": 10, "target": 100}])
    times = list(intended_offsets(load))
    assert len(times) == 1500  # 500 on the ramp (area of the triangle) + 1000 on the plateau
    first_half = [t for t in times if t < 5]
    assert len(first_half) == pytest.approx(125, abs=1)  # N(5) = 10 * 5² / 2
    curve = RateCurve.from_load(load)
    assert curve.rate_at(5) == pytest.approx(50)
    for n in (1, 100, 499.5, 1200):
        t = curve.time_of(n)
        assert t is not None and curve.arrivals_by(t) == pytest.approx(n)


def test_poisson_has_the_right_mean_and_is_seeded() -> None:
    load = LoadSpec(rate=1000, duration=20, arrival="poisson")
    a = list(intended_offsets(load, seed=1))
    b = list(intended_offsets(load, seed=1))
    c = list(intended_offsets(load, seed=2))
    assert a == b and a != c
    assert len(a) == pytest.approx(20000, rel=0.03)
    gaps = [y - x for x, y in itertools.pairwise(a)]
    cv = (sum((g - 0.001) ** 2 for g in gaps) / len(gaps)) ** 0.5 / 0.001
    assert cv == pytest.approx(1.0, abs=0.05)  # exponential gaps: coefficient of variation 1


def test_closed_users_ramp_and_split() -> None:
    load = LoadSpec(model="closed", users=10, ramp=5, duration=10)
    assert closed_users_at(load, 0) == 1
    assert closed_users_at(load, 2.5) == 6
    assert closed_users_at(load, 9) == 10
    staged = LoadSpec(model="closed", stages=[{"duration": 10, "target": 20}])
    assert closed_users_at(staged, 5) == 10
    assert sum(local_users(7, i, 3) for i in range(3)) == 7
    assert sum(split_count(1001, i, 4) for i in range(4)) == 1001


def _run_pacer(rate: float, duration: float, send_cost_s: float, hold_s: float, max_in_flight: int) -> OpenPacer:
    async def main() -> OpenPacer:
        in_flight = [0]
        loop = asyncio.get_running_loop()

        def release() -> None:
            in_flight[0] -= 1

        def send(_intended: int) -> None:
            if send_cost_s:
                time.sleep(send_cost_s)  # a deliberately slow generator
            in_flight[0] += 1
            loop.call_later(hold_s, release)

        offsets = intended_offsets(LoadSpec(rate=rate, duration=duration))
        pacer = OpenPacer(offsets, perf_counter_ns(), send, lambda: in_flight[0] >= max_in_flight)
        pacer.start()
        await asyncio.wait_for(pacer.done, duration + 10)
        return pacer

    return asyncio.run(main())


def test_pacer_on_time_sends_everything() -> None:
    p = _run_pacer(rate=200, duration=1.0, send_cost_s=0, hold_s=0.001, max_in_flight=100)
    assert p.sends == p.intended == 200
    assert p.dropped == 0


def test_pacer_counts_late_sends_of_a_slow_sender() -> None:
    # each send takes 4 ms but they are due every 1 ms: almost all fall behind, none is skipped
    p = _run_pacer(rate=1000, duration=0.3, send_cost_s=0.004, hold_s=0.0, max_in_flight=10_000)
    assert p.sends == p.intended == 300
    assert p.late >= 250
    assert p.dropped == 0


def test_pacer_counts_dropped_sends_at_the_in_flight_cap() -> None:
    # responses take 1 s, the cap is 5: the first 5 go out, the rest of the 0.5 s schedule is dropped
    p = _run_pacer(rate=100, duration=0.5, send_cost_s=0, hold_s=1.0, max_in_flight=5)
    assert p.intended == 50
    assert p.sends == 5
    assert p.dropped == 45


def test_a_starved_generator_is_late_against_its_schedule_also_for_what_it_drops() -> None:
    # each send costs the generator 4 ms while one is due every 1 ms, and the target holds every request: the first
    # 20 go out ever later, then the cap is full and the backlog the generator reaches late is dropped. Those drops
    # are the generator's lateness too (sched_late), not only the late sends that found a connection free (late)
    p = _run_pacer(rate=1000, duration=0.3, send_cost_s=0.004, hold_s=1.0, max_in_flight=20)
    assert p.sends == 20 and p.dropped == p.intended - 20
    assert p.late <= 20
    assert p.sched_late >= p.late + 40  # >= 60 sends fell due during the 80 ms of sending and were reached late
    assert p.sched_late_ns >= p.late_ns


@pytest.mark.parametrize("use_uvloop", [False, True])
def test_pacer_sends_at_most_one_tick_early_and_wakes_once_per_tick(use_uvloop: bool) -> None:
    tick = tick_for_rate(2000)
    assert tick == 2_000_000 and tick_for_rate(4000) == 1_000_000 and tick_for_rate(10_000, 2) == 2_000_000
    early: list[int] = []

    async def main() -> OpenPacer:
        def send(intended: int) -> None:
            early.append(intended - perf_counter_ns())

        offsets = intended_offsets(LoadSpec(rate=2000, duration=0.5))
        pacer = OpenPacer(
            offsets, perf_counter_ns(), send, lambda: False, tick_ns=tick, phase_ns=1_000_000 if use_uvloop else 0
        )
        pacer.start()
        await asyncio.wait_for(pacer.done, 10)
        return pacer

    p = uvloop.run(main()) if use_uvloop else asyncio.run(main())
    assert p.sends == p.intended == len(early) == 1000 and p.dropped == 0
    assert max(early) < tick + SLOP_NS  # never more than one tick (+ the timer slop) ahead of the intended time
    assert p.wakeups <= 0.5e9 / tick + 2  # one wake-up per tick at most: several sends each
