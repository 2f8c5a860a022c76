"""`loadwatch capacity`: the highest rate at which every SLO holds, from the command line (no Prefect, no database).

    loadwatch capacity URL --slo "p99 < 50ms" [--slo ...] [--max-rate R] [--budget S] [--workers N] [--json FILE]
    loadwatch capacity [URL] --plan FILE [--slo ...]       (the plan's `capacity:` section, flags override it)

A progress line on stderr while it runs (one line rewritten in a terminal; one line per step otherwise), the steps
and the answer on stdout. Exit codes: 0 a capacity was found (or every SLO held up to --max-rate), 1 no rate meets
the SLO, 2 invalid input (a malformed SLO, a bad flag), 3 no number for a reason outside the target's SLO: the
generator could not keep up (generator-bound), the budget ran out before an answer, or the target went away."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from loadwatch.capacity.search import CapacityResult, Step
from loadwatch.commands.args import positive
from loadwatch.commands.load import LiveLine
from loadwatch.config import CapacitySpec, Plan, load_plan, plan_from_url
from loadwatch.errors import EXIT_INFRA, EXIT_INTERRUPTED, EXIT_OK, EXIT_REGRESSION, InvalidInput

__all__ = ["EXIT_CODES", "add_arguments", "build_capacity", "format_result", "run"]

EXIT_CODES = {
    "found": EXIT_OK,
    "max_rate": EXIT_OK,
    "no_capacity": EXIT_REGRESSION,
    "generator_bound": EXIT_INFRA,
    "budget": EXIT_INFRA,
    "failed": EXIT_INFRA,
    "interrupted": EXIT_INTERRUPTED,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", nargs="?", help="target URL (http[s]://host[:port]/path); with --plan: its base URL")
    parser.add_argument("--plan", help="YAML plan (scenarios, pools; its `capacity:` section gives the defaults)")
    parser.add_argument("--slo", action="append", default=[], metavar="EXPR",
                        help='an SLO in threshold syntax, e.g. "p99 < 50ms", "search: p95 < 20ms" (repeatable; '
                             "replaces the plan's); error_rate < 1%% applies unless an error_rate SLO is given")
    parser.add_argument("--max-rate", type=positive(float), help="req/s the ramp stops at (default 100000)")
    parser.add_argument("--start-rate", type=positive(float), help="req/s of the first step (default 25)")
    parser.add_argument("--budget", type=positive(float), help="seconds for the whole search (default 120)")
    parser.add_argument("--resolution", type=positive(float),
                        help="bisect until first bad / last good - 1 is at most this (default 0.03)")
    parser.add_argument("--step", type=positive(float), help="measured seconds per step (default 3)")
    parser.add_argument("--workers", type=positive(int), help="generator processes (default: CPU count)")
    parser.add_argument("--json", help='write {"capacity": {...}} (steps, bracket, binding SLO) to FILE')
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def build_capacity(ns: argparse.Namespace) -> tuple[Plan, CapacitySpec]:
    """The plan (a file, or an ad-hoc one-scenario plan for a URL) and the search settings, validated."""
    if ns.plan:
        plan = load_plan(ns.plan)
        if ns.url:
            plan = plan.with_target_url(ns.url)
        if plan.target.url == "demo":
            raise InvalidInput("`loadwatch capacity` needs a URL: pass the target's base URL as the first argument",
                               source=ns.plan, field="target.url")
        source = ns.plan
    elif ns.url:
        plan = plan_from_url(ns.url, rate=1.0, users=None, duration=10.0, warmup=0.0)
        source = "command line"
    else:
        raise InvalidInput("give a URL or --plan FILE", source="command line", field="url")
    base: dict[str, Any] = plan.capacity.model_dump() if plan.capacity is not None else {}
    flags = {"slos": ns.slo or None, "max_rate": ns.max_rate, "start_rate": ns.start_rate, "budget": ns.budget,
             "resolution": ns.resolution, "step": ns.step}
    base.update({k: v for k, v in flags.items() if v is not None})
    if ns.step is not None:
        base["max_step"] = max(float(base.get("max_step", 8.0)), ns.step)
    if ns.max_rate is not None and ns.start_rate is None and float(base.get("start_rate", 25.0)) > ns.max_rate:
        base["start_rate"] = ns.max_rate
    if not base.get("slos"):
        raise InvalidInput("give at least one --slo, e.g. --slo 'p99 < 50ms' (or a `capacity:` section in the plan)",
                           source=source, field="--slo")
    from pydantic import ValidationError

    try:
        spec = CapacitySpec.model_validate(base)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = "capacity." + ".".join(str(p) for p in err["loc"]) if err["loc"] else "capacity"
        raise InvalidInput(err["msg"].removeprefix("Value error, "), source=source, field=field) from None
    # (an SLO naming a scenario the plan does not have is refused by find_capacity, before any load)
    return plan.model_copy(update={"capacity": spec}), spec


def _ms(v: Any) -> str:
    return f"{v:8.2f}" if isinstance(v, int | float) else f"{'-':>8}"


def _step_line(i: int, s: Step) -> str:
    cpu = f"{s.target_cpu:5.0f}%" if s.target_cpu is not None else f"{'-':>6}"
    verdict = "ok" if s.passed else "BREACH " + ", ".join(
        f"{b['slo']} ({b['value']:g})" if b["slo"] else str(b.get("note")) for b in s.breaches[:2])
    if s.generator_bound:  # GENERATOR-BOUND only when the breach may be the generator's (it ends the search)
        verdict = ("ok, though generator-bound" if s.passed else "GENERATOR-BOUND" if s.generator_blamed
                   else verdict + " (generator-bound too)")
    if s.retry:  # measured again after a breach: this one decides
        verdict = "again: " + verdict
    return (f"  {i:>3} {s.kind:<8}{s.rate:>10.1f}{s.achieved:>10.1f}{_ms(s.p50)}{_ms(s.p95)}{_ms(s.p99)}"
            f"{s.error_rate:>8.2f}{cpu}  {verdict}")


STEP_HEADER = (f"  {'#':>3} {'step':<8}{'rate':>10}{'achieved':>10}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
               f"{'err %':>8}{'cpu':>6}  verdict")


def format_result(r: CapacityResult, url: str) -> str:
    lines = [f"loadwatch capacity {url}: SLO {' and '.join(r.slos)}; {len(r.steps)} steps in {r.elapsed_s:.0f} s "
             f"(budget {r.budget_s:g} s)", STEP_HEADER]
    lines += [_step_line(i, s) for i, s in enumerate(r.steps, 1)]
    lo, hi = r.bracket
    if r.capacity_rps is not None:
        width = r.bracket_width
        lines.append(f"capacity {r.capacity_rps:.1f} req/s   bracket [{lo:.1f}, {f'{hi:.1f}' if hi else '-'}]"
                     + (f" (+{100 * width:.1f} %)" if width is not None else "")
                     + (f"   bound by {r.binding_slo}" if r.binding_slo else ""))
    else:
        lines.append(f"no capacity ({r.outcome.replace('_', ' ')})")
    lines.append(r.reason)
    return "\n".join(lines)


class _Progress(LiveLine):
    """The live line: the step being measured, its rate, the bracket so far and the budget used; a line per step."""

    n = 0

    def __call__(self, p: dict[str, Any]) -> None:
        lo, hi = p.get("bracket") or [None, None]
        bracket = f"[{lo:.0f}, {hi:.0f}]" if lo and hi else f"> {lo:.0f}" if lo else "-"
        if p["event"] == "step":
            self.n += 1
            if self.n == 1 and not self.tty:
                self.print(STEP_HEADER)
            self.print(_step_line(self.n, p["step"]))
            return
        self.show(f"[capacity {p['elapsed']:>4.0f}/{p['budget']:.0f} s] step {p['step']} {p['kind']} "
                  f"{p['rate']:.0f} req/s  {p.get('phase', '')} "
                  f"{p.get('step_elapsed') or 0:.0f}/{p['duration']:.0f} s  {p.get('rps', 0):.0f} req/s  "
                  f"p95 {p.get('p95_ms', 0):.1f} ms  errors {p.get('errors', 0)}  "
                  f"bracket {bracket}")


def run(ns: argparse.Namespace) -> int:
    from loadwatch.capacity.stepper import find_capacity, process_cpu_probe
    from loadwatch.infra import interrupts
    from loadwatch.pipeline.targets import RunTarget

    plan, spec = build_capacity(ns)
    progress = None if ns.quiet else _Progress(sys.stderr)
    # the target's CPU per step, when its processes can be found (a loopback URL: by its listening port)
    probe = process_cpu_probe(RunTarget(plan=plan).target_pids)
    with interrupts.handle_signals() as stop:
        result = find_capacity(plan, spec, workers=ns.workers, stop=stop, progress=progress, cpu_probe=probe)
    if progress is not None:
        progress.done(keep=False)
    print(format_result(result, plan.target.url))
    if ns.json:
        try:
            Path(ns.json).write_text(json.dumps({"capacity": result.to_dict()}, indent=1))
        except OSError as exc:
            raise InvalidInput(f"cannot write: {exc.strerror}", source=ns.json) from None
    return EXIT_CODES[result.outcome]
