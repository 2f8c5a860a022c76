"""Regression detection as pure functions: the same-night gate, change points over history, thresholds, the
seed's score. The method, every rule and default with its source: docs/METHOD.md."""

from __future__ import annotations

from loadwatch.stats.edivisive import ChangePoint, detect_change_points
from loadwatch.stats.gate import OUTCOMES, compare_run
from loadwatch.stats.history import group_incidents, history_change_points
from loadwatch.stats.model import ALL, DIRECTION, FLOORS, METRICS, GateConfig, RunPoint
from loadwatch.stats.score import score
from loadwatch.stats.thresholds import Threshold, evaluate_thresholds, parse_threshold

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
