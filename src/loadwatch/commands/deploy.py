"""`loadwatch deploy`: the nightly deployment registered from this install, with a module entrypoint, so a process
worker needs no checkout (loadwatch.prefect_adapter.deployments)."""

from __future__ import annotations

import argparse

from loadwatch.commands.args import positive
from loadwatch.errors import EXIT_OK

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pool", default="loadwatch-process", help="work pool, created as a process pool if missing")
    parser.add_argument("--cron", help="default: LOADWATCH_CRON or 0 2 * * *")
    parser.add_argument("--timezone", help="default: LOADWATCH_TIMEZONE or UTC")
    parser.add_argument("--name", default="nightly", help="deployment name (default nightly)")
    parser.add_argument("--plan", help="plan of its runs: a path on the worker or plans/NAME.yaml")
    parser.add_argument("--duration", type=positive(float), help="seconds of load of its runs (default: the plan's)")


def run(ns: argparse.Namespace) -> int:
    from loadwatch.prefect_adapter.environment import prefect_env

    prefect_env(ns.verbose)
    from loadwatch.prefect_adapter.deployments import deploy_nightly
    from loadwatch.settings import settings

    env = settings()

    overrides = {k: v for k, v in {"plan": ns.plan, "duration": ns.duration}.items() if v is not None}
    deploy_nightly(pool=ns.pool, cron=ns.cron or env.cron, timezone=ns.timezone or env.timezone, name=ns.name,
                   params_overrides=overrides)
    return EXIT_OK
