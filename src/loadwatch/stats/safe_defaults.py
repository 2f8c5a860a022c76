"""Checks every night makes even when the plan has no thresholds (docs/METHOD.md §5.1), so a service that never
works fails its first night instead of becoming its own baseline:

- `error_rate < 1%` on the whole run, unless the plan has its own `error_rate` threshold on the whole run (then
  the plan's replaces it: write `error_rate < 5%` to allow more);
- every scenario that sent requests got answers: one with none (every request refused, reset or timed out) has
  nothing to measure, and that is a failure, never a pass.

The rows look like the plan's threshold rows (`stats.evaluate_thresholds`) with `default: true` and a reason that
says they are defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loadwatch.stats.thresholds import evaluate_thresholds, parse_threshold

__all__ = ["DEFAULT_ERROR_RATE", "default_checks"]

DEFAULT_ERROR_RATE = "error_rate < 1%"


def _answers(name: str, block: Mapping[str, Any]) -> dict[str, Any] | None:
    requests = int(block.get("requests") or 0)
    if requests <= 0:
        return None
    answered = (block.get("latency_ms") or {}).get("p50") is not None
    row: dict[str, Any] = {"expr": f"{name}: answers > 0", "scenario": name, "metric": "answers", "op": ">",
                           "value": None if not answered else float(requests - int(block.get("errors") or 0)),
                           "limit": 0.0, "unit": "", "passed": answered, "default": True}
    if not answered:
        row["reason"] = f"no answers to {requests} requests (a default check: a scenario must get answers)"
    return row


def default_checks(plan_exprs: Sequence[str], load: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The default rows for this run, given the plan's own threshold expressions (already validated)."""
    if not load or not load.get("requests"):
        return []
    out: list[dict[str, Any]] = []
    own = [parse_threshold(e) for e in plan_exprs]
    if not any(t.metric == "error_rate" and t.scenario == "*" for t in own):
        row = evaluate_thresholds([DEFAULT_ERROR_RATE], load, source="default")[0]
        row["default"] = True
        if not row["passed"]:
            row["reason"] = (f"value {row['value']:.2f} %; a default check: the plan sets no error_rate threshold "
                             "(set one to change the limit)")
        out.append(row)
    for name, block in sorted((load.get("scenarios") or {}).items()):
        answers = _answers(name, block)
        if answers is not None:
            out.append(answers)
    return out
