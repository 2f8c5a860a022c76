"""One message from a night's events: the headline, what changed, every open change with its size and interval,
and the links (the report, the Prefect flow run). Plain text with Markdown-style lists: Apprise passes it to every
service as it is."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from loadwatch.changes import OpenChange
from loadwatch.notify.events import STILL_OPEN, Event, EventKind, change_line

__all__ = ["KIND_LABEL", "Links", "Message", "flow_run_url", "render", "report_url"]

KIND_LABEL: dict[EventKind, str] = {
    "opened": "new change",
    "reminder": "still open",
    "triaged": "triaged",
    "recovered": "recovered",
    "closed": "no longer open",
    "inconclusive": "inconclusive",
    "breach": "threshold breached",
    "breach_cleared": "threshold holds again",
    "crashed": "did not measure",
    "missed": "missed night",
}


class Links(BaseModel):
    model_config = ConfigDict(extra="forbid")

    report: str | None = None
    flow_run: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    body: str
    kinds: list[EventKind]


def report_url(base: str | None, run_id: str, local_path: str | None) -> str | None:
    """`base` with `{run_id}` filled in, or `base/<run id>/report.html`; without a base, the local file."""
    if base:
        return base.replace("{run_id}", run_id) if "{run_id}" in base else f"{base.rstrip('/')}/{run_id}/report.html"
    return local_path


def flow_run_url(ui_url: str | None, flow_run_id: str | None) -> str | None:
    """The flow run's page in the Prefect UI (`<ui>/runs/flow-run/<id>`)."""
    if not ui_url or not flow_run_id:
        return None
    return f"{ui_url.rstrip('/')}/runs/flow-run/{flow_run_id}"


def _title(plan: str, events: Sequence[Event]) -> str:
    counts: dict[EventKind, int] = {}
    for e in events:
        counts[e.kind] = counts.get(e.kind, 0) + 1
    parts = [KIND_LABEL[k] + (f" ({n})" if n > 1 else "") for k, n in counts.items()]
    return f"loadwatch {plan}: " + ", ".join(parts)


def render(plan: str, events: Sequence[Event], *, headline: str, run_id: str | None,
           open_changes: Sequence[OpenChange], links: Links, dropped: int = 0) -> Message:
    """The message of one night's (or the watchdog's) events; `dropped` undelivered older messages are said."""
    lines = [headline, ""]
    lines += [f"- {KIND_LABEL[e.kind].upper()}: {e.text}" for e in events]
    still = [c for c in open_changes if c.status in STILL_OPEN]
    if still:
        lines += ["", f"Open changes ({len(still)}):"]
        lines += [f"- {change_line(c)}" for c in still]
    lines.append("")
    if links.report:
        lines.append(f"Report: {links.report}")
    if links.flow_run:
        lines.append(f"Prefect flow run: {links.flow_run}")
    if run_id:
        lines.append(f"Run: {run_id}")
    if dropped:
        lines.append(f"({dropped} older undelivered notification(s) were dropped)")
    return Message(title=_title(plan, events), body="\n".join(lines).strip(), kinds=[e.kind for e in events])
