"""One A/B session: the plan's load against two builds in alternating rounds (ABBA), looked at a fixed number of
times by the paired statistics (loadwatch.stats.paired) until the answer is clear or the budget ends.

Each round is one `run_load` of the plan against one build: `settle` seconds of warm-up (excluded from the
statistics: connections, caches, the other build's leftovers) and then `round_s` measured seconds, at the plan's
rate. The session plans its number of pairs once, from the time the first pair took, so the looks' information
fractions (and with them each look's share of alpha) are fixed before any comparison is made; if the budget ends
before the planned pairs, the last look spends what is left."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from loadwatch.ab.builds import Build
from loadwatch.config import Plan
from loadwatch.engine import run_load
from loadwatch.errors import Interrupted
from loadwatch.load_shapes import LoadSummary
from loadwatch.stats.paired import (
    ERRORS_SHARE,
    PairedConfig,
    Row,
    judge_errors,
    judge_rounds,
    min_pairs,
    pair_rounds,
    spent_alpha,
)

__all__ = ["AbResult", "AbSettings", "RoundRecord", "order_of", "run_ab"]

Overall = Literal["regression", "no_regression", "inconclusive"]
DECIDED = ("regression", "improvement", "no_change")


@dataclass(frozen=True)
class AbSettings:
    budget_s: float = 120.0  # wall time for the rounds (builds' start-up not included)
    round_s: float = 5.0  # measured seconds per round
    settle_s: float = 0.5  # warm-up seconds before each round's measurement
    max_pairs: int | None = None  # plan this many pairs at most (default: as many as the budget allows)
    warmup_rounds: int = 1  # per build, before the first pair, never judged: a freshly started build's caches,
    # connection pools and JIT are not what is being compared (Kalibera & Jones's warm-up iterations)
    stats: PairedConfig = field(default_factory=PairedConfig)


@dataclass(frozen=True)
class RoundRecord:
    index: int
    build: Literal["A", "B"]
    started_at: float
    requests: int
    errors: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    generator_bound: bool
    histograms: dict[str, str]  # scenario -> encoded latency histogram (the statistics' input)


@dataclass(frozen=True)
class Look:
    pairs: int
    level: float
    decided: int
    judged: int


@dataclass
class AbResult:
    plan: str
    baseline: str
    candidate: str
    aa: bool
    settings: AbSettings
    rounds: list[RoundRecord] = field(default_factory=list)
    looks: list[Look] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    planned_pairs: int = 0
    stopped_early: bool = False
    warnings: list[str] = field(default_factory=list)
    verdict: Overall = "inconclusive"
    elapsed_s: float = 0.0

    @property
    def exit_code(self) -> int:
        return {"regression": 1, "no_regression": 0, "inconclusive": 3}[self.verdict]


def order_of(i: int) -> Literal["A", "B"]:
    """ABBA ABBA ...: round i's build."""
    return "A" if i % 4 in (0, 3) else "B"


def _round(plan: Plan, build: Build, settings: AbSettings,
           stop: threading.Event | None) -> tuple[dict[str, str], LoadSummary]:
    p = plan.with_target_url(build.url).with_load(duration=settings.settle_s + settings.round_s,
                                                   warmup=settings.settle_s)
    res = run_load(p, stop=stop)
    if res.summary.get("stopped") or (stop is not None and stop.is_set()):
        raise Interrupted("interrupted during an A/B round")
    hists = {name: h["latency"] for name, h in res.histograms.items()}
    return hists, res.summary


def _record(i: int, started: float, hists: dict[str, str], s: LoadSummary) -> RoundRecord:
    lat = s.get("latency_ms") or {}
    return RoundRecord(index=i, build=order_of(i), started_at=started, requests=int(s["requests"]),
                       errors=int(s["errors"]), rps=float(s["rps"]),
                       p50_ms=lat.get("p50"), p95_ms=lat.get("p95"), generator_bound=bool(s["generator_bound"]),
                       histograms=hists)


def _usable_order(rounds: list[RoundRecord]) -> list[str]:
    """The rounds' builds for pairing, a generator-bound round marked "-" so that its pair is left out: its
    latencies include the generator's own queueing. Whether the generator kept up is the machine's state, not the
    build's answer, so leaving such pairs out cannot bias the comparison (the session replaces them in budget)."""
    return ["-" if r.generator_bound else r.build for r in rounds]


def _errors_row(rounds: list[RoundRecord], level: float) -> Row:
    count = {label: (sum(r.errors for r in rounds if r.build == label), sum(r.requests for r in rounds
                                                                            if r.build == label)) for label in "AB"}
    return judge_errors(count["A"][0], count["A"][1], count["B"][0], count["B"][1], level)


def _look_points(planned: int, looks: int) -> list[int]:
    return sorted({max(1, math.ceil(k * planned / looks)) for k in range(1, looks + 1)})


