"""`loadwatch triage CHANGE_ID expected|dismiss|confirm [--note] [--by]`: a person's decision on an open change
(docs/METHOD.md, "Open changes"), stored with its time, author and note. A number is a change point's id (the
decision on a change point, as before: `expected` restarts the whole plan's baseline at it)."""

from __future__ import annotations

import argparse
import getpass

from loadwatch.errors import EXIT_OK

__all__ = ["DECISIONS", "add_arguments", "run"]

# what a person types -> the decision stored
DECISIONS = {"expected": "expected", "dismiss": "dismissed", "confirm": "confirmed"}


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry): still a decision
        return "unknown"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("change_id", help="the change's id, as the report and `loadwatch report` show it")
    parser.add_argument("decision", choices=list(DECISIONS),
                        help="expected: accept the new level (the baseline restarts at it); dismiss: a false alarm "
                             "(its nights rejoin the baseline); confirm: a known regression (nights at its level "
                             "pass, further worsening fails)")
    parser.add_argument("--note", help="why (stored with the decision, shown in the report)")
    parser.add_argument("--by", default=None, help="who decided (default: the OS user)")
    parser.add_argument("--database-url")


def run(ns: argparse.Namespace) -> int:
    from loadwatch import store
    from loadwatch.store import changes

    decision = DECISIONS.get(ns.decision, ns.decision)
    engine = store.connect(ns.database_url)
    try:
        if ns.change_id.isdigit():
            row = store.triage(engine, ns.change_id, decision, ns.note)
            print(f"change point {row['id']} ({row['scenario']} {row['metric']} at run {row['run_id']}): "
                  f"{row['state']}")
            return EXIT_OK
        done = changes.triage_change(engine, ns.change_id, decision, by=ns.by or _os_user(), note=ns.note)
    finally:
        engine.dispose()
    print(f"change {done['change_id']} ({done['scenario']} {done['metric']}, opened by run {done['first_run_id']}): "
          f"{done['status']} by {done['triaged_by']}" + (f" ({done['triage_note']})" if done["triage_note"] else ""))
    return EXIT_OK
