"""The search's decisions over a deterministic fake step function and a fake clock: no load, no time."""

from __future__ import annotations

import math

import pytest

from loadwatch.capacity.search import (
    DEFAULT_ERROR_SLO,
    MAX_STEPS,
    CapacitySearch,
    Step,
    effective_slos,
    evaluate_step,
    search,
)
from loadwatch.config import CapacitySpec
from loadwatch.errors import InvalidInput

SLO = "p99 < 50ms"


class FakeTarget:
    """SLO holds at rates <= capacity; above it p99 breaks (or errors, from `errors_from` up); the generator is
    bound from `bound_from` up. Each step advances the fake clock by its planned cost."""

    def __init__(self, capacity: float, *, errors_from: float = math.inf, bound_from: float = math.inf,
                 overhead: float = 1.0, flaky_at: set[float] | None = None, bound_but_offered: bool = False,
                 transients: dict[float, int] | None = None) -> None:
        self.capacity = capacity
        self.errors_from = errors_from
        self.bound_from = bound_from
        self.overhead = overhead
        self.flaky_at = flaky_at or set()
        self.bound_but_offered = bound_but_offered  # late sends only: every send still went out
        # rate -> how many of the next measurements at that rate a transient (a stall of the machine) slows
        self.transients = dict(transients or {})
        self.now = 0.0
        self.calls: list[tuple[float, str]] = []
        self.spec: CapacitySpec | None = None

    def clock(self) -> float:
        return self.now

    def step(self, rate: float, kind: str) -> Step:
        assert self.spec is not None
        self.calls.append((rate, kind))
        self.now += self.spec.settle + self.spec.measure_seconds(rate) + self.overhead
        errors = rate >= self.errors_from
        slow = rate > self.capacity or (kind == "confirm" and rate in self.flaky_at)
        if self.transients.get(rate, 0) > 0:
            self.transients[rate] -= 1
            slow = True
        bound = rate >= self.bound_from
        summary = {
            "achieved_rate": rate * (0.8 if bound and not self.bound_but_offered else 1.0),
            "requests": int(rate * 3),
            "errors": int(rate * 3) if errors else 0,
            "rps": rate,
            "dropped": 0,
            "generator_bound": rate >= self.bound_from,
            "generator": {"reasons": ["worker 0: CPU 97% of a core (≥ 90%)"] if rate >= self.bound_from else []},
            "latency_ms": {"p50": 2.0, "p95": 4.0, "p99": 80.0 if slow else 5.0},
            "scenarios": {"request": {"requests": int(rate * 3), "errors": 0,
                                      "latency_ms": {"p50": 2.0, "p95": 4.0, "p99": 5.0}}},
        }
        return evaluate_step(rate, kind, summary, effective_slos([SLO]))


def run(target: FakeTarget, **spec_kw: float) -> tuple:
    spec = CapacitySpec(slos=[SLO], **spec_kw)  # type: ignore[arg-type]
    target.spec = spec
    result = search(target.step, spec, clock=target.clock, slos=effective_slos([SLO]))
    return result, spec


@pytest.mark.parametrize("capacity", [37.0, 100.0, 813.0, 5000.0, 24_321.0])
def test_bracket_invariants(capacity):
    target = FakeTarget(capacity)
    result, spec = run(target, start_rate=25, max_rate=100_000, budget=300)
    assert result.outcome == "found"
    lo, hi = result.bracket
    assert result.capacity_rps == lo
    assert lo is not None and hi is not None
    assert lo <= capacity < hi  # the fake's truth lies inside the bracket
    assert hi / lo - 1 <= spec.resolution
    assert all(s.rate <= result.capacity_rps for s in result.steps if s.passed)
    assert all(s.rate >= hi for s in result.steps if not s.passed)
    assert result.steps[-1].kind == "confirm" and result.steps[-1].rate == lo and result.steps[-1].passed
    assert result.binding_slo == SLO
    assert result.elapsed_s <= spec.budget


