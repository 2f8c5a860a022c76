"""The report's capacity section: the capacity stage's answer (loadwatch.capacity), its bracket and why the search
ended, formatted."""

from __future__ import annotations

from typing import Any

from loadwatch.load_shapes import CapacityBlock
from loadwatch.report.charts import as_float
from loadwatch.report.format import as_text, fmt_num, fmt_pct, fmt_value

__all__ = ["capacity_view"]


def capacity_view(c: CapacityBlock | None) -> dict[str, Any] | None:
    """The capacity stage's answer, formatted; None when the run had no capacity stage."""
    if c is None:
        return None
    bracket = [*c["bracket"], None, None]
    return {
        "value": fmt_value("capacity_rps", c["capacity_rps"]),
        "found": as_float(c["capacity_rps"]) is not None,
        "last_good": fmt_value("capacity_rps", bracket[0]),
        "first_bad": fmt_value("capacity_rps", bracket[1]),
        "width": fmt_pct(c["bracket_width_percent"]),
        "binding_slo": as_text(c["binding_slo"]),
        "outcome": c["outcome"].replace("_", " "),
        "reason": c["reason"],
        "slos": list(c["slos"]),
        "steps": len(c["steps"]),
        "elapsed": fmt_num(c["elapsed_s"]),
        "budget": fmt_num(c["budget_s"]),
    }
