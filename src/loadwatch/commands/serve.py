"""`loadwatch serve`: the nightly schedule served from this process (no work pool; loadwatch.prefect_adapter)."""

from __future__ import annotations

import argparse
import os

from loadwatch.commands.args import positive
from loadwatch.errors import EXIT_OK

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cron", default=os.environ.get("LOADWATCH_CRON", "0 2 * * *"))
    parser.add_argument("--timezone", default=os.environ.get("LOADWATCH_TIMEZONE", "UTC"))
    parser.add_argument("--name", default="nightly")
    parser.add_argument("--plan")
    parser.add_argument("--duration", type=positive(float))
    parser.add_argument("--out")


def run(ns: argparse.Namespace) -> int:
    from loadwatch.prefect_adapter.environment import prefect_env

    prefect_env(ns.verbose)
    from loadwatch.prefect_adapter.deployments import serve_nightly

    serve_nightly(cron=ns.cron, timezone=ns.timezone, name=ns.name, params_overrides={
        k: v for k, v in {"plan": ns.plan, "duration": ns.duration, "out_dir": ns.out}.items() if v is not None})
    return EXIT_OK
