"""Prefect's settings for a loadwatch process, as environment variables: they must be set before Prefect is
imported (it reads its settings and configures logging once, at import)."""

from __future__ import annotations

import logging
import os

__all__ = ["prefect_env", "quiet_prefect_console"]


def prefect_env(verbose: bool) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    if not verbose:
        # Logs still reach the Prefect API (and UI); only the terminal is kept quiet. loadwatch reports
        # failures itself (one line, the right exit code), so even Prefect's error tracebacks stay out.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")


def quiet_prefect_console(verbose: bool) -> None:
    """Prefect configures logging once, at import; when it was imported before us (tests, embedding),
    lower its console handlers here too."""
    if verbose:
        return
    for name in ("prefect", "prefect.flow_runs", "prefect.task_runs"):
        for handler in logging.getLogger(name).handlers:
            if type(handler).__name__ == "PrefectConsoleHandler":
                handler.setLevel(logging.CRITICAL)
