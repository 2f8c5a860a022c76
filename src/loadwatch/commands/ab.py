"""`loadwatch ab`: is the candidate slower than the baseline? Both builds on loopback, the plan's load against each
in alternating rounds, judged pair by pair (loadwatch.ab, loadwatch.stats.paired; docs/METHOD.md §13).

Exit codes as `run`: 0 no regression, 1 regression (in A/A mode: a false alarm), 2 bad input, 3 inconclusive or a
build that could not be started or reached, 130 interrupted."""

from __future__ import annotations

import argparse
import json
import math
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from loadwatch.commands.args import positive
from loadwatch.errors import InvalidInput

if TYPE_CHECKING:
    from loadwatch.ab.session import AbSettings

__all__ = [
    "add_arguments",
    "add_session_arguments",
    "check_outputs",
    "parse_floors",
    "run",
    "settings_from",
    "write_output",
]

PERCENTILES = ("p50", "p90", "p95", "p99", "p999")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", required=True, help="YAML plan: scenarios, rate, pools (its target URL is ignored)")
    a = parser.add_mutually_exclusive_group()
    a.add_argument("--baseline", metavar="URL", help="base URL of the running baseline build (loopback)")
    a.add_argument("--baseline-cmd", metavar="CMD", help="command starting the baseline on {port}, e.g. "
                   "'./server --port {port}'")
    b = parser.add_mutually_exclusive_group()
    b.add_argument("--candidate", metavar="URL", help="base URL of the running candidate build (loopback)")
    b.add_argument("--candidate-cmd", metavar="CMD", help="command starting the candidate on {port}")
    parser.add_argument("--aa", action="store_true", help="A/A: the baseline against itself (a second instance "
                        "with --baseline-cmd): measures the false-alarm rate on this machine now")
    add_session_arguments(parser)
    parser.add_argument("--html", help="write the HTML report (both builds side by side) to FILE")


def add_session_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of one A/B session (shared with `loadwatch bisect`, where they apply to each step)."""
    parser.add_argument("--budget", type=positive(float), default=120.0, help="seconds of rounds at most (120)")
    parser.add_argument("--round", type=positive(float), dest="round_s",
                        help="measured seconds per round (default: long enough for the highest percentile judged)")
    parser.add_argument("--settle", type=float, default=0.5, help="warm-up seconds before each round (0.5)")
    parser.add_argument("--rate", type=positive(float), help="open model: requests per second (default: the plan's)")
    parser.add_argument("--percentiles", default="p50,p95", help=f"judged, comma-separated ({', '.join(PERCENTILES)})")
    parser.add_argument("--floor", action="append", default=[], metavar="PCT=PERCENT",
                        help="smallest change worth a verdict, e.g. --floor p95=5 (repeatable)")
    parser.add_argument("--alpha", type=positive(float), default=0.01,
                        help="false-alarm rate over the whole session (0.01)")
    parser.add_argument("--looks", type=positive(int), default=3, help="looks of the stopping rule (3)")
    parser.add_argument("--max-pairs", type=positive(int), help="plan at most this many pairs of rounds")
    parser.add_argument("--warmup-rounds", type=int, default=1, choices=range(6), metavar="N",
                        help="rounds per build before the first pair, never judged (1)")
    parser.add_argument("--json", help="write the result (rows, looks, every round with its histograms) to FILE")
    parser.add_argument("--markdown", help="write the Markdown report to FILE (e.g. $GITHUB_STEP_SUMMARY)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def parse_floors(items: list[str], percentiles: tuple[str, ...]) -> dict[str, float]:
    from loadwatch.stats.paired import AB_FLOORS

    floors = dict(AB_FLOORS)
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        try:
            pct = float(value)
        except ValueError:
            pct = math.nan
        if not sep or key not in PERCENTILES or not (0 < pct < 100):
            raise InvalidInput(f"expected PCT=PERCENT with PCT one of {', '.join(PERCENTILES)} and 0 < PERCENT < 100,"
                               f" got {item!r}", source="command line", field="--floor")
        floors[key] = pct / 100.0
    return floors


def settings_from(ns: argparse.Namespace, rate: float | None) -> AbSettings:
    """The session's settings from the flags (validated here, once)."""
    from loadwatch.ab.session import AbSettings
    from loadwatch.stats.paired import PairedConfig, round_seconds

    pcts = tuple(p.strip() for p in ns.percentiles.split(",") if p.strip())
    bad = [p for p in pcts if p not in PERCENTILES]
    if not pcts or bad:
        raise InvalidInput(f"unknown percentile(s) {', '.join(bad) or '(none given)'}; allowed: "
                           f"{', '.join(PERCENTILES)}", source="command line", field="--percentiles")
    if not 0 < ns.alpha < 0.5:
        raise InvalidInput(f"must be between 0 and 0.5, got {ns.alpha:g}", source="command line", field="--alpha")
    if ns.settle < 0:
        raise InvalidInput(f"must be >= 0, got {ns.settle:g}", source="command line", field="--settle")
    cfg = PairedConfig(alpha=ns.alpha, looks=ns.looks, percentiles=pcts, floors=parse_floors(ns.floor, pcts))
    top = max(pcts, key=PERCENTILES.index)
    round_s = ns.round_s or (round_seconds(rate, top, cfg.min_above) if rate else 5.0)
    if 2 * (round_s + ns.settle) > ns.budget:
        raise InvalidInput(f"a pair of rounds takes {2 * (round_s + ns.settle):g} s, more than --budget "
                           f"{ns.budget:g} s", source="command line", field="--budget")
    return AbSettings(budget_s=ns.budget, round_s=round_s, settle_s=ns.settle, max_pairs=ns.max_pairs,
                      warmup_rounds=ns.warmup_rounds, stats=cfg)