def test_ramp_is_geometric_then_bisects():
    target = FakeTarget(300.0)
    result, _ = run(target, start_rate=25, growth=2, budget=300)
    ramp = [r for r, k in target.calls if k == "ramp"]
    assert ramp == [25, 50, 100, 200, 400, 400]  # the breach at 400 is measured twice
    bisect = [r for r, k in target.calls if k == "bisect"]
    assert bisect[0] == pytest.approx(math.sqrt(200 * 400), rel=1e-3)
    assert result.outcome == "found"


def test_max_rate_reached():
    target = FakeTarget(10_000.0)
    result, _ = run(target, start_rate=100, max_rate=700, budget=300)
    assert result.outcome == "max_rate"
    assert result.capacity_rps == 700
    assert result.bracket == [700, None]
    assert [k for _, k in target.calls][-1] == "confirm"


def test_generator_bound_stops_without_a_number():
    target = FakeTarget(10_000.0, bound_from=1600)
    result, _ = run(target, start_rate=100, budget=300)
    assert result.outcome == "generator_bound"
    assert result.capacity_rps is None
    assert result.reason.startswith(
        "generator-bound at 1600 req/s: the capacity is above what this generator can offer")
    assert target.calls[-2:] == [(1600, "ramp"), (1600, "ramp")]  # one retry


def test_a_generator_bound_step_that_holds_the_slo_is_a_pass():
    # late sends only add to latency measured from the intended send: meeting the SLO anyway is a valid pass; the
    # first generator-bound step that breaks it cannot be blamed on the target and ends the search
    target = FakeTarget(3000.0, bound_from=100, bound_but_offered=True)
    result, _ = run(target, start_rate=100, budget=300)
    assert [s.passed for s in result.steps] == [True] * 5 + [False, False]
    assert all(s.generator_bound for s in result.steps)
    assert result.outcome == "generator_bound" and result.capacity_rps is None
    assert result.reason.startswith("generator-bound at 3200 req/s")
    assert [(s.rate, s.retry) for s in result.steps[-2:]] == [(3200, False), (3200, True)]  # measured twice


def test_one_generator_stall_does_not_end_the_search():
    target = FakeTarget(1000.0)
    stalled = {"n": 0}
    real = target.step

    def step(rate: float, kind: str) -> Step:
        s = real(rate, kind)
        if rate == 200 and not stalled["n"]:  # one stall: late sends, p99 broken, service time fine
            stalled["n"] += 1
            s.passed, s.generator_bound, s.generator_blamed = False, True, True
        return s

    spec = CapacitySpec(slos=[SLO], start_rate=100, budget=300)
    target.spec = spec
    result = search(step, spec, clock=target.clock, slos=effective_slos([SLO]))
    assert result.outcome == "found"
    assert [(s.rate, s.passed, s.retry) for s in result.steps[1:3]] == [(200, False, False), (200, True, True)]


def test_errors_at_the_first_step_end_the_search():
    target = FakeTarget(0.0, errors_from=0.0)
    result, _ = run(target, start_rate=100, budget=300)
    assert result.outcome == "no_capacity"
    assert result.capacity_rps is None
    assert target.calls == [(100, "ramp"), (100, "ramp")]  # failing outright twice: no rate below is tried
    assert DEFAULT_ERROR_SLO in result.reason


def test_latency_breach_at_the_first_step_descends():
    target = FakeTarget(30.0)
    result, _ = run(target, start_rate=200, budget=600)
    assert target.calls[:5] == [(200, "ramp"), (200, "ramp"), (100, "descend"), (100, "descend"), (50, "descend")]
    assert result.outcome == "found"
    lo, hi = result.bracket
    assert lo is not None and hi is not None and lo <= 30.0 < hi


def test_errors_during_bisection_are_just_a_bad_step():
    target = FakeTarget(400.0, errors_from=1000.0)
    result, _ = run(target, start_rate=100, budget=300)
    assert result.outcome == "found"
    assert result.bracket[0] is not None and result.bracket[0] <= 400.0


