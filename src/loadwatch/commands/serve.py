"""`loadwatch serve`: the nightly schedule served from this process (no work pool; loadwatch.prefect_adapter)."""

from __future__ import annotations

import argparse

from loadwatch.commands.args import positive
from loadwatch.errors import EXIT_OK

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cron", help="default: LOADWATCH_CRON or 0 2 * * *")
    parser.add_argument("--timezone", help="default: LOADWATCH_TIMEZONE or UTC")
    parser.add_argument("--name", default="nightly")
    parser.add_argument("--plan")
    parser.add_argument("--duration", type=positive(float))
    parser.add_argument("--out")


def run(ns: argparse.Namespace) -> int:
    from loadwatch.prefect_adapter.environment import prefect_env

    prefect_env(ns.verbose)
    from loadwatch.prefect_adapter.deployments import serve_nightly
    from loadwatch.settings import settings

    env = settings()

    given = {"plan": ns.plan, "duration": ns.duration, "out_dir": ns.out}
    overrides = {k: v for k, v in given.items() if v is not None}
    serve_nightly(cron=ns.cron or env.cron, timezone=ns.timezone or env.timezone, name=ns.name,
                  params_overrides=overrides)
    return EXIT_OK
