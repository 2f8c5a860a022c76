"""The words every stage shares, written once: the whole-run scenario, the trend metrics, the verdicts and the
exit code each one maps to (the CLI, the flow's final state and the Prometheus export all read this table), and
the kinds of error a request can end in."""

from __future__ import annotations

from loadwatch.errors import EXIT_INFRA, EXIT_INTERRUPTED, EXIT_OK, EXIT_REGRESSION

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
    "VERDICT_EXIT",
]

ALL = "*"  # the scenario name of the whole run
STMT_PREFIX = "stmt:"  # pseudo-scenarios of the target's SQL statements: "stmt:<queryid>"

# The values a run contributes to its trend series, per scenario (loadwatch.pipeline.measures derives them; the gate
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

# verdict -> exit code of `loadwatch run`
VERDICT_EXIT: dict[str, int] = {
    "pass": EXIT_OK,
    "insufficient_history": EXIT_OK,  # a warning while the history grows, never a failure
    "regression": EXIT_REGRESSION,
    "threshold_breach": EXIT_REGRESSION,
    "inconclusive": EXIT_INFRA,  # generator-bound: the measurement itself failed
    "aborted": EXIT_INTERRUPTED,
    "failed": EXIT_INFRA,  # failed preflight: the target could not be reached
}
VERDICTS = tuple(VERDICT_EXIT)
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
    "other",
)
