"""`loadwatch explain`: why a stored run regressed, what moved with it, down to the statement."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from loadwatch.commands.store import open_store
from loadwatch.errors import EXIT_OK, InvalidInput

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN_ID")
    parser.add_argument("--json", metavar="FILE", help="also write the explanation as JSON here")
    parser.add_argument("--database-url")


def run(ns: argparse.Namespace) -> int:
    from loadwatch import store
    from loadwatch.pipeline.attribution import format_text

    with open_store(ns) as engine:
        summary = store.get_summary(engine, ns.run_id)
    if summary is None:
        raise InvalidInput(f"no stored run {ns.run_id!r}", source="command line", field="RUN_ID")
    if "attribution" not in summary.model_fields_set:  # the model's default is an empty block: not what was stored
        print(f"run {ns.run_id} was stored without attribution (by a loadwatch before issue 17)")
        return EXIT_OK
    attribution = summary.attribution
    print(format_text(ns.run_id, summary.verdict, attribution))
    if ns.json:
        doc = {k: attribution.get(k) for k in ("explanations", "missing", "notes", "statements", "owners")}
        Path(ns.json).write_text(json.dumps({"run_id": ns.run_id, **doc}, indent=2, default=str))
    return EXIT_OK