def test_budget_is_never_exceeded():
    for budget in (10, 20, 35, 60, 90):
        target = FakeTarget(50_000.0)
        result, _ = run(target, start_rate=25, budget=budget)
        assert target.now <= budget, (budget, target.calls)
        assert result.outcome in ("budget", "found", "max_rate")
        if result.outcome == "found":  # a bracket found in time is still confirmed, wider than asked
            assert result.steps[-1].kind == "confirm"


def test_budget_ends_bisection_early_but_keeps_the_confirmation():
    target = FakeTarget(300.0, overhead=1.0)
    result, spec = run(target, start_rate=100, budget=30, step=3, settle=1)
    # ramp 100, 200, 400 costs 3 x 5 s; at most two bisection steps fit before the confirmation
    assert result.outcome == "found"
    assert result.steps[-1].kind == "confirm"
    assert target.now <= 30
    assert result.bracket_width is not None and result.bracket_width > spec.resolution
    assert "budget ended the bisection early" in result.reason


def test_failed_confirmation_moves_the_answer_down():
    target = FakeTarget(300.0)
    # the first confirmation (at the bisection's answer) breaks: the answer must move below it and be confirmed
    result, _ = run(target, start_rate=25, budget=600)
    first_answer = result.capacity_rps
    flaky = FakeTarget(300.0, flaky_at={first_answer})
    result2, _ = run(flaky, start_rate=25, budget=600)
    assert result2.outcome == "found"
    assert result2.capacity_rps is not None and result2.capacity_rps < first_answer
    assert result2.bracket[1] == first_answer
    kinds = [k for _, k in flaky.calls]
    assert kinds.count("confirm") == 3  # the answer broke twice (measured again), then the new answer held


def test_step_count_is_bounded():
    target = FakeTarget(1e12, overhead=0.0)
    result, _ = run(target, start_rate=1, max_rate=1_000_000, growth=1.1, budget=86_400)
    assert len(result.steps) <= MAX_STEPS


def test_slo_syntax_errors_are_invalid_input():
    with pytest.raises(InvalidInput):
        effective_slos(["p99 << 50ms"])
    with pytest.raises(InvalidInput):
        effective_slos(["p42ish < 3"])
    with pytest.raises(InvalidInput):
        effective_slos([])


def test_an_error_slo_replaces_the_default():
    assert effective_slos(["p99 < 50ms"]) == ["p99 < 50ms", DEFAULT_ERROR_SLO]
    assert effective_slos(["p99 < 50ms", "error_rate < 0.1%"]) == ["p99 < 50ms", "error_rate < 0.1%"]


def test_dropped_sends_fail_a_step_and_the_worst_breach_binds():
    summary = {"requests": 900, "errors": 0, "rps": 300, "dropped": 12, "generator_bound": False,
               "latency_ms": {"p50": 20.0, "p95": 90.0, "p99": 400.0}, "scenarios": {}}
    step = evaluate_step(300, "bisect", summary, ["p95 < 100ms", "p99 < 100ms", "error_rate < 1%"])
    assert not step.passed
    assert [b["slo"] for b in step.breaches] == ["p99 < 100ms", None]
    assert step.breaches[1]["kind"] == "dropped"
    assert not step.failed_on_errors


def _bound_summary(*, service_p99: float, lag_p99: float = 2.0, cpu: float = 40.0, offered: float = 300) -> dict:
    return {"requests": 900, "errors": 0, "rps": 300, "achieved_rate": offered, "dropped": 0, "generator_bound": True,
            "generator": {"cpu_percent": cpu, "loop_lag_ms": {"p99": lag_p99}, "reasons": ["worker 0: 60 late"]},
            "latency_ms": {"p50": 20.0, "p95": 90.0, "p99": 400.0},
            "service_time_ms": {"p50": 10.0, "p95": 40.0, "p99": service_p99}, "scenarios": {}}


