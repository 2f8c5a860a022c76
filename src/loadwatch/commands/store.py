"""`loadwatch store`: trend-store maintenance (flush the spool, retention, exclude a run, migrate), and the store
connection every store-backed command opens."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from loadwatch.commands.args import Parser, positive
from loadwatch.errors import EXIT_OK, InvalidInput

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["add_arguments", "open_store", "run"]


@contextlib.contextmanager
def open_store(ns: argparse.Namespace) -> Iterator[Engine]:
    """An engine on the trend store (`--database-url`, else LOADWATCH_DATABASE_URL, else the embedded one; migrated),
    disposed afterwards."""
    from loadwatch import store

    engine = store.connect(getattr(ns, "database_url", None))
    try:
        yield engine
    finally:
        engine.dispose()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url")
    sub = parser.add_subparsers(dest="store_cmd", required=True, parser_class=Parser)
    sub.add_parser("flush", help="store results spooled while the database was away")
    ret = sub.add_parser("retention", help="thin per-second data of old runs (totals are kept)")
    ret.add_argument("--keep-days", type=positive(int), default=90)
    ex = sub.add_parser("exclude", help="exclude a run from analysis")
    ex.add_argument("run_id")
    ex.add_argument("--reason", required=True)
    sub.add_parser("migrate", help="apply schema migrations")


def run(ns: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from loadwatch import store

    if ns.store_cmd == "flush":
        pending = store.pending()
        if not pending:
            print("spool is empty")
            return EXIT_OK
        with open_store(ns) as engine:
            stored = store.flush(engine)
        print(f"stored {len(stored)} spooled run(s): {', '.join(stored) or '-'}")
        return EXIT_OK
    if ns.store_cmd == "retention":
        with open_store(ns) as engine:
            n = store.thin_windows(engine, before=datetime.now(UTC) - timedelta(days=ns.keep_days))
        print(f"removed {n} per-second window(s) older than {ns.keep_days} days; totals kept")
        return EXIT_OK
    if ns.store_cmd == "exclude":
        with open_store(ns) as engine:
            store.exclude_run(engine, ns.run_id, ns.reason)
        print(f"run {ns.run_id} excluded from analysis: {ns.reason}")
        return EXIT_OK
    if ns.store_cmd == "migrate":
        with open_store(ns):  # connecting applies any missing migration
            print("schema is up to date")
        return EXIT_OK
    raise InvalidInput("one of: flush, retention, exclude, migrate", source="command line", field="store")
