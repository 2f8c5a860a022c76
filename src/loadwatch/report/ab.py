"""The report's same-night A/B section (summary.json's `ab`, loadwatch.pipeline.ab_stage), formatted: the two
builds, the session's verdict and one line per row (change, interval, pairs)."""

from __future__ import annotations

from typing import Any

from loadwatch.findings import AbBlock, AbRow

__all__ = ["ab_view"]

_VERDICT = {"regression": "regression", "no_regression": "no regression", "inconclusive": "inconclusive"}


def _pct(v: float | None, open_end: str) -> str:
    return open_end if v is None else f"{v:+.1f} %"


def _row(r: AbRow) -> dict[str, Any]:
    judged = r["change_percent"] is not None
    return {
        "scenario": "whole run" if r["scenario"] == "*" else r["scenario"],
        "percentile": r["percentile"],
        "verdict": r["verdict"].replace("_", " "),
        "regression": r["verdict"] == "regression",
        "change": _pct(r["change_percent"], "–") if judged else "–",
        "interval": (f"[{_pct(r['ci_low_percent'], '−∞')}, {_pct(r['ci_high_percent'], '+∞')}]" if judged else "–"),
        "pairs": r["pairs"],
        "reason": r["reason"],
    }


def ab_view(block: AbBlock | None) -> dict[str, Any] | None:
    """None when the night had no A/B stage."""
    if block is None:
        return None
    return {
        "status": block["status"],
        "verdict": _VERDICT.get(block["verdict"], block["verdict"]),
        "regression": block["verdict"] == "regression",
        "reason": block["reason"] or "",
        "baseline": block["baseline"],
        "candidate": block["candidate"],
        "pairs": block["pairs"],
        "elapsed": f"{block['elapsed_s']:g}",
        "warnings": list(block["warnings"]),
        "rows": [_row(r) for r in block["rows"]],
    }