def test_a_generator_bound_breach_is_the_targets_when_service_time_breaks_too():
    slos = ["p99 < 100ms", DEFAULT_ERROR_SLO]
    # late sends, but the target itself answered slowly (from the actual send): a normal failed step
    assert not evaluate_step(300, "ramp", _bound_summary(service_p99=350.0), slos).generator_blamed
    # only the late sends made the latency: the generator's doing, the search must stop
    assert evaluate_step(300, "ramp", _bound_summary(service_p99=30.0), slos).generator_blamed
    # a stalled or saturated generator reads responses late too, by up to its loop lag: only the service time
    # beyond that is the target's
    assert evaluate_step(300, "ramp", _bound_summary(service_p99=350.0, lag_p99=300.0), slos).generator_blamed
    assert not evaluate_step(300, "ramp", _bound_summary(service_p99=2000.0, lag_p99=60.0, cpu=97.0),
                             slos).generator_blamed
    # the target failed below the rate it was asked for: it fails at that rate too
    assert not evaluate_step(300, "ramp", _bound_summary(service_p99=2000.0, offered=200), slos).generator_blamed


# --- RECHECK: a breach counts only when seen twice (docs/METHOD.md §10) -------------------------------------------


def test_every_breach_is_measured_twice_and_that_is_the_whole_cost():
    target = FakeTarget(813.0)
    result, _ = run(target, start_rate=25, budget=300)
    assert result.outcome == "found"
    failing = {s.rate for s in result.steps if not s.passed}
    # each failing rate measured exactly twice, back to back, the second marked; no passing step measured again
    for rate in failing:
        at = [(i, s) for i, s in enumerate(result.steps) if s.rate == rate]
        assert [(s.passed, s.retry) for _, s in at] == [(False, False), (False, True)]
        assert at[1][0] == at[0][0] + 1
    assert sum(s.retry for s in result.steps) == len(failing)
    assert "broke at" in result.reason and "twice" in result.reason


@pytest.mark.parametrize("stall_at", [25.0, 50.0, 200.0])
def test_one_transient_in_the_ramp_does_not_decide(stall_at):
    # a stall at a rate far below the knee (the case that ended searches at 6-30 % of the truth on a loaded box)
    clean, _ = run(FakeTarget(813.0), start_rate=25, budget=300)
    target = FakeTarget(813.0, transients={stall_at: 1})
    result, _ = run(target, start_rate=25, budget=300)
    assert result.outcome == "found"
    assert result.capacity_rps == clean.capacity_rps
    first, again = [s for s in result.steps if s.rate == stall_at]
    assert (first.passed, again.passed, again.retry) == (False, True, True)


def test_one_transient_at_the_answer_does_not_decide():
    clean, _ = run(FakeTarget(300.0), start_rate=25, budget=600)
    answer = clean.capacity_rps
    assert answer is not None
    # the bisection step that found the answer is slowed once: without the rule it became the first bad rate
    target = FakeTarget(300.0, transients={answer: 1})
    result, _ = run(target, start_rate=25, budget=600)
    assert result.outcome == "found"
    assert result.capacity_rps == answer and result.bracket == clean.bracket
    assert [(s.kind, s.passed) for s in result.steps if s.rate == answer] == [
        ("bisect", False), ("bisect", True), ("confirm", True)]


def test_one_transient_at_the_confirmation_does_not_move_the_answer():
    clean, _ = run(FakeTarget(300.0), start_rate=25, budget=600)
    answer = clean.capacity_rps
    target = FakeTarget(300.0)
    real = target.step
    slowed = {"n": 0}

    def step(rate: float, kind: str) -> Step:
        if kind == "confirm" and not slowed["n"]:
            slowed["n"] += 1
            target.transients[rate] = 1
        return real(rate, kind)

    spec = CapacitySpec(slos=[SLO], start_rate=25, budget=600)
    target.spec = spec
    result = search(step, spec, clock=target.clock, slos=effective_slos([SLO]))
    assert result.outcome == "found" and result.capacity_rps == answer
    assert [(s.passed, s.retry) for s in result.steps if s.kind == "confirm"] == [(False, False), (True, True)]


