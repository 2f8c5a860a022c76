"""`loadwatch triage`: record a decision on a change point (confirm, dismiss, expected)."""

from __future__ import annotations

import argparse

from loadwatch.commands.store import open_store
from loadwatch.errors import EXIT_OK

__all__ = ["add_arguments", "run"]

# the command's words -> the stored states
_DECISIONS = {"confirm": "confirmed", "dismiss": "dismissed", "expected": "expected"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("change_id")
    parser.add_argument("decision", choices=list(_DECISIONS))
    parser.add_argument("--note")
    parser.add_argument("--database-url")


def run(ns: argparse.Namespace) -> int:
    from loadwatch import store

    with open_store(ns) as engine:
        row = store.triage(engine, ns.change_id, _DECISIONS[ns.decision], ns.note)
    print(f"change {row['id']} ({row['scenario']} {row['metric']} at run {row['run_id']}): {row['state']}")
    return EXIT_OK
