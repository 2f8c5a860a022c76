"""The words every stage shares, written once: the whole-run scenario, the trend metrics, the verdicts and the
exit code each one maps to (the CLI, the flow's final state and the Prometheus export all read this table)."""

from __future__ import annotations

from loadwatch.errors import EXIT_INFRA, EXIT_INTERRUPTED, EXIT_OK, EXIT_REGRESSION

__all__ = ["ALL", "FAILING_VERDICTS", "METRICS", "VERDICTS", "VERDICT_EXIT"]

ALL = "*"  # the scenario name of the whole run

# The values a run contributes to its trend series, per scenario (loadwatch.measures derives them; the gate and
# the change-point detector judge each one; their directions and floors are in loadwatch.stats.model).
METRICS = ("p50_ms", "p95_ms", "p99_ms", "p999_ms", "rps", "error_rate", "cpu_percent", "rss_mb")

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
