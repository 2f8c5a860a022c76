"""`loadwatch report`: the trend report from the store, without a new run (loadwatch.report.review)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

from loadwatch.commands.args import positive
from loadwatch.commands.store import open_store
from loadwatch.errors import EXIT_OK

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--last", type=positive(int), default=30, help="the last N runs (default 30)")
    parser.add_argument("--scenario", help="only this scenario")
    parser.add_argument("--plan-hash", help="only runs of this plan hash (default: the newest run's plan)")
    parser.add_argument("--out", default="loadwatch-report", help="output directory (default ./loadwatch-report)")
    parser.add_argument("--branch", help="the newest run of this branch, against --main-branch's baseline")
    parser.add_argument("--main-branch", default="main", help="the branch whose runs are the baseline (default main)")
    parser.add_argument("--database-url")


def _warm_report_worker() -> None:
    from loadwatch.report import charts
    from loadwatch.stats import edivisive, history  # noqa: F401  (imported for the work that follows)

    charts.warm()


def _start_embedded_quietly(admin_url: Callable[[], str]) -> None:
    with contextlib.suppress(Exception):  # a failure is reported by the store connection that follows
        admin_url()


def run(ns: argparse.Namespace) -> int:
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    from loadwatch.report import charts

    # One worker process is forked now, before this one connects to anything, and imports matplotlib and the
    # change-point detector while this one imports the rest and reads the store; it then finds the change points
    # while this one runs the gate, and draws the charts. (Two workers were slower: both paid the imports on a
    # two-core machine. Measured on a stored year, BENCHMARKS.md.) fork is the cheap start; inside a process that
    # already runs threads (tests, embedding) a fork could copy a lock held mid-operation, so there the worker
    # starts a fresh interpreter instead.
    method = "fork" if threading.active_count() == 1 and sys.platform == "linux" else "spawn"
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(method),
                             initializer=_warm_report_worker) as pool:
        pool.submit(charts.warm)  # starts the worker now
        from loadwatch.settings import settings

        if not (ns.database_url or settings().database_url):
            # Imported before the thread starts, so no module is imported by two threads at once (SQLAlchemy imported
            # by two threads failed with "partially initialized module" when the store package still loaded it eagerly).
            from loadwatch.infra import postgres

            # the embedded server starts (a subprocess: this thread mostly waits) while the imports below run
            threading.Thread(target=_start_embedded_quietly, args=(postgres.admin_url,), daemon=True).start()
        from loadwatch.report.review import review_report

        with open_store(ns) as engine:
            paths = review_report(engine, last=ns.last, scenario=ns.scenario, out_dir=Path(ns.out),
                                  plan_hash=ns.plan_hash, pool=pool, branch=ns.branch,
                                  main_branch=ns.main_branch)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return EXIT_OK
