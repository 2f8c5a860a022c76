"""`loadwatch watchdog`: the missed-night check, run by a timer (deploy/systemd/loadwatch-watchdog.timer, cron, a
CI schedule) independently of the server, the worker and `serve`, so a night that never ran is told without anyone
looking (docs/deploy.md, "Missed nights").

    loadwatch watchdog [--plan FILE ...] [--notify CHANNEL ...] [--max-gap-hours H] [--database-url URL]

For each plan (default: the bundled one): when its newest completed run in the trend store started longer ago
than `notify.max_gap_hours` (default 25 h), tell its channels once per silence; also deliver messages earlier
nights could not. Exit codes: 0 every plan ran recently (or has never run), 1 a night was missed, 2 invalid input,
3 the trend store cannot be reached."""

from __future__ import annotations

import argparse
import sys

from loadwatch.commands.args import positive
from loadwatch.config import Plan
from loadwatch.errors import EXIT_OK, EXIT_REGRESSION, InvalidInput
from loadwatch.params import RunParams, resolve_plan

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", action="append", metavar="FILE",
                        help="a plan whose runs to watch (repeatable; default: the bundled plan)")
    parser.add_argument("--notify", action="append", metavar="CHANNEL",
                        help="also tell here: an Apprise URL or block:<type>/<name> (repeatable)")
    parser.add_argument("--max-gap-hours", type=positive(float),
                        help="a missed night: no completed run for this long (default: the plan's, 25)")
    parser.add_argument("--database-url", help="trend store (default: LOADWATCH_DATABASE_URL or the embedded one)")


def _plans(ns: argparse.Namespace) -> list[Plan]:
    plans = []
    for path in ns.plan or [None]:
        plan = resolve_plan(RunParams(plan=path, notify=ns.notify or []))
        if ns.max_gap_hours is not None:
            plan = plan.model_copy(update={"notify": plan.notify.model_copy(
                update={"max_gap_hours": ns.max_gap_hours})})
        if not plan.notify.channels():
            raise InvalidInput("no channel to tell: add `notify: {urls: [...]}` to the plan or pass --notify",
                               source=path or "plans/tool_catalog.yaml", field="notify")
        plans.append(plan)
    return plans


def run(ns: argparse.Namespace) -> int:
    from loadwatch.notify.stage import watch_missed
    from loadwatch.store import resolve_database_url

    plans = _plans(ns)  # every plan checked before anything is sent
    url = resolve_database_url(ns.database_url)
    missed = False
    for plan in plans:
        outcome = watch_missed(plan.name, plan.notify, url)
        missed |= "missed" in outcome.events
        state = "missed night, told" if outcome.events else "ran recently (or never)"
        print(f"watchdog: plan {plan.name}: {state}; {outcome.delivered} message(s) delivered", file=sys.stderr)
        for warning in outcome.warnings:
            print(f"  ! {warning}", file=sys.stderr)
    return EXIT_REGRESSION if missed else EXIT_OK
