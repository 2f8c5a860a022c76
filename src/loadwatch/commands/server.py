"""`loadwatch server`: a Prefect server (UI and scheduler) whose database is the embedded Postgres."""

from __future__ import annotations

import argparse

from loadwatch.commands.args import positive

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=positive(int), default=4200)


def run(ns: argparse.Namespace) -> int:
    from loadwatch.prefect_adapter.deployments import prefect_server

    return prefect_server(host=ns.host, port=ns.port)
