"""The error hierarchy; each class carries its exit code, translated in one place (cli.main). A run's failing
verdict raises its error too (loadwatch.vocabulary.VERDICT_ERROR: regression and threshold_breach
RegressionDetected, inconclusive InfrastructureError, aborted Interrupted, failed TargetUnavailable).

    LoadwatchError                  1  (base; never raised bare)
    ├── RegressionDetected          1  a confirmed regression or a breached threshold
    ├── InvalidInput                2  a plan, flag, file or CSV the user can fix
    ├── InfrastructureError         3  something loadwatch needs is not there
    │   ├── TargetUnavailable       3  the system under test cannot be reached
    │   └── StoreUnavailable        3  the trend store (Postgres) cannot be reached
    ├── Interrupted               130  SIGINT / SIGTERM
    └── InternalError              70  a bug of loadwatch's own (EX_SOFTWARE): never 1, so CI can tell a crash
                                       from a regression; the traceback goes to a log file, not the terminal
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "EXIT_INFRA",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_REGRESSION",
    "InfrastructureError",
    "InternalError",
    "Interrupted",
    "InvalidInput",
    "LoadwatchError",
    "RegressionDetected",
    "StoreUnavailable",
    "TargetUnavailable",
]

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_INVALID = 2
EXIT_INFRA = 3
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70  # sysexits.h EX_SOFTWARE


class LoadwatchError(Exception):
    """Base of every error loadwatch reports to a user."""

    exit_code: ClassVar[int] = EXIT_REGRESSION

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RegressionDetected(LoadwatchError):
    """The run regressed or breached a threshold."""

    exit_code = EXIT_REGRESSION


class InvalidInput(LoadwatchError):
    """Input the user can fix: names the file, the field and what is allowed."""

    exit_code = EXIT_INVALID

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None) -> None:
        where = ": ".join(part for part in (source, field) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.source = source
        self.field = field


class InfrastructureError(LoadwatchError):
    """Something loadwatch needs (target, database, disk) is not available."""

    exit_code = EXIT_INFRA


class TargetUnavailable(InfrastructureError):
    """The system under test cannot be reached."""


class StoreUnavailable(InfrastructureError):
    """The trend store cannot be reached or refused the write."""


class Interrupted(LoadwatchError):
    """The run was stopped by SIGINT or SIGTERM."""

    exit_code = EXIT_INTERRUPTED


class InternalError(LoadwatchError):
    """Something loadwatch did wrong: not the user's input, not the infrastructure, not a verdict."""

    exit_code = EXIT_INTERNAL