def test_a_stall_longer_than_a_step_still_decides():
    # the rule's limit: a stall covering both measurements (back to back, after the cool-down) is taken for the
    # target's; the answer is then below the stalled rate, and the bracket says so
    target = FakeTarget(813.0, transients={200.0: 2})
    result, _ = run(target, start_rate=25, budget=300)
    assert result.outcome == "found"
    assert result.capacity_rps is not None and result.capacity_rps < 200.0
    assert result.bracket[1] == 200.0


def test_without_room_the_single_breach_decides_and_says_so():
    # a budget that fits the ramp and the confirmation but not a second look at the first breach
    target = FakeTarget(300.0, overhead=1.0)
    result, _ = run(target, start_rate=100, budget=21, step=3, settle=1)
    assert result.outcome == "found"
    assert target.now <= 21
    assert [(r, k) for r, k in target.calls] == [(100, "ramp"), (200, "ramp"), (400, "ramp"), (200, "confirm")]
    assert "400 req/s (+100.0 %), once: the budget left no room to measure it again" in result.reason


# --- the phases of CapacitySearch, one at a time -------------------------------------------------------------------


def _searcher(target: FakeTarget, **spec_kw: float) -> CapacitySearch:
    spec = CapacitySpec(slos=[SLO], **spec_kw)  # type: ignore[arg-type]
    target.spec = spec
    return CapacitySearch(target.step, spec, clock=target.clock, slos=effective_slos([SLO]))


def _bad(rate: float) -> Step:
    return Step(rate=rate, kind="ramp", breaches=[{"slo": SLO, "kind": "latency", "value": 80.0, "limit": 50.0}])


def test_ramp_phase_leaves_the_bracket_at_the_first_breach():
    target = FakeTarget(300.0)
    s = _searcher(target, start_rate=25, growth=2, budget=300)
    assert s.ramp() is None
    assert s.bracket() == [200, 400]
    assert target.calls == [(25, "ramp"), (50, "ramp"), (100, "ramp"), (200, "ramp"), (400, "ramp"), (400, "ramp")]
    assert s.first_bad is not None and s.first_bad.retry  # the second measurement set the bad end


def test_ramp_phase_stops_at_max_rate_without_a_bad_end():
    target = FakeTarget(10_000.0)
    s = _searcher(target, start_rate=100, growth=2, max_rate=300, budget=300)
    assert s.ramp() is None
    assert s.bracket() == [300, None]
    assert [r for r, _ in target.calls] == [100, 200, 300]


def test_ramp_phase_ends_the_search_when_two_steps_do_not_fit():
    target = FakeTarget(300.0)
    s = _searcher(target, start_rate=100, budget=5, step=3, settle=1)
    end = s.ramp()
    assert end is not None and end.outcome == "budget" and "cannot fit two steps" in end.reason
    assert target.calls == []


def test_descend_phase_divides_until_a_rate_holds():
    target = FakeTarget(30.0)
    s = _searcher(target, start_rate=200, growth=2, budget=600)
    assert s.ramp() is None and s.bracket() == [None, 200]
    assert s.descend() is None
    assert s.last_good == 25
    assert s.first_bad is not None and s.first_bad.rate == 50
    assert [k for _, k in target.calls[2:]] == ["descend"] * 5  # 100 and 50 broke (twice each), 25 held


def test_descend_phase_is_a_no_op_after_a_good_ramp():
    target = FakeTarget(300.0)
    s = _searcher(target, start_rate=25, budget=300)
    s.ramp()
    n = len(target.calls)
    assert s.descend() is None and len(target.calls) == n


