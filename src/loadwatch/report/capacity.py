"""The report's capacity section: the capacity stage's answer (loadwatch.capacity), its bracket and why the search
ended, formatted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadwatch.report.charts import as_float
from loadwatch.report.format import as_list, as_text, fmt_num, fmt_pct, fmt_value

__all__ = ["capacity_view"]


def capacity_view(c: Mapping[str, Any]) -> dict[str, Any] | None:
    """The capacity stage's answer, formatted; None when the run had no capacity stage."""
    if not c:
        return None
    bracket = [*as_list(c.get("bracket")), None, None]
    return {
        "value": fmt_value("capacity_rps", c.get("capacity_rps")),
        "found": as_float(c.get("capacity_rps")) is not None,
        "last_good": fmt_value("capacity_rps", bracket[0]),
        "first_bad": fmt_value("capacity_rps", bracket[1]),
        "width": fmt_pct(c.get("bracket_width_percent")),
        "binding_slo": as_text(c.get("binding_slo")),
        "outcome": as_text(c.get("outcome")).replace("_", " "),
        "reason": as_text(c.get("reason")),
        "slos": [as_text(x) for x in as_list(c.get("slos"))],
        "steps": len(as_list(c.get("steps"))),
        "elapsed": fmt_num(c.get("elapsed_s")),
        "budget": fmt_num(c.get("budget_s")),
    }

