"""Prefect's settings for a loadwatch process, as environment variables: they must be set before Prefect is
imported (it reads its settings and configures logging once, at import)."""

from __future__ import annotations

import logging
import os

__all__ = ["CORE_LOGGER", "EXTRA_LOGGERS_SETTING", "prefect_env", "quiet_prefect_console", "with_core_logger"]

# The core logs to module loggers under this name (no logger is threaded through the stages); Prefect's extra-loggers
# setting gives it Prefect's API handler at import, so a stage's lines reach the flow run (and task run) it ran in.
CORE_LOGGER = "loadwatch"
EXTRA_LOGGERS_SETTING = "PREFECT_LOGGING_EXTRA_LOGGERS"


def with_core_logger(extra_loggers: str | None) -> str:
    """A PREFECT_LOGGING_EXTRA_LOGGERS value (comma-separated names) with the core's logger in it."""
    names = [n.strip() for n in (extra_loggers or "").split(",") if n.strip()]
    return ",".join(names if CORE_LOGGER in names else [*names, CORE_LOGGER])


def prefect_env(verbose: bool) -> None:
    os.environ[EXTRA_LOGGERS_SETTING] = with_core_logger(os.environ.get(EXTRA_LOGGERS_SETTING))
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
