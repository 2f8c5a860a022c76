"""The capacity search against a real target (docs/METHOD.md §10): each step one `engine.run_load` at a constant
rate, the target's CPU over it, a per-request timeout sized from the SLOs, a cool-down after a failing step, and a
watchdog that stops a step overrunning the budget or interrupted. The decisions are loadwatch.capacity.search's;
`loadwatch capacity` (commands/capacity.py) and the nightly stage (pipeline/load.py) both call `find_capacity`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from loadwatch.capacity.search import CapacityResult, Step, effective_slos, evaluate_step, search
from loadwatch.config import CapacitySpec, Plan
from loadwatch.errors import InvalidInput, LoadwatchError
from loadwatch.stats.thresholds import parse_threshold

__all__ = ["TargetStepper", "find_capacity", "process_cpu_probe", "step_timeout"]

WATCHDOG_MARGIN_S = 1.0  # a step still running this long before the budget ends is stopped (its stop takes ~1 s)
# After a failing step the target may still be working off requests the generator gave up on (a server keeps
# serving what it has read); the next step waits about as long as the slowest request took, at most this long,
# so one overloaded step does not make the next one fail.
COOLDOWN_MAX_S = 5.0
STEP_TIMEOUT_MIN_S = 2.0  # per-request timeout of a step: at least this, ...
STEP_TIMEOUT_SLO_FACTOR = 20.0  # ... or this many times the largest latency limit, at most the plan's timeout

Progress = Callable[[dict[str, Any]], None]


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


def step_timeout(plan: Plan, slos: list[str]) -> float:
    """Per-request timeout of a step: long enough to see any latency near the SLO, short enough that a step above
    capacity drains in seconds (requests still waiting when it ends count as read_timeout errors)."""
    limits = [t.limit / 1000.0 for t in (parse_threshold(e) for e in slos) if t.unit == "ms"]
    wanted = max(STEP_TIMEOUT_MIN_S, STEP_TIMEOUT_SLO_FACTOR * max(limits, default=0.0))
    return min(plan.load.timeout.total, wanted)


class TargetStepper:
    """The step function of a search against `plan`'s target (call it as `stepper(rate, kind) -> Step`), with the
    watchdog that stops a running step (`watch`, run in its own thread until `finished` is set) and the search's
    `halted`/`on_step` hooks. An infrastructure error (the target went away, a generator process failed) is kept in
    `failure` and halts the search; InvalidInput propagates."""

    def __init__(self, plan: Plan, spec: CapacitySpec, slos: list[str], *, workers: int | None = None,
                 stop: threading.Event | None = None, progress: Progress | None = None,
                 cpu_probe: Callable[[], float | None] | None = None) -> None:
        self.plan, self.spec, self.slos = plan, spec, slos
        self.workers, self.stop, self.progress, self.cpu_probe = workers, stop, progress, cpu_probe
        self.timeout = step_timeout(plan, slos)
        self.t0 = time.monotonic()
        self.deadline = self.t0 + spec.budget - WATCHDOG_MARGIN_S
        self.halt = threading.Event()  # stops the running step: set by the watchdog or on a failure
        self.finished = threading.Event()
        self.reason: str | None = None  # "interrupted" or "budget", once the watchdog stopped the search
        self.failure: LoadwatchError | None = None
        self.n = 0  # steps started
        self.last_bracket: list[float | None] = [None, None]

    def halted(self) -> str | None:
        return "failed" if self.failure is not None else self.reason

    def watch(self) -> None:
        """The watchdog; bounded: ends when the search does, or once it has stopped a step."""
        while not self.finished.wait(0.1):
            if self.stop is not None and self.stop.is_set():
                self.reason = "interrupted"
            elif time.monotonic() >= self.deadline:
                self.reason = "budget"
            if self.reason:
                self.halt.set()
                return

    def __call__(self, rate: float, kind: str) -> Step:
        try:
            return self.step(rate, kind)
        except InvalidInput:
            raise
        except LoadwatchError as exc:
            self.failure = exc
            self.halt.set()
            return Step(rate=rate, kind=kind, stopped=True)

    def step(self, rate: float, kind: str) -> Step:
        """One constant-rate step against the target, judged, with the target's CPU and the cool-down after it."""
        from loadwatch import engine

        self.n += 1
        spec = self.spec
        step_plan = self.plan.with_load(
            source="capacity", rate=rate, duration=spec.settle + spec.measure_seconds(rate), warmup=spec.settle,
            timeout={"connect": min(self.plan.load.timeout.connect, self.timeout), "total": self.timeout},
        )
        before = self.cpu_probe() if self.cpu_probe else None
        n = self.n

        def tick(p: dict[str, Any]) -> None:
            if self.progress is not None:
                self.progress({**p, "event": "tick", "step": n, "kind": kind, "rate": rate,
                               "elapsed": time.monotonic() - self.t0, "step_elapsed": p.get("elapsed"),
                               "budget": spec.budget, "bracket": self.last_bracket})

        result = engine.run_load(step_plan, workers=self.workers, stop=self.halt, progress=tick)
        step = evaluate_step(rate, kind, result.summary, self.slos)
        if self.cpu_probe is not None:
            # the target's CPU over the step's load (settle included), not over the generator's start-up: the
            # target is idle before the first send and after the last answer
            after, window = self.cpu_probe(), result.finished_at - result.started_at
            if after is not None and before is not None and window > 0:
                step.target_cpu = round(100.0 * (after - before) / window, 1)
        if not step.passed:
            slowest = float((result.summary.get("latency_ms") or {}).get("max") or 0.0) / 1000.0
            self.cool_down(step, slowest)
        return step

    def cool_down(self, step: Step, slowest_s: float) -> None:
        """Wait after a failing step for the target to work off its backlog (cut short by the watchdog)."""
        wait = min(max(slowest_s, self.timeout if step.error_rate else 0.0), COOLDOWN_MAX_S,
                   max(self.deadline - time.monotonic(), 0.0))
        if wait > 0 and not self.halt.wait(wait):
            step.cooldown_s = round(wait, 3)

    def on_step(self, step: Step, bracket: list[float | None]) -> None:
        self.last_bracket = bracket
        if self.progress is not None:
            self.progress({"event": "step", "step": step, "bracket": bracket, "elapsed": time.monotonic() - self.t0,
                           "budget": self.spec.budget})


