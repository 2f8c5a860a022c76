"""Regression detection as pure functions: the same-night gate, change points over history, thresholds, the
seed's score. The method, every rule and default with its source: docs/METHOD.md.

Names are resolved on first use (PEP 562): the gate and the change-point detector pull in numpy and scipy, which
`loadwatch report` keeps out of its main process (it runs them in worker processes) and which a command that
only needs the data model should not pay for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loadwatch.lazy import lazy_getattr

if TYPE_CHECKING:
    from loadwatch.stats.edivisive import ChangePoint, detect_change_points
    from loadwatch.stats.gate import OUTCOMES, compare_run
    from loadwatch.stats.history import group_incidents, history_change_points
    from loadwatch.stats.model import ALL, DIRECTION, FLOORS, METRICS, GateConfig, RunPoint
    from loadwatch.stats.score import score
    from loadwatch.stats.thresholds import Threshold, evaluate_thresholds, parse_threshold

_HOME = {
    "ChangePoint": "edivisive",
    "detect_change_points": "edivisive",
    "OUTCOMES": "gate",
    "compare_run": "gate",
    "group_incidents": "history",
    "history_change_points": "history",
    "ALL": "model",
    "DIRECTION": "model",
    "FLOORS": "model",
    "METRICS": "model",
    "GateConfig": "model",
    "RunPoint": "model",
    "score": "score",
    "Threshold": "thresholds",
    "evaluate_thresholds": "thresholds",
    "parse_threshold": "thresholds",
}

__all__ = [
    "ALL",
    "DIRECTION",
    "FLOORS",
    "METRICS",
    "OUTCOMES",
    "ChangePoint",
    "GateConfig",
    "RunPoint",
    "Threshold",
    "compare_run",
    "detect_change_points",
    "evaluate_thresholds",
    "group_incidents",
    "history_change_points",
    "parse_threshold",
    "score",
]


__getattr__ = lazy_getattr(__name__, _HOME, globals())


def __dir__() -> list[str]:
    return sorted(__all__)
