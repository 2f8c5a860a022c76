"""The `loadwatch` command line. Errors become exit codes in one place (`main`), each error class carrying its
own (loadwatch.errors): 0 pass · 1 regression or threshold breach · 2 invalid input · 3 infrastructure (and an
inconclusive run) · 70 an internal error (the traceback to a log file) · 130 interrupted. A run's verdict raises
the error it maps to (loadwatch.vocabulary.VERDICT_ERROR).

Prefect is imported only by the commands that run a flow (it costs a second to import), after its
environment (analytics off, console noise off) has been set."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from loadwatch import __version__
from loadwatch.commands.args import positive
from loadwatch.errors import (
    EXIT_INFRA,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_REGRESSION,
    InternalError,
    Interrupted,
    InvalidInput,
    LoadwatchError,
)

if TYPE_CHECKING:
    from loadwatch.record import RunSummary

__all__ = ["build_parser", "main"]

log = logging.getLogger("loadwatch")


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are InvalidInput (exit 2, one line, no traceback)."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise InvalidInput(f"{message} (see `{self.prog} --help`)", source="command line")


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if verbose else logging.WARNING)
    log.propagate = False


# --- run -----------------------------------------------------------------------------------------


def cmd_run(ns: argparse.Namespace) -> int:
    from loadwatch.infra import interrupts
    from loadwatch.params import RunParams, resolve_plan
    from loadwatch.pipeline.preflight import preflight_static
    from loadwatch.prefect_adapter.environment import prefect_env, quiet_prefect_console

    params = RunParams(
        plan=ns.plan,
        duration=ns.duration,
        rate=ns.rate,
        users=ns.users,
        warmup=ns.warmup,
        workers=ns.workers,
        shards=ns.shards,
        target_url=ns.target,
        thresholds=[] if ns.no_thresholds else ns.threshold,
        out_dir=str(Path(ns.out).resolve()) if ns.out else None,
        notes=ns.notes,
        tags=ns.tag or [],
        trigger=ns.trigger,
        capacity=not ns.no_capacity,
    )
    plan = resolve_plan(params)  # bad plans fail here, in milliseconds, before Prefect starts
    preflight_static(plan, out_dir=Path(params.out_dir) if params.out_dir else None)
    if ns.database_url:
        os.environ["LOADWATCH_DATABASE_URL"] = ns.database_url
    prefect_env(ns.verbose)
    api = os.environ.get("PREFECT_API_URL")
    print(f"loadwatch run: plan {plan.name}, {plan.load.model} model, {plan.load.total_duration:g} s of load "
          f"against {plan.target.url} (Prefect {'API ' + api if api else 'ephemeral API'})", file=sys.stderr)
    server = None
    if not api and "prefect" not in sys.modules:
        from loadwatch.prefect_adapter.ephemeral import EphemeralServer
        from loadwatch.store import embedded

        server = EphemeralServer.start(embedded.data_dir() / "prefect-ephemeral.log")  # boots while we import
    from loadwatch.flows.nightly import nightly

    if server is not None:
        server.wait_ready(float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]))
    quiet_prefect_console(ns.verbose)
    with interrupts.handle_signals():
        state = nightly(**params.model_dump(), return_state=True)
    return _finish_run(state, params.out_dir)


def _finish_run(state: Any, out_dir: str | None = None) -> int:
    """The flow's final state -> the printout and the exit code: a failing verdict raises its error
    (loadwatch.vocabulary.VERDICT_ERROR, translated in `main`), a crash is an InternalError (70), never 1."""
    from loadwatch.record import RunSummary

    result = state.result(raise_on_failure=False)
    if isinstance(result, LoadwatchError):
        raise result
    if isinstance(result, KeyboardInterrupt):
        raise Interrupted("interrupted")
    if isinstance(result, BaseException):
        raise InternalError(f"the run failed: {type(result).__name__}: {result}") from result
    if isinstance(result, dict):  # a state whose result came back through Prefect's JSON serializer
        result = RunSummary.model_validate(result)
    if not isinstance(result, RunSummary):
        raise InternalError(f"the run ended {state.name}: {state.message}")
    _print_run(result, out_dir)
    result.raise_for_verdict()
    return EXIT_OK


def _ms(value: float | None) -> str:
    """A latency for the terminal: "no answers" when there is none (never 0)."""
    return "no answers" if value is None else f"{float(value):.2f} ms"


def _print_run(s: RunSummary, out_dir: str | None = None) -> None:
    t = s.totals
    print(f"run {s.run_id}: verdict {s.verdict.upper()}", file=sys.stderr)
    if s.load:
        lat = t.latency_ms
        print(f"  {t.requests} requests, {t.errors} errors, {t.rps:.1f} req/s, "
              + ", ".join(f"{k} {_ms(getattr(lat, k))}" for k in ("p50", "p95", "p99")), file=sys.stderr)
    counts = [f"{n} {label}" for n, label in ((t.dropped, "dropped at the in-flight cap"),
                                              (t.censored, "timed out (recorded as at least)"),
                                              (t.protocol_errors, "protocol errors"),
                                              (t.clamped, "clamped at the histogram's edge"))
              if n]
    if counts:
        print("  " + ", ".join(counts), file=sys.stderr)
    for reason in s.verdict_reasons:
        print(f"  - {reason}", file=sys.stderr)
    for w in s.warnings:
        print(f"  ! {w}", file=sys.stderr)
    if s.baseline_run_ids:
        print(f"  compared with {len(s.baseline_run_ids)} earlier run(s)", file=sys.stderr)
    if s.status != "failed_preflight":  # a failed preflight writes summary.json only
        from loadwatch.pipeline.chain import default_out_dir

        print(f"  report: {out_dir or default_out_dir(s.run_id)}/report.html", file=sys.stderr)


# --- load, demo-target, detect -------------------------------------------------------------------


def cmd_load(ns: argparse.Namespace) -> int:
    from loadwatch.commands.load import run_load_command

    return run_load_command(ns)


def cmd_capacity(ns: argparse.Namespace) -> int:
    from loadwatch.commands.capacity import run_capacity_command

    return run_capacity_command(ns)


def cmd_demo_target(ns: argparse.Namespace) -> int:
    from loadwatch.demo import server

    server.serve(
        host=ns.host,
        port=ns.port,
        database_url=ns.database_url,
        faults=server.faults_from_args(ns),
    )
    return EXIT_OK


def cmd_detect(ns: argparse.Namespace) -> int:
    from loadwatch.stats.csvdetect import detect_csv, format_table

    result = detect_csv(Path(ns.file), window=ns.window, max_pvalue=ns.p_value, min_magnitude=ns.magnitude)
    print(format_table(result))
    if ns.json:
        Path(ns.json).write_text(json.dumps(result, indent=2, default=str))
    return EXIT_OK


def cmd_init(ns: argparse.Namespace) -> int:
    from loadwatch.plangen import Filters, InitRequest, Source, generate, parse_methods

    sources: tuple[tuple[Source, str | None], ...] = (
        ("openapi", ns.openapi), ("har", ns.har), ("access_log", ns.access_log))
    kind, location = next((k, v) for k, v in sources if v)
    filters = Filters(parse_methods(ns.methods), tuple(ns.include), tuple(ns.exclude))
    plan, draft = generate(InitRequest(kind=kind, location=location, out=Path(ns.out), base_url=ns.base_url,
                                       rate=ns.rate, filters=filters))
    print(f"wrote {ns.out}: {len(plan.scenarios)} scenario(s), {len(plan.pools)} pool(s), {plan.load.rate:g} req/s "
          f"against {plan.target.url}" + (f"; {len(draft.left_out)} thing(s) left out (listed at its end)"
                                           if draft.left_out else ""), file=sys.stderr)
    if not ns.check:
        return EXIT_OK
    from loadwatch.plangen.check import check_plan

    failed = 0
    for r in check_plan(plan):
        print(f"  {'ok  ' if r.ok else 'FAIL'} {r.scenario}: {r.request} -> {r.status or '-'}"
              + ("" if r.ok else f" ({r.reason})"), file=sys.stderr)
        failed += not r.ok
    if failed:
        print(f"loadwatch init --check: {failed} scenario(s) did not answer 2xx/3xx", file=sys.stderr)
    return EXIT_REGRESSION if failed else EXIT_OK


# --- store-backed commands -----------------------------------------------------------------------


@contextlib.contextmanager
def _store(ns: argparse.Namespace) -> Iterator[Any]:
    """An engine on the trend store (migrated), disposed afterwards."""
    from loadwatch import store

    engine = store.connect(getattr(ns, "database_url", None))
    try:
        yield engine
    finally:
        engine.dispose()


def _warm_report_worker() -> None:
    from loadwatch.report import charts
    from loadwatch.stats import edivisive, history  # noqa: F401  (imported for the work that follows)

    charts.warm()


def _start_embedded_quietly(admin_url: Callable[[], str]) -> None:
    with contextlib.suppress(Exception):  # a failure is reported by the store connection that follows
        admin_url()


def cmd_report(ns: argparse.Namespace) -> int:
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
        if not (ns.database_url or os.environ.get("LOADWATCH_DATABASE_URL")):
            # Imported before the thread starts, so no module is imported by two threads at once (SQLAlchemy imported
            # by two threads failed with "partially initialized module" when the store package still loaded it eagerly).
            from loadwatch.store import embedded

            # the embedded server starts (a subprocess: this thread mostly waits) while the imports below run
            threading.Thread(target=_start_embedded_quietly, args=(embedded.admin_url,), daemon=True).start()
        from loadwatch.report.review import review_report

        with _store(ns) as engine:
            paths = review_report(engine, last=ns.last, scenario=ns.scenario, out_dir=Path(ns.out),
                                  plan_hash=ns.plan_hash, pool=pool)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return EXIT_OK


def cmd_import(ns: argparse.Namespace) -> int:
    from loadwatch.commands.importer import import_files

    with _store(ns) as engine:
        outcome = import_files(engine, [Path(f) for f in ns.files])
    for run_id in outcome["stored"]:
        print(f"stored {run_id}")
    for name, why in outcome["skipped"]:
        print(f"skipped {name}: {why}", file=sys.stderr)
    return EXIT_INVALID if outcome["skipped"] else EXIT_OK


def cmd_triage(ns: argparse.Namespace) -> int:
    from loadwatch import store

    with _store(ns) as engine:
        row = store.triage(engine, ns.change_id, ns.decision, ns.note)
    print(f"change {row['id']} ({row['scenario']} {row['metric']} at run {row['run_id']}): {row['state']}")
    return EXIT_OK


def cmd_store(ns: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from loadwatch import store

    if ns.store_cmd == "flush":
        pending = store.pending()
        if not pending:
            print("spool is empty")
            return EXIT_OK
        with _store(ns) as engine:
            stored = store.flush(engine)
        print(f"stored {len(stored)} spooled run(s): {', '.join(stored) or '-'}")
        return EXIT_OK
    if ns.store_cmd == "retention":
        with _store(ns) as engine:
            n = store.thin_windows(engine, before=datetime.now(UTC) - timedelta(days=ns.keep_days))
        print(f"removed {n} per-second window(s) older than {ns.keep_days} days; totals kept")
        return EXIT_OK
    if ns.store_cmd == "exclude":
        with _store(ns) as engine:
            store.exclude_run(engine, ns.run_id, ns.reason)
        print(f"run {ns.run_id} excluded from analysis: {ns.reason}")
        return EXIT_OK
    if ns.store_cmd == "migrate":
        with _store(ns):  # connecting applies any missing migration
            print("schema is up to date")
        return EXIT_OK
    raise InvalidInput("one of: flush, retention, exclude, migrate", source="command line", field="store")


def cmd_explain(ns: argparse.Namespace) -> int:
    from loadwatch import store
    from loadwatch.pipeline.attribution import format_text

    with _store(ns) as engine:
        summary = store.get_summary(engine, ns.run_id)
    if summary is None:
        raise InvalidInput(f"no stored run {ns.run_id!r}", source="command line", field="RUN_ID")
    if "attribution" not in summary:
        print(f"run {ns.run_id} was stored without attribution (by a loadwatch before issue 17)")
        return EXIT_OK
    attribution = summary["attribution"]
    print(format_text(ns.run_id, summary.get("verdict"), attribution))
    if ns.json:
        doc = {k: attribution.get(k) for k in ("explanations", "missing", "notes", "statements")}
        Path(ns.json).write_text(json.dumps({"run_id": ns.run_id, **doc}, indent=2, default=str))
    return EXIT_OK


def cmd_serve(ns: argparse.Namespace) -> int:
    from loadwatch.prefect_adapter.environment import prefect_env

    prefect_env(ns.verbose)
    from loadwatch.prefect_adapter.deployments import serve_nightly

    serve_nightly(cron=ns.cron, timezone=ns.timezone, name=ns.name, params_overrides={
        k: v for k, v in {"plan": ns.plan, "duration": ns.duration, "out_dir": ns.out}.items() if v is not None})
    return EXIT_OK


def cmd_deploy(ns: argparse.Namespace) -> int:
    from loadwatch.prefect_adapter.environment import prefect_env

    prefect_env(ns.verbose)
    from loadwatch.prefect_adapter.deployments import deploy_nightly

    deploy_nightly(pool=ns.pool, cron=ns.cron, timezone=ns.timezone, name=ns.name, params_overrides={
        k: v for k, v in {"plan": ns.plan, "duration": ns.duration}.items() if v is not None})
    return EXIT_OK


def cmd_server(ns: argparse.Namespace) -> int:
    from loadwatch.prefect_adapter.deployments import prefect_server

    return prefect_server(host=ns.host, port=ns.port)


# --- parser --------------------------------------------------------------------------------------


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; the options of `load` and `demo-target` (whose modules import the HTTP stack) are only
    added when that command is the one being parsed, or for help."""
    p = _Parser(prog="loadwatch", description="Nightly load tests and performance-regression detection.")
    p.add_argument("--version", action="version", version=f"loadwatch {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="show Prefect's and loadwatch's logs")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="run the nightly flow once (embedded Postgres, demo target, ephemeral Prefect)")
    r.add_argument("--plan", help="YAML load plan (default: the bundled plans/tool_catalog.yaml)")
    r.add_argument("--duration", type=positive(float), help="seconds of load (overrides the plan)")
    r.add_argument("--rate", type=positive(float), help="open model: requests per second (overrides the plan)")
    r.add_argument("--users", type=positive(int), help="closed model: virtual users (overrides the plan)")
    r.add_argument("--warmup", type=float, help="seconds excluded from the statistics")
    r.add_argument("--workers", type=positive(int),
                   help="generator processes (default: one per 5,000 req/s of the rate, at most one per core)")
    r.add_argument("--shards", type=positive(int), default=1, help="split the load over N Dask-run Prefect tasks")
    r.add_argument("--target", help="target URL (overrides the plan's; `demo` = the bundled service)")
    r.add_argument("--threshold", action="append", metavar="EXPR",
                   help='replace the plan\'s thresholds, e.g. --threshold "p95 < 50ms" (repeatable)')
    r.add_argument("--no-thresholds", action="store_true", help="ignore the plan's thresholds for this run")
    r.add_argument("--no-capacity", action="store_true", help="skip the plan's capacity stage for this run")
    r.add_argument("--out", help="directory for report.html, report.md and summary.json")
    r.add_argument("--database-url", help="trend store (default: LOADWATCH_DATABASE_URL or the embedded Postgres)")
    r.add_argument("--notes", help="free text stored with the run")
    r.add_argument("--tag", action="append", help="tag stored with the run (repeatable)")
    r.add_argument("--trigger", default="cli", choices=["cli", "schedule", "ui", "ci", "serve"],
                   help=argparse.SUPPRESS)
    r.set_defaults(func=cmd_run)

    ld = sub.add_parser("load", help="ad-hoc load test (no Prefect, no database)")
    if command in (None, "load"):
        from loadwatch.commands.load import add_load_arguments

        add_load_arguments(ld)
    ld.set_defaults(func=cmd_load)

    cp = sub.add_parser("capacity", help="the highest rate at which every SLO holds (ramp, bisection, confirmation; "
                        "exit 0 found, 1 no rate meets the SLO, 2 bad input, 3 generator-bound or no answer in budget)")
    if command in (None, "capacity"):
        from loadwatch.commands.capacity import add_capacity_arguments

        add_capacity_arguments(cp)
    cp.set_defaults(func=cmd_capacity)

    dt = sub.add_parser("demo-target", help="serve the bundled Tool Catalog demo service")
    if command in (None, "demo-target"):
        from loadwatch.demo.server import add_target_arguments

        add_target_arguments(dt)
    dt.set_defaults(func=cmd_demo_target)

    it = sub.add_parser("init", help="write a plan for your own service from OpenAPI, a HAR or an access log")
    src = it.add_mutually_exclusive_group(required=True)
    src.add_argument("--openapi", metavar="FILE|URL", help="OpenAPI 3.0/3.1 document, JSON or YAML")
    src.add_argument("--har", metavar="FILE", help="HAR recording (browser dev tools, a proxy)")
    src.add_argument("--access-log", metavar="FILE", help="combined/common log format, or JSON lines")
    it.add_argument("--base-url", help="the service's http(s)://host[:port] (default: from the source)")
    it.add_argument("--out", default="plan.yaml", help="plan file to write (default ./plan.yaml)")
    it.add_argument("--rate", type=positive(float), help="requests per second (default: 10, or a log's peak)")
    it.add_argument("--include", action="append", default=[], metavar="GLOB",
                    help="only paths/operations matching (repeatable)")
    it.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="leave these out (repeatable)")
    it.add_argument("--methods", help="methods to include (default GET,HEAD: read-only)")
    it.add_argument("--check", action="store_true", help="send one request per scenario, report non-2xx/3xx")
    it.set_defaults(func=cmd_init)

    rp = sub.add_parser("report", help="render the trend report from the store, without a new run")
    rp.add_argument("--last", type=positive(int), default=30, help="the last N runs (default 30)")
    rp.add_argument("--scenario", help="only this scenario")
    rp.add_argument("--plan-hash", help="only runs of this plan hash (default: the newest run's plan)")
    rp.add_argument("--out", default="loadwatch-report", help="output directory (default ./loadwatch-report)")
    rp.add_argument("--database-url")
    rp.set_defaults(func=cmd_report)

    d = sub.add_parser("detect", help="change points over a CSV (time column, numeric metric columns)")
    d.add_argument("file")
    d.add_argument("--json", help="also write the change points as JSON here")
    d.add_argument("--window", type=positive(int), default=30)
    d.add_argument("--p-value", type=positive(float), default=0.001)
    d.add_argument("--magnitude", type=float, default=0.0, help="minimum relative change (0.05 = 5 %%)")
    d.set_defaults(func=cmd_detect)

    im = sub.add_parser("import", help="import the seed scripts' result files into the store")
    im.add_argument("files", nargs="+", metavar="FILE")
    im.add_argument("--database-url")
    im.set_defaults(func=cmd_import)

    t = sub.add_parser("triage", help="record a decision on a change point")
    t.add_argument("change_id")
    t.add_argument("decision", choices=["confirm", "dismiss", "expected"])
    t.add_argument("--note")
    t.add_argument("--database-url")
    t.set_defaults(func=cmd_triage)

    st = sub.add_parser("store", help="trend-store maintenance")
    st.add_argument("--database-url")
    sst = st.add_subparsers(dest="store_cmd", required=True, parser_class=_Parser)
    sst.add_parser("flush", help="store results spooled while the database was away")
    ret = sst.add_parser("retention", help="thin per-second data of old runs (totals are kept)")
    ret.add_argument("--keep-days", type=positive(int), default=90)
    ex = sst.add_parser("exclude", help="exclude a run from analysis")
    ex.add_argument("run_id")
    ex.add_argument("--reason", required=True)
    sst.add_parser("migrate", help="apply schema migrations")
    st.set_defaults(func=cmd_store)

    xp = sub.add_parser("explain", help="why a stored run regressed: what moved with it, down to the statement")
    xp.add_argument("run_id", metavar="RUN_ID")
    xp.add_argument("--json", metavar="FILE", help="also write the explanation as JSON here")
    xp.add_argument("--database-url")
    xp.set_defaults(func=cmd_explain)

    sv = sub.add_parser("serve", help="serve the nightly schedule from this process (no server or work pool)")
    sv.add_argument("--cron", default=os.environ.get("LOADWATCH_CRON", "0 2 * * *"))
    sv.add_argument("--timezone", default=os.environ.get("LOADWATCH_TIMEZONE", "UTC"))
    sv.add_argument("--name", default="nightly")
    sv.add_argument("--plan")
    sv.add_argument("--duration", type=positive(float))
    sv.add_argument("--out")
    sv.set_defaults(func=cmd_serve)

    dp = sub.add_parser("deploy", help="register the nightly deployment from this install (module entrypoint; "
                        "a process worker needs no checkout)")
    dp.add_argument("--pool", default="loadwatch-process", help="work pool, created as a process pool if missing")
    dp.add_argument("--cron", default=os.environ.get("LOADWATCH_CRON", "0 2 * * *"))
    dp.add_argument("--timezone", default=os.environ.get("LOADWATCH_TIMEZONE", "UTC"))
    dp.add_argument("--name", default="nightly", help="deployment name (default nightly)")
    dp.add_argument("--plan", help="plan of its runs: a path on the worker or plans/NAME.yaml")
    dp.add_argument("--duration", type=positive(float), help="seconds of load of its runs (default: the plan's)")
    dp.set_defaults(func=cmd_deploy)

    srv = sub.add_parser("server", help="a Prefect server backed by the embedded Postgres (UI + scheduler)")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=positive(int), default=4200)
    srv.set_defaults(func=cmd_server)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; the only place errors turn into exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in args or "--verbose" in args
    _setup_logging(verbose)
    command = next((a for a in args if not a.startswith("-")), None)
    try:
        ns = build_parser(command).parse_args(args)
        if getattr(ns, "command", None) == "triage":
            ns.decision = {"confirm": "confirmed", "dismiss": "dismissed"}.get(ns.decision, ns.decision)
        code = int(ns.func(ns))
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
        from loadwatch.store import embedded

        path = embedded.data_dir() / "loadwatch-error.log"
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
    atexit._run_exitfuncs()
    os._exit(code)


__all__ += ["EXIT_INFRA"]