def test_bisect_phase_narrows_the_bracket_to_the_resolution():
    target = FakeTarget(300.0)
    s = _searcher(target, budget=600)
    s.last_good, s.first_bad = 200.0, _bad(400.0)
    assert s.bisect() is None
    lo, hi = s.bracket()
    assert lo is not None and hi is not None
    assert lo <= 300.0 < hi and hi / lo - 1 <= s.spec.resolution
    assert {k for _, k in target.calls} == {"bisect"}
    assert target.calls[0][0] == pytest.approx(math.sqrt(200 * 400), rel=1e-3)


def test_bisect_phase_leaves_room_for_the_confirmation():
    target = FakeTarget(300.0, overhead=1.0)
    s = _searcher(target, budget=11, step=3, settle=1)  # a step is expected to take 1 + 3 + 2 s (initial overhead)
    s.last_good, s.first_bad = 200.0, _bad(400.0)
    assert s.bisect() is None
    assert target.calls == []  # a bisection step and the confirmation would not both fit after it
    assert s.remaining() >= s.cost(200.0)


def test_confirm_phase_answers_when_the_last_good_rate_holds_again():
    target = FakeTarget(300.0)
    s = _searcher(target, budget=300)
    s.last_good, s.first_bad = 290.0, _bad(300.5)
    end = s.confirm()
    assert end is not None and end.outcome == "found" and end.capacity_rps == 290.0
    assert target.calls == [(290.0, "confirm")]
    assert end.binding_slo == SLO


def test_confirm_phase_moves_the_answer_down_when_it_breaks_twice():
    target = FakeTarget(300.0, flaky_at={290.0})
    s = _searcher(target, budget=300)
    s.steps = [Step(rate=250.0, kind="bisect", passed=True), Step(rate=280.0, kind="bisect", passed=True)]
    s.last_good, s.first_bad = 290.0, _bad(300.5)
    assert s.confirm() is None  # bisect again, below the broken answer
    assert target.calls == [(290.0, "confirm"), (290.0, "confirm")]
    assert s.bracket() == [280.0, 290.0]
    assert s.first_bad is not None and s.first_bad.kind == "confirm" and s.first_bad.retry


def test_confirm_phase_without_a_passing_rate_below_finds_none():
    target = FakeTarget(300.0, flaky_at={290.0})
    s = _searcher(target, budget=300)
    s.last_good, s.first_bad = 290.0, _bad(300.5)
    end = s.confirm()
    assert end is not None and end.outcome == "no_capacity" and end.capacity_rps is None


def test_confirm_phase_needs_a_last_good_rate():
    s = _searcher(FakeTarget(300.0), budget=300)
    with pytest.raises(ValueError, match="needs a last good rate"):
        s.confirm()


def test_run_chains_the_phases_like_search():
    a, b = FakeTarget(813.0), FakeTarget(813.0)
    by_class = _searcher(a, start_rate=25, budget=300).run()
    by_function, _ = run(b, start_rate=25, budget=300)
    assert a.calls == b.calls
    assert by_class.to_dict() == by_function.to_dict()


def test_the_block_the_stage_hands_on_is_summary_json_s_capacity_block():
    """CapacityBlock (what crosses from the capacity stage to the run record) is the block a real night wrote, key for
    key, and a search's to_dict() validates as one."""
    import gzip
    import json
    from pathlib import Path

    from pydantic import TypeAdapter

    from loadwatch.load_shapes import CapacityBlock, StepRow

    real = json.loads(gzip.decompress((Path(__file__).parents[1] / "pipeline" / "summaries" / "capacity.json.gz")
                                      .read_bytes()))
    block = real["capacity"]
    assert set(block) == set(CapacityBlock.__annotations__)
    assert set(block["steps"][0]) == set(StepRow.__annotations__)
    adapter = TypeAdapter(CapacityBlock)
    adapter.validate_python(block)
    result, _ = run(FakeTarget(300.0), start_rate=25, budget=300)
    assert adapter.validate_python(result.to_dict())["capacity_rps"] == result.capacity_rps