def _merge_sticky(sticky: dict[tuple[str, str], Row], rows: list[Row]) -> list[Row]:
    """A row's first decisive verdict stands (a later look can only repeat or lose it at its smaller level);
    undecided rows take this look's."""
    out: list[Row] = []
    for r in rows:
        key = (r.scenario, r.percentile)
        if key not in sticky and r.verdict in DECIDED:
            sticky[key] = r
        out.append(sticky.get(key, r))
    return out


def _overall(result: AbResult) -> Overall:
    verdicts = [r.verdict for r in result.rows]
    if "regression" in verdicts:
        return "regression"
    if "inconclusive" in verdicts or not any(v in DECIDED for v in verdicts):
        return "inconclusive"
    return "no_regression"


def _warn_short(result: AbResult, settings: AbSettings) -> None:
    """Say at once when the budget cannot give the whole run's rows enough pairs to be decided at all."""
    cfg = settings.stats
    last = (1 - ERRORS_SHARE) * (spent_alpha(cfg.alpha, 1.0) - spent_alpha(cfg.alpha, (cfg.looks - 1) / cfg.looks))
    need = min_pairs(last / (2 * len(cfg.percentiles)))
    if result.planned_pairs < need:
        result.warnings.append(f"the budget allows {result.planned_pairs} pair(s) of rounds; at alpha {cfg.alpha:g} "
                               f"a row needs at least {need} to be decided (raise --budget or shorten --round)")


def run_ab(plan: Plan, a: Build, b: Build, settings: AbSettings, *, aa: bool = False,
           stop: threading.Event | None = None, progress: Callable[[str], None] | None = None) -> AbResult:
    """Blocking: the whole session. Raises Interrupted when `stop` is set; a build that stops answering raises
    the engine's TargetUnavailable (exit 3)."""
    say = progress or (lambda _msg: None)
    result = AbResult(plan=plan.name, baseline=a.url, candidate=b.url, aa=aa, settings=settings)
    for k in range(settings.warmup_rounds):
        for build in (a, b):
            say(f"warm-up round {k + 1} of build {build.label}")
            _round(plan, build, settings, stop)
    t0 = time.monotonic()
    hists: list[dict[str, str]] = []
    points: list[int] = []
    spent_t = 0.0
    sticky: dict[tuple[str, str], Row] = {}
    looked: set[int] = set()
    i = 0
    while True:
        build = a if order_of(i) == "A" else b
        started = time.time()
        h, summary = _round(plan, build, settings, stop)
        hists.append(h)
        result.rounds.append(_record(i, started, h, summary))
        i += 1
        if i % 2:
            continue
        pairs = i // 2
        usable = len(pair_rounds(_usable_order(result.rounds)))  # a generator-bound pair is replaced, in budget
        elapsed = time.monotonic() - t0
        if pairs == 1:  # plan the session once, from what one pair costs, before any comparison
            fit = max(1, int(settings.budget_s / max(elapsed, 1e-3)))
            result.planned_pairs = min(fit, settings.max_pairs or fit)
            points = _look_points(result.planned_pairs, settings.stats.looks)
            _warn_short(result, settings)
        out_of_time = elapsed + elapsed / pairs > settings.budget_s or usable >= result.planned_pairs
        if (usable not in points or usable in looked) and not out_of_time:
            continue
        looked.add(usable)
        t = 1.0 if out_of_time else usable / result.planned_pairs
        level = spent_alpha(settings.stats.alpha, t) - spent_alpha(settings.stats.alpha, spent_t)
        spent_t = t
        rows = judge_rounds(_usable_order(result.rounds), hists, (1 - ERRORS_SHARE) * level, settings.stats)
        rows.append(_errors_row([r for r in result.rounds if not r.generator_bound], ERRORS_SHARE * level))
        result.rows = _merge_sticky(sticky, rows)
        judged = [r for r in result.rows if r.verdict != "not_judged"]
        decided = [r for r in judged if r.verdict in DECIDED]
        result.looks.append(Look(pairs=usable, level=level, decided=len(decided), judged=len(judged)))
        say(f"look {len(result.looks)} after {usable} pair(s): {len(decided)} of {len(judged)} row(s) decided"
            f" (level {level:.2g})")
        clear = bool(judged) and (len(decided) == len(judged) or any(r.verdict == "regression" for r in judged))
        if clear or out_of_time:
            result.stopped_early = clear and not out_of_time
            break
    result.elapsed_s = round(time.monotonic() - t0, 1)
    bound = [r.index for r in result.rounds if r.generator_bound]
    if bound:
        result.warnings.append(f"the generator was the bottleneck in round(s) {bound}: their pairs were left out "
                               "(their latencies include its own queueing)")
    for label in ("A", "B"):
        errs = sum(r.errors for r in result.rounds if r.build == label)
        if errs:
            reqs = sum(r.requests for r in result.rounds if r.build == label)
            result.warnings.append(f"build {label} answered {errs} of {reqs} requests with errors")
    result.verdict = _overall(result)
    return result

