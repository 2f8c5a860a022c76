"""The words every stage shares, written once: the whole-run scenario, the trend metrics, the verdicts, the error
each failing verdict ends `loadwatch run` with and so its exit code (the CLI, the flow's final state and the
Prometheus export all read these tables; the error classes and their codes are loadwatch.errors), and the kinds of
error a request can end in."""

from __future__ import annotations

from typing import Literal, get_args

from loadwatch.errors import (
    EXIT_OK,
    InfrastructureError,
    Interrupted,
    LoadwatchError,
    RegressionDetected,
    TargetUnavailable,
)

__all__ = [
    "ALL",
    "ATTRIBUTION_METRICS",
    "ERROR_KINDS",
    "FAILING_VERDICTS",
    "METRICS",
    "RUN_ATTRIBUTION_METRICS",
    "STATEMENT_METRICS",
    "STMT_PREFIX",
    "VERDICTS",
    "VERDICT_ERROR",
    "VERDICT_EXIT",
    "Verdict",
]

ALL = "*"  # the scenario name of the whole run
STMT_PREFIX = "stmt:"  # pseudo-scenarios of the target's SQL statements: "stmt:<queryid>"

# The values a run contributes to its trend series, per scenario (loadwatch.metrics derives them; the gate
# and the change-point detector judge each one; their directions and floors are in loadwatch.stats.model).
# Attribution series (loadwatch.pipeline.attribution, docs/METHOD.md §9): judged by the same gate and change-point
# detector; they explain a regression and never fail a run by themselves.
RUN_ATTRIBUTION_METRICS = (
    "db_ms_per_req",
    "db_calls_per_req",
    "blks_hit_per_req",
    "blks_read_per_req",
    "rows_per_req",
    "cpu_ms_per_req",
    "cache_hit_rate",
)
STATEMENT_METRICS = ("stmt_mean_ms", "stmt_calls_per_req")
ATTRIBUTION_METRICS = RUN_ATTRIBUTION_METRICS + STATEMENT_METRICS
METRICS = ("p50_ms", "p95_ms", "p99_ms", "p999_ms", "rps", "error_rate", "cpu_percent", "rss_mb", "capacity_rps",
           *ATTRIBUTION_METRICS)

# verdict -> the error `loadwatch run` ends with (None: it passes, exit 0); each error class carries its exit code
VERDICT_ERROR: dict[str, type[LoadwatchError] | None] = {
    "pass": None,
    "insufficient_history": None,  # a warning while the history grows, never a failure
    "regression": RegressionDetected,  # 1
    "threshold_breach": RegressionDetected,  # 1
    "inconclusive": InfrastructureError,  # 3: generator-bound, the measurement itself failed
    "aborted": Interrupted,  # 130
    "failed": TargetUnavailable,  # 3: failed preflight, the target could not be reached
    "imported": None,  # a run `loadwatch import` stored from the seed scripts' files: history, never judged
}
# verdict -> exit code of `loadwatch run`
VERDICT_EXIT: dict[str, int] = {v: error.exit_code if error else EXIT_OK for v, error in VERDICT_ERROR.items()}
VERDICTS = tuple(VERDICT_EXIT)
# the same set as a type (the run record's `verdict`); written out because a Literal cannot be computed
Verdict = Literal["pass", "insufficient_history", "regression", "threshold_breach", "inconclusive", "aborted", "failed",
                  "imported"]
assert set(get_args(Verdict)) == set(VERDICTS)
# verdicts that end the flow run Failed in Prefect (the UI, CI's `--watch`)
FAILING_VERDICTS = tuple(v for v, code in VERDICT_EXIT.items() if code != EXIT_OK)

# The kinds of error a request can end in (summary.json `errors_by_kind`; docs/METHOD.md, "How requests are
# counted"): the generator's classification (loadwatch.engine.client.classify_error, build.check_response, the
# pacer's drops) says nothing else.
ERROR_KINDS = (
    "http_4xx",
    "http_5xx",
    "connect_refused",
    "connection_reset",
    "connect_timeout",
    "read_timeout",
    "dns",
    "tls",
    "check_failed",  # an answer that failed the scenario's expectations (status set, JSON field)
    "protocol_error",
    "dropped",  # not sent: the in-flight cap was reached (the target held every request)
    "session_login",  # not sent: its session could not log in (engine/session.py)
    "session_refresh",  # not sent: its session's credentials could not be renewed before they expired
    "other",
)
