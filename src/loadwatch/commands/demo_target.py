"""`loadwatch demo-target`: serve the bundled Tool Catalog demo service (its options: loadwatch.demo.server)."""

from __future__ import annotations

import argparse

from loadwatch.errors import EXIT_OK

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from loadwatch.demo.server import add_target_arguments

    add_target_arguments(parser)


def run(ns: argparse.Namespace) -> int:
    from loadwatch.demo import server

    server.serve(host=ns.host, port=ns.port, database_url=ns.database_url, faults=server.faults_from_args(ns))
    return EXIT_OK
