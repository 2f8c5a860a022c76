"""Capacity: the highest open-model arrival rate at which every SLO holds (issue 16; method: docs/METHOD.md §10).

    ramp     start_rate, x growth, ... until the first step that breaks an SLO (or max_rate)
    bisect   between the last good and the first bad rate (geometric mid-points) until they are within
             `resolution` of each other, or the budget would not leave room for the confirmation
    confirm  one more step at the last good rate; the capacity is that rate when it holds again

Each step is one `engine.run_load` at a constant rate: a settle period (excluded), then at least `step` seconds and
about `min_requests` requests measured, latency from the intended send time. A breach counts only when seen twice:
a failing step is measured once more at the same rate and the second measurement decides, so one transient (a GC
pause, a neighbour's burst) does not set the bracket; a pass counts at once (a transient only slows a step). The
whole search stays inside `budget` seconds: a step starts only if it (and the confirmation) is expected to fit, and
a watchdog stops a step that overruns (its numbers are then discarded). A generator-bound step that breaks an SLO
twice ends the search without a number unless the breach is plainly the target's (errors, drops, or the SLO broken
on service time by more than the generator's own event-loop lag); a generator-bound step that meets every SLO at
the offered rate is a valid, conservative pass. Errors above the SLO at the first rate, twice, end the search with
no number either.

This module is the decision logic alone (`CapacitySearch`, one method per phase), over any step function
(unit-tested with a fake one); loadwatch.capacity.stepper runs it against a real target. No Prefect here: the
nightly stage (pipeline/load.py) and `loadwatch capacity` (commands/capacity.py) are thin adapters."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from loadwatch.config import CapacitySpec
from loadwatch.errors import InvalidInput
from loadwatch.load_shapes import Breach, CapacityBlock, StepRow
from loadwatch.load_shapes import CapacityOutcome as Outcome
from loadwatch.stats.thresholds import evaluate_thresholds, parse_threshold

__all__ = [
    "DEFAULT_ERROR_SLO",
    "CapacityResult",
    "CapacitySearch",
    "Step",
    "effective_slos",
    "evaluate_step",
    "search",
    "skipped_capacity",
]

# A rate at which requests fail does not meet any SLO worth the name: without an error-rate SLO of its own the
# search holds every step to this one.
DEFAULT_ERROR_SLO = "error_rate < 1%"
# A generator-bound step still counts as a pass when every SLO held and the rate was offered: latency is measured
# from the intended send time, so the generator's own delays only add to it (the pass is conservative). A step that
# broke an SLO while generator-bound cannot be blamed on the target, and ends the search.
OFFERED_MIN_FRACTION = 0.95
MIN_RATE = 1.0  # req/s: the descent after a failing first step stops here
MAX_STEPS = 40  # every loop of the search is bounded in steps as well as in time
MAX_CONFIRMATIONS = 3
INITIAL_OVERHEAD_S = 2.0  # a step's cost beyond settle + measure (spawning generator processes, drain) until seen
OVERHEAD_MARGIN = 1.25  # ... then the worst seen, times this

ERROR_METRICS = ("error_rate", "errors")


@dataclass
class Step:
    """One constant-rate step. Rates in req/s, latencies in ms from the intended send, error_rate in percent,
    target_cpu in percent of one core (None when the target's processes are not known)."""

    rate: float
    kind: str  # ramp, descend, bisect, confirm
    achieved: float = 0.0  # completed requests per second
    offered: float = 0.0  # sends per second the generator attempted (the open model's actual arrival rate)
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    error_rate: float = 0.0
    target_cpu: float | None = None
    passed: bool = False
    breaches: list[Breach] = field(default_factory=list)  # worst first
    requests: int = 0
    dropped: int = 0
    generator_bound: bool = False
    generator_reasons: list[str] = field(default_factory=list)
    generator_blamed: bool = False  # generator-bound and the breach cannot be put on the target: ends the search
    retry: bool = False  # the second measurement at this rate, after a failing one: this one decides
    stopped: bool = False  # cut short by the watchdog or a stop request: not a measurement
    measured_s: float = 0.0
    wall_s: float = 0.0
    cooldown_s: float = 0.0  # waited after the step for the target to work off its backlog

    @property
    def failed_on_errors(self) -> bool:
        """The target failed outright: an error SLO broke (or nothing completed), not only a latency one."""
        return any(b["kind"] == "errors" for b in self.breaches)

    def to_dict(self) -> StepRow:
        return cast(StepRow, asdict(self))


@dataclass
class CapacityResult:
    capacity_rps: float | None
    bracket: list[float | None]  # [last good, first bad]
    binding_slo: str | None  # the SLO that broke first at the first bad rate
    outcome: Outcome
    reason: str
    steps: list[Step]
    slos: list[str]
    budget_s: float
    elapsed_s: float
    resolution: float

    @property
    def bracket_width(self) -> float | None:
        """first bad / last good - 1: how far above the capacity the SLO may still hold."""
        lo, hi = self.bracket
        return hi / lo - 1 if lo and hi else None

    def to_dict(self) -> CapacityBlock:
        width = self.bracket_width
        return {
            "capacity_rps": self.capacity_rps,
            "bracket": list(self.bracket),
            "bracket_width_percent": round(100 * width, 2) if width is not None else None,
            "binding_slo": self.binding_slo,
            "outcome": self.outcome,
            "reason": self.reason,
            "slos": list(self.slos),
            "budget_s": self.budget_s,
            "elapsed_s": round(self.elapsed_s, 2),
            "resolution": self.resolution,
            "steps": [s.to_dict() for s in self.steps],
        }


def effective_slos(slos: list[str]) -> list[str]:
    """The SLOs every step is held to: the given ones plus DEFAULT_ERROR_SLO unless an error-rate SLO on the whole
    run is among them. Raises InvalidInput (exit 2) on a malformed expression."""
    parsed = [parse_threshold(e, source="slo") for e in slos]
    if not parsed:
        raise InvalidInput("give at least one SLO, e.g. --slo 'p99 < 50ms'", source="command line", field="--slo")
    if any(t.metric == "error_rate" and t.scenario == "*" for t in parsed):
        return list(slos)
    return [*slos, DEFAULT_ERROR_SLO]


def _severity(value: float, limit: float, op: str) -> float:
    """How far past its limit a broken SLO is (a ratio; larger = worse), to name the binding one."""
    if op in ("<", "<="):
        return value / limit if limit > 0 else math.inf
    if op in (">", ">="):
        return limit / value if value > 0 else math.inf
    return 1.0


def evaluate_step(rate: float, kind: str, summary: Mapping[str, Any], slos: list[str]) -> Step:
    """A Step from a run_load summary, judged against `slos` (see effective_slos)."""
    lat = summary.get("latency_ms") or {}
    requests = int(summary.get("requests") or 0)
    step = Step(
        rate=rate,
        kind=kind,
        achieved=float(summary.get("rps") or 0.0),
        offered=float(summary.get("achieved_rate") or summary.get("rps") or 0.0),
        p50=lat.get("p50"),
        p95=lat.get("p95"),
        p99=lat.get("p99"),
        error_rate=round(100.0 * float(summary.get("errors") or 0) / requests, 4) if requests else 0.0,
        requests=requests,
        dropped=int(summary.get("dropped") or 0),
        generator_bound=bool(summary.get("generator_bound")),
        generator_reasons=list((summary.get("generator") or {}).get("reasons") or []),
        stopped=bool(summary.get("stopped")),
        measured_s=float(summary.get("measured_s") or 0.0),
    )
    breaches: list[tuple[float, Breach]] = []
    scenarios = summary.get("scenarios") or {}
    for expr in slos:
        t = parse_threshold(expr, source="slo")
        if t.scenario != "*" and t.scenario not in scenarios:
            continue  # that scenario drew no request in this step (a tiny weight at a low rate): nothing to judge
        r = evaluate_thresholds([expr], summary, source="slo")[0]
        if not r["passed"]:
            what = "errors" if t.metric in ERROR_METRICS else "latency" if r["unit"] == "ms" else "other"
            breaches.append((_severity(r["value"], r["limit"], r["op"]),
                             {"slo": expr, "kind": what, "value": round(r["value"], 4), "limit": r["limit"]}))
    breaches.sort(key=lambda b: -b[0])
    step.breaches = [b for _, b in breaches]
    if requests == 0:
        step.breaches.insert(0, {"slo": None, "kind": "errors", "value": 0, "limit": None,
                                 "note": "no request completed"})
    if step.dropped:
        # More than the in-flight cap waited on the target: by Little's law their latency is far past any
        # latency SLO, and they are in no histogram; the step cannot pass.
        step.breaches.append({"slo": None, "kind": "dropped", "value": step.dropped, "limit": 0,
                              "note": f"{step.dropped} sends dropped at the in-flight cap"})
    if step.generator_bound and step.offered < OFFERED_MIN_FRACTION * rate:
        step.breaches.append({"slo": None, "kind": "generator", "value": step.offered, "limit": rate,
                              "note": f"the generator offered {step.offered:.1f} of {rate:g} req/s"})
    step.passed = not step.breaches
    if step.generator_bound and not step.passed:
        step.generator_blamed = not _target_breach(step, summary)
    return step


def _target_breach(step: Step, summary: Mapping[str, Any]) -> bool:
    """Whether a generator-bound step's breach is the target's own: errors or drops, or a latency SLO that still
    breaks on service time (from the actual send, so without the generator's late sends) after taking off the
    generator's event-loop lag (p99 of its worst process: how late a stalled or saturated generator may have read a
    response). Otherwise the breach may be the generator's and cannot be judged."""
    if any(b["kind"] in ("errors", "dropped") for b in step.breaches):
        return True
    gen = summary.get("generator") or {}
    lag = float((gen.get("loop_lag_ms") or {}).get("p99") or 0.0)

    def service(block: Mapping[str, Any]) -> dict[str, Any]:
        svc = block.get("service_time_ms") or {}
        return {**block, "latency_ms": {k: max(float(v) - lag, 0.0) for k, v in svc.items()}}

    if not summary.get("service_time_ms"):
        return False
    svc = {**service(summary), "scenarios": {k: service(v) for k, v in (summary.get("scenarios") or {}).items()}}
    latency = [slo for b in step.breaches if b["kind"] == "latency" and (slo := b["slo"]) is not None
               and not parse_threshold(slo).metric.startswith("service_")]
    try:
        return any(not r["passed"] for r in evaluate_thresholds(latency, svc, source="slo"))
    except InvalidInput:  # no service time for a scenario: nothing proves the target slow
        return False


def _binding(step: Step | None) -> str | None:
    """The SLO that broke worst at `step` (breaches are sorted worst first)."""
    if step is None:
        return None
    return next((str(b["slo"]) for b in step.breaches if b["slo"] is not None), None)


def _fmt(rate: float) -> str:
    return f"{rate:.4g}" if rate < 1000 else f"{rate:.0f}"


class CapacitySearch:
    """The search over `step_fn(rate, kind) -> Step`, phase by phase: `ramp`, `descend` (only when the first step
    broke an SLO), then `bisect` and `confirm` (repeated while a confirmation breaks, at most MAX_CONFIRMATIONS
    times). Each phase returns the result when the search ends in it, else None and the next phase goes on from the
    bracket it left (`last_good`, `first_bad`). `run()` chains them; the budget counts from construction.

    `halted()` returns "budget", "interrupted" or "failed" once the search must stop (a step cut short then is
    discarded); `on_step(step, bracket)` is called after every kept step.

    A breach counts only when seen twice: every failing step is measured once more at the same rate, and the second
    measurement decides (RECHECK; docs/METHOD.md §10). A pass counts at once: a transient can only slow a step."""

    def __init__(
        self,
        step_fn: Callable[[float, str], Step],
        spec: CapacitySpec,
        *,
        clock: Callable[[], float] = time.monotonic,
        halted: Callable[[], str | None] = lambda: None,
        on_step: Callable[[Step, list[float | None]], None] | None = None,
        slos: list[str] | None = None,
    ) -> None:
        self.step_fn = step_fn
        self.spec = spec
        self.clock = clock
        self.halted = halted
        self.on_step = on_step
        self.slos = list(slos or spec.slos)
        self.t0 = clock()
        self.steps: list[Step] = []
        self.overheads: list[float] = []
        self.last_good: float | None = None
        self.first_bad: Step | None = None
        self.unrechecked: set[float] = set()  # failing rates the budget left no room to measure again

    # --- the search, phase by phase ----------------------------------------------------------------------------

    def run(self) -> CapacityResult:
        end = self.ramp()
        if end is None:
            end = self.descend()
        for _ in range(MAX_CONFIRMATIONS):
            if end is not None:
                return end
            end = self.bisect()
            if end is None:
                end = self.confirm()
        return end or self.done("budget", f"the answer did not hold on {MAX_CONFIRMATIONS} confirmation steps: "
                                          "the target's capacity is not steady enough to measure")

    def ramp(self) -> CapacityResult | None:
        """Geometric steps from the start rate up to the first breach (then `first_bad` is set) or max_rate."""
        spec = self.spec
        rate = min(spec.start_rate, spec.max_rate)
        while self.first_bad is None:
            if self.remaining() < self.cost(rate) * 2:  # this step and at least the confirmation
                if self.last_good is None:
                    return self.done("budget", f"the {spec.budget:g} s budget cannot fit two steps")
                return self.done("budget", f"the {spec.budget:g} s budget ran out at {_fmt(self.last_good)} req/s "
                                           "before any SLO broke: the capacity is above that; raise the budget or "
                                           "the start rate")
            if (end := self.advance(rate, "ramp")) is not None:
                return end
            if self.first_bad is None:
                if rate >= spec.max_rate:
                    break
                rate = min(rate * spec.growth, spec.max_rate)
        return None

    def descend(self) -> CapacityResult | None:
        """When the first step broke an SLO: divide the rate by the growth until one holds (`last_good` is set);
        none is looked for when the target failed outright (errors) or below MIN_RATE."""
        while self.last_good is None and self.first_bad is not None:
            first_bad = self.first_bad
            if first_bad.failed_on_errors:
                return self.no_capacity(first_bad)
            rate = first_bad.rate / self.spec.growth
            if rate < MIN_RATE:
                return self.no_capacity(first_bad)
            if self.remaining() < self.cost(rate) * 2:
                return self.done("budget", f"the {self.spec.budget:g} s budget ran out looking below "
                                           f"{_fmt(first_bad.rate)} req/s")
            if (end := self.advance(rate, "descend")) is not None:
                return end
        return None

    def bisect(self) -> CapacityResult | None:
        """Geometric mid-points between last good and first bad (the error is a ratio) until they are within the
        resolution, or the budget would leave no room for the confirmation."""
        while (self.first_bad is not None and self.last_good is not None
               and self.first_bad.rate / self.last_good - 1 > self.spec.resolution):
            mid = round(math.sqrt(self.last_good * self.first_bad.rate), 2)
            if self.remaining() < self.cost(mid) + self.cost(self.last_good):  # leave room for the confirmation
                break
            if (end := self.advance(mid, "bisect")) is not None:
                return end
        return None

    def confirm(self) -> CapacityResult | None:
        """One more step at the last good rate: the answer when it holds. When it breaks (twice: a failing
        confirmation is measured again too) it becomes the new first bad, the last good moves to the highest
        passing rate below it, and None says to bisect again."""
        last_good = self.last_good
        if last_good is None:
            raise ValueError("confirm() needs a last good rate: run ramp() (and descend()) first")
        if self.remaining() < self.cost(last_good):
            return self.done("budget", f"the {self.spec.budget:g} s budget ran out before the confirmation step at "
                                       f"{_fmt(last_good)} req/s")
        step = self.measure(last_good, "confirm")
        if isinstance(step, CapacityResult):
            return step
        if step.passed:
            return self.found(last_good)
        self.first_bad = step
        below = [s.rate for s in self.steps if s.passed and s.rate < step.rate]
        if not below:
            return self.no_capacity(step)
        self.last_good = max(below)
        return None

    # --- steps -------------------------------------------------------------------------------------------------

    def cost(self, rate: float) -> float:
        """What a step at `rate` takes, from the worst overhead seen so far with a margin (on a busy machine the
        overhead, mostly starting the generator processes, varies by a second or more); a step that does not fit
        is not started."""
        overhead = OVERHEAD_MARGIN * max(self.overheads) if self.overheads else INITIAL_OVERHEAD_S
        return self.spec.settle + self.spec.measure_seconds(rate) + overhead

    def remaining(self) -> float:
        return self.spec.budget - (self.clock() - self.t0)

    def bracket(self) -> list[float | None]:
        return [self.last_good, self.first_bad.rate if self.first_bad else None]

    def run_once(self, rate: float, kind: str) -> Step | None:
        """One step, kept; None when it cannot run (halted, out of steps) or was cut short."""
        if self.halted() or len(self.steps) >= MAX_STEPS:
            return None
        start = self.clock()
        step = self.step_fn(rate, kind)
        step.wall_s = round(self.clock() - start, 3)
        spec = self.spec
        self.overheads.append(max(step.wall_s - spec.settle - spec.measure_seconds(rate) - step.cooldown_s, 0.0))
        if step.stopped or self.halted():
            return None
        self.steps.append(step)
        if self.on_step is not None:
            self.on_step(step, self.bracket())
        return step

    def recheck(self, rate: float, kind: str) -> Step | None:
        """One verdict at `rate`, or None when a step cannot run or was cut short (the caller reads `halted()`).
        A failing step is measured once more and the second measurement decides: on a shared machine a stall of a
        few hundred milliseconds (a GC pause, a neighbour's burst) is common, and one should not set the bracket.
        The re-measurement is skipped only when it would leave no room for the confirmation."""
        step = self.run_once(rate, kind)
        if step is None or step.passed:
            return step
        reserve = self.cost(self.last_good) if self.last_good is not None and kind != "confirm" else 0.0
        if self.remaining() < self.cost(rate) + reserve:
            self.unrechecked.add(rate)
            return step
        again = self.run_once(rate, kind)
        if again is not None:
            again.retry = True
        return again

    def measure(self, rate: float, kind: str) -> Step | CapacityResult:
        """recheck(), with the two ends every phase shares: cut short, or a breach the generator may have caused."""
        step = self.recheck(rate, kind)
        if step is None:
            return self.cut_short(rate)
        if step.generator_blamed:
            return self.generator_bound(step)
        return step

    def advance(self, rate: float, kind: str) -> CapacityResult | None:
        """A ramp, descent or bisection step: moves the bracket's good or bad end; a result when the search ends."""
        step = self.measure(rate, kind)
        if isinstance(step, CapacityResult):
            return step
        if step.passed:
            self.last_good = rate
        else:
            self.first_bad = step
        return None

    # --- ends --------------------------------------------------------------------------------------------------

    def done(self, outcome: Outcome, reason: str, capacity: float | None = None) -> CapacityResult:
        return CapacityResult(
            capacity_rps=capacity,
            bracket=self.bracket(),
            binding_slo=_binding(self.first_bad),
            outcome=outcome,
            reason=reason,
            steps=self.steps,
            slos=list(self.slos),
            budget_s=self.spec.budget,
            elapsed_s=self.clock() - self.t0,
            resolution=self.spec.resolution,
        )

    def cut_short(self, at: float) -> CapacityResult:
        if self.halted() == "interrupted":
            return self.done("interrupted", f"stopped on request during the step at {_fmt(at)} req/s")
        if len(self.steps) >= MAX_STEPS:
            return self.done("budget", f"the search used its {MAX_STEPS} steps")
        return self.done("budget", f"the {self.spec.budget:g} s budget ran out during the step at {_fmt(at)} req/s")

    def generator_bound(self, step: Step) -> CapacityResult:
        why = "; ".join(step.generator_reasons[:2])
        return self.done("generator_bound", f"generator-bound at {_fmt(step.rate)} req/s: the capacity is above "
                                            f"what this generator can offer" + (f" ({why})" if why else ""))

    def no_capacity(self, step: Step) -> CapacityResult:
        b = step.breaches[0]
        what = b.get("note") or f"{b['slo']} broken ({b['value']:g})"
        return self.done("no_capacity", f"no rate meets the SLO: at {_fmt(step.rate)} req/s {what}")

    def found(self, last_good: float) -> CapacityResult:
        """The confirmed answer: the first bad rate's binding SLO, the bracket, and how the breach was seen."""
        first_bad = self.first_bad
        if first_bad is None:
            return self.done("max_rate", f"every SLO held up to the maximum rate, {_fmt(last_good)} req/s: the "
                                         "capacity is at least that", last_good)
        width = first_bad.rate / last_good - 1
        binding = _binding(first_bad) or str(first_bad.breaches[0].get("note") if first_bad.breaches else "an SLO")
        note = "" if width <= self.spec.resolution + 1e-9 else " (the budget ended the bisection early)"
        once = first_bad.rate in self.unrechecked
        seen = "once: the budget left no room to measure it again" if once else "twice"
        return self.done("found", f"capacity {_fmt(last_good)} req/s: every SLO held there twice; {binding} broke at "
                                  f"{_fmt(first_bad.rate)} req/s (+{100 * width:.1f} %), {seen}{note}", last_good)


def search(
    step_fn: Callable[[float, str], Step],
    spec: CapacitySpec,
    *,
    clock: Callable[[], float] = time.monotonic,
    halted: Callable[[], str | None] = lambda: None,
    on_step: Callable[[Step, list[float | None]], None] | None = None,
    slos: list[str] | None = None,
) -> CapacityResult:
    """The whole search (CapacitySearch.run) over `step_fn(rate, kind) -> Step`."""
    return CapacitySearch(step_fn, spec, clock=clock, halted=halted, on_step=on_step, slos=slos).run()


def skipped_capacity(spec: CapacitySpec, reason: str) -> CapacityResult:
    """The stage's answer when it did not load at all: no number, no steps, and why."""
    return CapacityResult(capacity_rps=None, bracket=[None, None], binding_slo=None, outcome="skipped", reason=reason,
                          steps=[], slos=effective_slos(list(spec.slos)), budget_s=spec.budget, elapsed_s=0.0,
                          resolution=spec.resolution)
