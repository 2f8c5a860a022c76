"""`loadwatch run`: the nightly flow, once. Its flags are RunParams' fields (loadwatch.params), built from the fields'
own titles, descriptions, bounds and choices, the same model the flow's parameters and the Prefect UI form come
from; the run's outcome becomes the exit code through the error its verdict raises (loadwatch.vocabulary)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadwatch.commands.args import add_field_flags
from loadwatch.errors import EXIT_OK, InternalError, Interrupted, LoadwatchError

if TYPE_CHECKING:
    from loadwatch.record import RunSummary

__all__ = ["RUN_FLAGS", "add_arguments", "run"]

# RunParams field -> its flag, where the command line's name (older than the model) differs from `--field-name`
RUN_FLAGS = {"target_url": "--target", "thresholds": "--threshold", "out_dir": "--out", "tags": "--tag"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from loadwatch.params import RunParams

    add_field_flags(parser, RunParams.model_fields, flags=RUN_FLAGS, defaults={"trigger": "cli"},
                    hidden=frozenset({"trigger"}))
    parser.add_argument("--database-url", help="trend store (default: LOADWATCH_DATABASE_URL or the embedded Postgres)")


def run(ns: argparse.Namespace) -> int:
    from loadwatch.params import RunParams, resolve_plan
    from loadwatch.pipeline.preflight import preflight_static

    given = {name: value for name in RunParams.model_fields if (value := getattr(ns, name)) is not None}
    if given.get("out_dir"):
        given["out_dir"] = str(Path(given["out_dir"]).resolve())
    params = RunParams(**given)
    plan = resolve_plan(params)  # bad plans fail here, in milliseconds, before Prefect starts
    from loadwatch.settings import settings

    settings()  # and a bad LOADWATCH_* value (the stages read them again when they use them)
    preflight_static(plan, out_dir=Path(params.out_dir) if params.out_dir else None)
    if ns.database_url:
        os.environ["LOADWATCH_DATABASE_URL"] = ns.database_url
    api = os.environ.get("PREFECT_API_URL")
    print(f"loadwatch run: plan {plan.name}, {plan.load.model} model, {plan.load.total_duration:g} s of load "
          f"against {plan.target.url} (Prefect {'API ' + api if api else 'ephemeral API'})", file=sys.stderr)
    from loadwatch.prefect_adapter.once import run_flow_once

    return _finish_run(run_flow_once(params, verbose=ns.verbose), params.out_dir)


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