def find_capacity(
    plan: Plan,
    spec: CapacitySpec,
    *,
    workers: int | None = None,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    cpu_probe: Callable[[], float | None] | None = None,
) -> CapacityResult:
    """Run the search against `plan`'s target (a concrete URL). `progress` receives dicts: {"event": "tick", ...
    run_load's progress, "step", "kind", "rate", "elapsed", "budget", "bracket"} while a step runs and
    {"event": "step", "step": Step, "bracket": [...], "elapsed", "budget"} after each.

    Errors from the infrastructure (the target went away, a generator process failed) end the search with outcome
    "failed" and the steps so far; InvalidInput (a bad SLO) is raised before any load."""
    slos = effective_slos(list(spec.slos))
    names = [s.name for s in plan.scenarios]
    for expr in slos:  # an SLO on an unknown scenario fails here, before any load
        scenario = parse_threshold(expr, source="slo").scenario
        if scenario != "*" and scenario not in names:
            raise InvalidInput(f"SLO {expr!r} names scenario {scenario!r}; the plan's scenarios: {', '.join(names)}",
                               source="slo")
    stepper = TargetStepper(plan, spec, slos, workers=workers, stop=stop, progress=progress, cpu_probe=cpu_probe)
    thread = threading.Thread(target=stepper.watch, name="capacity-watchdog", daemon=True)
    thread.start()
    try:
        result = search(stepper, spec, halted=stepper.halted, on_step=stepper.on_step, slos=slos)
    finally:
        stepper.finished.set()
        thread.join(timeout=1.0)
    if stepper.failure is not None:
        result.outcome = "failed"
        result.capacity_rps = None
        result.reason = f"the search failed at step {stepper.n}: {stepper.failure.message}"
    return result
