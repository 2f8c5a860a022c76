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

`search` is the decision logic alone, over any step function (unit-tested with a fake one); `find_capacity` runs
it against a real target. No Prefect here: the nightly stage (tasks/stages.py) and `loadwatch capacity`
(commands/capacity.py) are thin adapters."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from loadwatch.config import CapacitySpec, Plan
from loadwatch.errors import InvalidInput, LoadwatchError
from loadwatch.stats.thresholds import evaluate_thresholds, parse_threshold

__all__ = [
    "DEFAULT_ERROR_SLO",
    "CapacityResult",
    "Step",
    "effective_slos",
    "evaluate_step",
    "find_capacity",
    "process_cpu_probe",
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
WATCHDOG_MARGIN_S = 1.0  # a step still running this long before the budget ends is stopped (its stop takes ~1 s)
# After a failing step the target may still be working off requests the generator gave up on (a server keeps
# serving what it has read); the next step waits about as long as the slowest request took, at most this long,
# so one overloaded step does not make the next one fail.
COOLDOWN_MAX_S = 5.0
STEP_TIMEOUT_MIN_S = 2.0  # per-request timeout of a step: at least this, ...
STEP_TIMEOUT_SLO_FACTOR = 20.0  # ... or this many times the largest latency limit, at most the plan's timeout

# skipped: the stage did not load at all (its reason says why: the target's lock was lost with the trend store)
Outcome = Literal[
    "found", "max_rate", "generator_bound", "no_capacity", "budget", "interrupted", "failed", "skipped",
]
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
    breaches: list[dict[str, Any]] = field(default_factory=list)  # {slo, value, limit}, worst first
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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

    def to_dict(self) -> dict[str, Any]:
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
    breaches: list[tuple[float, dict[str, Any]]] = []
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
    latency = [b["slo"] for b in step.breaches if b["kind"] == "latency" and not
               parse_threshold(b["slo"]).metric.startswith("service_")]
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


def search(
    step_fn: Callable[[float, str], Step],
    spec: CapacitySpec,
    *,
    clock: Callable[[], float] = time.monotonic,
    halted: Callable[[], str | None] = lambda: None,
    on_step: Callable[[Step, list[float | None]], None] | None = None,
    slos: list[str] | None = None,
) -> CapacityResult:
    """The search over `step_fn(rate, kind) -> Step`. `halted()` returns "budget" or "interrupted" once the
    search must stop (a step cut short then is discarded); `on_step(step, bracket)` after every kept step.

    A breach counts only when seen twice: every failing step is measured once more at the same rate, and the second
    measurement decides (RECHECK; docs/METHOD.md §10). A pass counts at once: a transient can only slow a step."""
    t0 = clock()
    steps: list[Step] = []
    overheads: list[float] = []
    last_good: float | None = None
    first_bad: Step | None = None
    unrechecked: set[float] = set()  # failing rates the budget left no room to measure again

    def cost(rate: float) -> float:
        # what a step at `rate` takes, from the worst overhead seen so far with a margin (on a busy machine the
        # overhead, mostly starting the generator processes, varies by a second or more); a step that does not fit
        # is not started
        overhead = OVERHEAD_MARGIN * max(overheads) if overheads else INITIAL_OVERHEAD_S
        return spec.settle + spec.measure_seconds(rate) + overhead

    def remaining() -> float:
        return spec.budget - (clock() - t0)

    def bracket() -> list[float | None]:
        return [last_good, first_bad.rate if first_bad else None]

    def done(outcome: Outcome, reason: str, capacity: float | None = None) -> CapacityResult:
        return CapacityResult(
            capacity_rps=capacity,
            bracket=bracket(),
            binding_slo=_binding(first_bad),
            outcome=outcome,
            reason=reason,
            steps=steps,
            slos=list(slos or spec.slos),
            budget_s=spec.budget,
            elapsed_s=clock() - t0,
            resolution=spec.resolution,
        )

    def run_once(rate: float, kind: str) -> Step | None:
        if halted() or len(steps) >= MAX_STEPS:
            return None
        start = clock()
        step = step_fn(rate, kind)
        step.wall_s = round(clock() - start, 3)
        overheads.append(max(step.wall_s - spec.settle - spec.measure_seconds(rate) - step.cooldown_s, 0.0))
        if step.stopped or halted():
            return None
        steps.append(step)
        if on_step is not None:
            on_step(step, bracket())
        return step

    def run(rate: float, kind: str) -> Step | None:
        """One verdict at `rate`, or None when a step cannot run or was cut short (the caller reads `halted()`).
        A failing step is measured once more and the second measurement decides: on a shared machine a stall of a
        few hundred milliseconds (a GC pause, a neighbour's burst) is common, and one should not set the bracket.
        The re-measurement is skipped only when it would leave no room for the confirmation."""
        step = run_once(rate, kind)
        if step is None or step.passed:
            return step
        reserve = cost(last_good) if last_good is not None and kind != "confirm" else 0.0
        if remaining() < cost(rate) + reserve:
            unrechecked.add(rate)
            return step
        again = run_once(rate, kind)
        if again is not None:
            again.retry = True
        return again

    def measure(rate: float, kind: str) -> Step | CapacityResult:
        """run(), with the two ends every phase shares: cut short, or a breach the generator may have caused."""
        step = run(rate, kind)
        if step is None:
            return cut_short(rate)
        if step.generator_blamed:
            return generator_bound(step)
        return step

    def advance(rate: float, kind: str) -> CapacityResult | None:
        """A ramp, descent or bisection step: moves the bracket's good or bad end; a result when the search ends."""
        nonlocal last_good, first_bad
        step = measure(rate, kind)
        if isinstance(step, CapacityResult):
            return step
        if step.passed:
            last_good = rate
        else:
            first_bad = step
        return None

    def cut_short(at: float) -> CapacityResult:
        why = halted()
        if why == "interrupted":
            return done("interrupted", f"stopped on request during the step at {_fmt(at)} req/s")
        if len(steps) >= MAX_STEPS:
            return done("budget", f"the search used its {MAX_STEPS} steps")
        return done("budget", f"the {spec.budget:g} s budget ran out during the step at {_fmt(at)} req/s")

    def generator_bound(step: Step) -> CapacityResult:
        why = "; ".join(step.generator_reasons[:2])
        return done("generator_bound", f"generator-bound at {_fmt(step.rate)} req/s: the capacity is above what "
                                       f"this generator can offer" + (f" ({why})" if why else ""))

    def no_capacity(step: Step) -> CapacityResult:
        b = step.breaches[0]
        what = b.get("note") or f"{b['slo']} broken ({b['value']:g})"
        return done("no_capacity", f"no rate meets the SLO: at {_fmt(step.rate)} req/s {what}")

    # --- ramp: geometric, up to the first breach or max_rate
    rate = min(spec.start_rate, spec.max_rate)
    while first_bad is None:
        if remaining() < cost(rate) * 2:  # this step and at least the confirmation
            if last_good is None:
                return done("budget", f"the {spec.budget:g} s budget cannot fit two steps")
            return done("budget", f"the {spec.budget:g} s budget ran out at {_fmt(last_good)} req/s before any "
                                  "SLO broke: the capacity is above that; raise the budget or the start rate")
        if (end := advance(rate, "ramp")) is not None:
            return end
        if first_bad is None:
            if rate >= spec.max_rate:
                break
            rate = min(rate * spec.growth, spec.max_rate)

    # --- descend: the first step broke an SLO; find a rate that holds (none if the target fails outright)
    while last_good is None and first_bad is not None:
        if first_bad.failed_on_errors:
            return no_capacity(first_bad)
        rate = first_bad.rate / spec.growth
        if rate < MIN_RATE:
            return no_capacity(first_bad)
        if remaining() < cost(rate) * 2:
            return done("budget", f"the {spec.budget:g} s budget ran out looking below {_fmt(first_bad.rate)} req/s")
        if (end := advance(rate, "descend")) is not None:
            return end

    assert last_good is not None  # for mypy: both loops above leave only with a good rate or return
    for _ in range(MAX_CONFIRMATIONS):
        # --- bisect between last good and first bad (geometric mid-points: the error is a ratio)
        while first_bad is not None and first_bad.rate / last_good - 1 > spec.resolution:
            mid = round(math.sqrt(last_good * first_bad.rate), 2)
            if remaining() < cost(mid) + cost(last_good):  # leave room for the confirmation
                break
            if (end := advance(mid, "bisect")) is not None:
                return end
        # --- confirm at the answer (a failing confirmation is measured again too: the answer needs two passes of
        # three measurements at most)
        if remaining() < cost(last_good):
            return done("budget", f"the {spec.budget:g} s budget ran out before the confirmation step at "
                                  f"{_fmt(last_good)} req/s")
        step = measure(last_good, "confirm")
        if isinstance(step, CapacityResult):
            return step
        if step.passed:
            return _answer(done, last_good, first_bad, spec, first_bad is not None and first_bad.rate in unrechecked)
        # the answer broke twice: it is the new first bad; continue below it
        first_bad = step
        below = [s.rate for s in steps if s.passed and s.rate < step.rate]
        if not below:
            return no_capacity(step)
        last_good = max(below)
    return done("budget", f"the answer did not hold on {MAX_CONFIRMATIONS} confirmation steps: the target's "
                          "capacity is not steady enough to measure")


def _answer(done: Callable[..., CapacityResult], last_good: float, first_bad: Step | None,
            spec: CapacitySpec, once: bool) -> CapacityResult:
    if first_bad is None:
        return done("max_rate", f"every SLO held up to the maximum rate, {_fmt(last_good)} req/s: the capacity is "
                                "at least that", last_good)
    width = first_bad.rate / last_good - 1
    binding = _binding(first_bad) or str(first_bad.breaches[0].get("note") if first_bad.breaches else "an SLO")
    note = "" if width <= spec.resolution + 1e-9 else " (the budget ended the bisection early)"
    seen = "once: the budget left no room to measure it again" if once else "twice"
    return done("found", f"capacity {_fmt(last_good)} req/s: every SLO held there twice; {binding} broke at "
                         f"{_fmt(first_bad.rate)} req/s (+{100 * width:.1f} %), {seen}{note}", last_good)


# --- against a real target ----------------------------------------------------------------------------------------


def process_cpu_probe(pids: Callable[[], set[int]]) -> Callable[[], float | None]:
    """A function returning the CPU seconds (user + system) used so far by the processes `pids()` names; None when
    there are none. A process that exits between two readings takes its seconds with it (the target's CPU is then
    under-read, never over-read)."""
    import psutil

    def probe() -> float | None:
        found = pids()
        if not found:
            return None
        total = 0.0
        for pid in found:
            try:
                t = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
        return total

    return probe


def _step_timeout(plan: Plan, slos: list[str]) -> float:
    """Per-request timeout of a step: long enough to see any latency near the SLO, short enough that a step above
    capacity drains in seconds (requests still waiting when it ends count as read_timeout errors)."""
    limits = [t.limit / 1000.0 for t in (parse_threshold(e) for e in slos) if t.unit == "ms"]
    wanted = max(STEP_TIMEOUT_MIN_S, STEP_TIMEOUT_SLO_FACTOR * max(limits, default=0.0))
    return min(plan.load.timeout.total, wanted)


def find_capacity(
    plan: Plan,
    spec: CapacitySpec,
    *,
    workers: int | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    cpu_probe: Callable[[], float | None] | None = None,
) -> CapacityResult:
    """Run the search against `plan`'s target (a concrete URL). `progress` receives dicts: {"event": "tick", ...
    run_load's progress, "step", "kind", "rate", "elapsed", "budget", "bracket"} while a step runs and
    {"event": "step", "step": Step, "bracket": [...], "elapsed", "budget"} after each.

    Errors from the infrastructure (the target went away, a generator process failed) end the search with outcome
    "failed" and the steps so far; InvalidInput (a bad SLO) is raised before any load."""
    from loadwatch import engine

    slos = effective_slos(list(spec.slos))
    names = [s.name for s in plan.scenarios]
    for expr in slos:  # an SLO on an unknown scenario fails here, before any load
        scenario = parse_threshold(expr, source="slo").scenario
        if scenario != "*" and scenario not in names:
            raise InvalidInput(f"SLO {expr!r} names scenario {scenario!r}; the plan's scenarios: {', '.join(names)}",
                               source="slo")
    timeout = _step_timeout(plan, slos)
    t0 = time.monotonic()
    deadline = t0 + spec.budget - WATCHDOG_MARGIN_S
    halt = threading.Event()  # stops the running step: set by the watchdog below
    finished = threading.Event()
    reason: list[str] = []

    def watchdog() -> None:
        # bounded: ends when the search does, or once it has stopped a step
        while not finished.wait(0.1):
            if stop is not None and stop.is_set():
                reason.append("interrupted")
            elif time.monotonic() >= deadline:
                reason.append("budget")
            if reason:
                halt.set()
                return

    state: dict[str, Any] = {"n": 0, "bracket": [None, None]}

    def step_fn(rate: float, kind: str) -> Step:
        state["n"] += 1
        step_plan = plan.with_load(
            source="capacity", rate=rate, duration=spec.settle + spec.measure_seconds(rate), warmup=spec.settle,
            timeout={"connect": min(plan.load.timeout.connect, timeout), "total": timeout},
        )
        before = cpu_probe() if cpu_probe else None

        def tick(p: dict[str, Any]) -> None:
            if progress is not None:
                progress({**p, "event": "tick", "step": state["n"], "kind": kind, "rate": rate,
                          "elapsed": time.monotonic() - t0, "step_elapsed": p.get("elapsed"),
                          "budget": spec.budget, "bracket": state["bracket"]})

        result = engine.run_load(step_plan, workers=workers, stop=halt, progress=tick)
        step = evaluate_step(rate, kind, result.summary, slos)
        if cpu_probe is not None:
            # the target's CPU over the step's load (settle included), not over the generator's start-up: the
            # target is idle before the first send and after the last answer
            after, window = cpu_probe(), result.finished_at - result.started_at
            if after is not None and before is not None and window > 0:
                step.target_cpu = round(100.0 * (after - before) / window, 1)
        if not step.passed:
            slowest = float((result.summary.get("latency_ms") or {}).get("max") or 0.0) / 1000.0
            wait = min(max(slowest, timeout if step.error_rate else 0.0), COOLDOWN_MAX_S,
                       max(deadline - time.monotonic(), 0.0))
            if wait > 0 and not halt.wait(wait):  # the watchdog (budget, stop) cuts the wait short too
                step.cooldown_s = round(wait, 3)
        return step

    def on_step(step: Step, bracket: list[float | None]) -> None:
        state["bracket"] = bracket
        if progress is not None:
            progress({"event": "step", "step": step, "bracket": bracket, "elapsed": time.monotonic() - t0,
                      "budget": spec.budget})

    failure: list[LoadwatchError] = []

    def guarded(rate: float, kind: str) -> Step:
        try:
            return step_fn(rate, kind)
        except InvalidInput:
            raise
        except LoadwatchError as exc:
            failure.append(exc)
            halt.set()
            return Step(rate=rate, kind=kind, stopped=True)

    thread = threading.Thread(target=watchdog, name="capacity-watchdog", daemon=True)
    thread.start()
    try:
        result = search(guarded, spec, halted=lambda: "failed" if failure else (reason[0] if reason else None),
                        on_step=on_step, slos=slos)
    finally:
        finished.set()
        thread.join(timeout=1.0)
    if failure:
        result.outcome = "failed"
        result.capacity_rps = None
        result.reason = f"the search failed at step {state['n']}: {failure[0].message}"
    return result


def skipped_capacity(spec: CapacitySpec, reason: str) -> CapacityResult:
    """The stage's answer when it did not load at all: no number, no steps, and why."""
    return CapacityResult(capacity_rps=None, bracket=[None, None], binding_slo=None, outcome="skipped", reason=reason,
                          steps=[], slos=effective_slos(list(spec.slos)), budget_s=spec.budget, elapsed_s=0.0,
                          resolution=spec.resolution)
