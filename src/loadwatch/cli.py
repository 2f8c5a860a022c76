"""The `loadwatch` command line: the parser's root, the table of commands, and `main`, the one place errors become
exit codes, each error class carrying its own (loadwatch.errors): 0 pass · 1 regression or threshold breach · 2
invalid input · 3 infrastructure (and an inconclusive run) · 70 an internal error (the traceback to a log file) ·
130 interrupted. A run's verdict raises the error it maps to (loadwatch.vocabulary.VERDICT_ERROR).

Each command lives in its own module, loadwatch.commands.<module>, with `add_arguments(parser)` and `run(ns) -> int`.
Only the invoked command's module is imported and only its arguments are built: start-up is what a short command
costs (Prefect alone takes a second to import, and only the commands that run a flow import it)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from loadwatch import __version__
from loadwatch.commands.args import Parser
from loadwatch.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, InternalError, LoadwatchError

__all__ = ["COMMANDS", "build_parser", "main"]

log = logging.getLogger("loadwatch")

# `loadwatch NAME` -> (its module under loadwatch.commands, its line in `loadwatch --help`). A new command is one
# module and one line here.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "run the nightly flow once (embedded Postgres, demo target, ephemeral Prefect)"),
    "load": ("load", "ad-hoc load test (no Prefect, no database)"),
    "ab": ("ab", "is the candidate slower than the baseline? alternating A/B rounds, paired"),
    "bisect": ("bisect", "narrow a regression between two git revisions to one commit (A/B steps)"),
    "capacity": ("capacity", "the highest rate at which every SLO holds (ramp, bisection, confirmation; exit 0 found, "
                             "1 no rate meets the SLO, 2 bad input, 3 generator-bound or no answer in budget)"),
    "demo-target": ("demo_target", "serve the bundled Tool Catalog demo service"),
    "init": ("init", "write a plan for your own service from OpenAPI, a HAR or an access log"),
    "report": ("report", "render the trend report from the store, without a new run"),
    "detect": ("detect", "change points over a CSV (time column, numeric metric columns)"),
    "import": ("importer", "import the seed scripts' result files into the store"),
    "triage": ("triage", "record a decision on an open change (or a change point)"),
    "store": ("store", "trend-store maintenance"),
    "explain": ("explain", "why a stored run regressed: what moved with it, down to the statement"),
    "serve": ("serve", "serve the nightly schedule from this process (no server or work pool)"),
    "deploy": ("deploy", "register the nightly deployment from this install (module entrypoint; a process worker "
                         "needs no checkout)"),
    "server": ("server", "a Prefect server backed by the embedded Postgres (UI + scheduler)"),
    "watchdog": ("watchdog", "tell the plan's channels when no run completed for longer than its schedule allows (a "
                             "missed night); run it from a timer"),
}


def command_module(name: str) -> str:
    return f"loadwatch.commands.{COMMANDS[name][0]}"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The root parser with every command's name and help; the arguments only of `command` (all of them when it is
    "*", for documentation and tests)."""
    p = Parser(prog="loadwatch", description="Nightly load tests and performance-regression detection.")
    p.add_argument("--version", action="version", version=f"loadwatch {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="show Prefect's and loadwatch's logs")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, (_, help_text) in COMMANDS.items():
        parser = sub.add_parser(name, help=help_text, description=help_text.replace("%", "%%"))
        if command in (name, "*"):
            importlib.import_module(command_module(name)).add_arguments(parser)
    return p


class _TerminalHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The CLI's own handler on the "loadwatch" logger (stderr)."""


def _setup_logging(verbose: bool) -> None:
    """The terminal shows warnings (everything with -v); the logger itself passes INFO on, to the handler Prefect's
    extra-loggers setting adds when a flow runs (the run's logs in the UI)."""
    handler = _TerminalHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    # ours replaced, anyone else's kept: Prefect's handler is there when Prefect was imported first (tests, embedding)
    log.handlers[:] = [h for h in log.handlers if not isinstance(h, _TerminalHandler)] + [handler]
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; the only place errors turn into exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in args or "--verbose" in args
    _setup_logging(verbose)
    command = next((a for a in args if not a.startswith("-")), None)
    try:
        ns = build_parser(command if command in COMMANDS else None).parse_args(args)
        code = int(importlib.import_module(command_module(ns.command)).run(ns))
    except InternalError as exc:  # raised by us around a crash (the run's): its cause's traceback to the log too
        code = _internal_error(exc)
    except LoadwatchError as exc:
        print(f"loadwatch: error: {exc.message}", file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        print("loadwatch: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        code = EXIT_OK
    except SystemExit as exc:  # argparse --help / --version
        code = int(exc.code or 0)
    except Exception as exc:  # a bug of ours: its own exit code (never 1, a regression's), the traceback to a file
        code = _internal_error(exc)
    if argv is None:
        if command == "report":
            _exit_now(code)
        sys.exit(code)
    return code


def _internal_error(exc: BaseException) -> int:
    import traceback
    from datetime import UTC, datetime

    where = "the traceback could not be written"
    try:
        from loadwatch.settings import data_dir

        path = data_dir() / "loadwatch-error.log"
        with path.open("a") as f:
            f.write(f"--- {datetime.now(UTC).isoformat()} loadwatch {__version__} {' '.join(sys.argv)}\n")
            f.write("".join(traceback.format_exception(exc)))
        where = f"traceback in {path}"
    except Exception:  # the error report must not fail in its turn
        log.debug("could not write the error log", exc_info=True)
    what = exc.message if isinstance(exc, InternalError) else f"{type(exc).__name__}: {exc}"
    print(f"loadwatch: internal error: {what} ({where}; please report it)", file=sys.stderr)
    return EXIT_INTERNAL


def _exit_now(code: int) -> NoReturn:
    """Exit without the interpreter's teardown, which spends 0.2-0.3 s freeing a year of report data and
    matplotlib's objects. Only for `report`: by then it runs no threads and its worker process has been joined;
    its exit hooks (the embedded Postgres stop, logging's flush) still run, here."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a closed pipe (`| head`) is not an error of ours
            stream.flush()
    import atexit

    atexit._run_exitfuncs()
    os._exit(code)