def _sides(ns: argparse.Namespace) -> tuple[tuple[str, str], tuple[str, str]]:
    """(kind, value) of each side: kind "url" or "cmd"; checked before anything is started."""
    from loadwatch.ab.builds import check_loopback

    if not (ns.baseline or ns.baseline_cmd):
        raise InvalidInput("give --baseline URL or --baseline-cmd CMD", source="command line", field="--baseline")
    has_b = bool(ns.candidate or ns.candidate_cmd)
    if ns.aa and has_b:
        raise InvalidInput("--aa compares the baseline with itself: leave out --candidate/--candidate-cmd",
                           source="command line", field="--aa")
    if not ns.aa and not has_b:
        raise InvalidInput("give --candidate URL or --candidate-cmd CMD (or --aa for an A/A session)",
                           source="command line", field="--candidate")
    a = ("url", check_loopback(ns.baseline, source="command line", field="--baseline")) if ns.baseline else (
        "cmd", ns.baseline_cmd)
    if ns.aa:
        return a, a
    b = ("url", check_loopback(ns.candidate, source="command line", field="--candidate")) if ns.candidate else (
        "cmd", ns.candidate_cmd)
    return a, b


def check_outputs(ns: argparse.Namespace) -> None:
    """Output files whose directory is missing are refused before anything runs."""
    for flag in ("--json", "--markdown", "--html"):
        path = getattr(ns, flag[2:], None)
        if path and not Path(path).resolve().parent.is_dir():
            raise InvalidInput("its directory does not exist", source=path, field=flag)


def write_output(path: str | None, text: str) -> None:
    if not path:
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write: {exc.strerror}", source=path) from None


def run(ns: argparse.Namespace) -> int:
    from loadwatch.ab import render
    from loadwatch.ab.builds import Build, render_command, started
    from loadwatch.ab.session import run_ab
    from loadwatch.config import load_plan
    from loadwatch.infra import interrupts

    plan = load_plan(ns.plan)
    if ns.rate is not None:
        plan = plan.with_load(rate=ns.rate)
    side_a, side_b = _sides(ns)
    check_outputs(ns)
    settings = settings_from(ns, plan.load.rate if plan.load.model == "open" else None)
    for (kind, value), flag in ((side_a, "--baseline-cmd"), (side_b, "--candidate-cmd")):
        if kind == "cmd":
            render_command(value, {"port": "0"}, field=flag)  # bad templates fail before anything starts

    def say(msg: str) -> None:
        if not ns.quiet:
            print(f"loadwatch ab: {msg}", file=sys.stderr, flush=True)

    with ExitStack() as stack, interrupts.handle_signals() as stop:
        builds: list[Build] = []
        for label, (kind, value), flag in (("A", side_a, "--baseline-cmd"), ("B", side_b, "--candidate-cmd")):
            if kind == "url":
                builds.append(Build(label=label, url=value))
            else:
                say(f"starting build {label}: {value}")
                builds.append(stack.enter_context(started(
                    label, value, field=flag, health_path=plan.target.health_path,
                    timeout=plan.target.startup_timeout)))
        say(f"{settings.round_s:g} s rounds after {settings.settle_s:g} s settle, budget {settings.budget_s:g} s")
        result = run_ab(plan, builds[0], builds[1], settings, aa=ns.aa, stop=stop, progress=say)
    md = render.to_markdown(result)
    print(md)
    if ns.json:
        write_output(ns.json, json.dumps(render.to_json(result), indent=1))
    write_output(ns.markdown, md)
    if ns.html:
        write_output(ns.html, render.to_html(result))
    code: int = result.exit_code
    return code
