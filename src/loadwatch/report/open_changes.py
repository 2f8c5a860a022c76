"""The report's "Open changes" section: every change the night followed or opened (or, in the trend review, the
series' changes), its size with its interval, since when, its state and decision, and the command to triage it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loadwatch.changes import OpenChange

__all__ = ["open_changes_view"]

STATE = {"open": "open, untriaged", "confirmed": "confirmed (known, being worked on)",
         "expected": "expected (accepted)", "dismissed": "dismissed (false alarm)",
         "recovered": "recovered (back at its baseline, no decision)"}


def _size(c: OpenChange) -> str:
    if c.change_percent is None:
        return "n/a"
    unit = "pts" if c.unit == "points" else "%"
    size = f"{c.change_percent:+.1f} {unit}"
    if c.ci is not None:
        size += f" [{c.ci[0]:+.1f}, {c.ci[1]:+.1f}]"
    return size


def open_changes_view(changes: Sequence[OpenChange]) -> list[dict[str, Any]]:
    """One formatted row per change."""
    out: list[dict[str, Any]] = []
    for c in changes:
        t = c.triage
        out.append({
            "id": c.change_id,
            "scenario": c.scenario,
            "metric": c.metric,
            "size": _size(c),
            "since": c.first_seen_at[:10],
            "first_run": c.first_run_id,
            "nights": c.nights_open,
            "state": STATE.get(c.status, c.status),
            "status": c.status,
            "failing": c.failing,
            "versions": f"{c.version_before or '?'} → {c.version_after or '?'}"
            if c.version_before or c.version_after else "",
            "decision": f"{t.decision} by {t.by} at {t.at[:16].replace('T', ' ')}" + (f": {t.note}" if t.note else "")
            if t is not None else "",
            "command": c.triage_command if c.status in ("open", "confirmed", "recovered") else "",
        })
    return out
