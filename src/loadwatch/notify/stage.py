"""The notification stage: after a night is stored, tell what changed through the plan's channels, with the state
of what was told kept in the trend store. Also the missed-night watchdog (`loadwatch watchdog`), which needs no
night at all.

Never changes the verdict and never fails the run: a channel that fails is a warning, its message is kept in the
state and sent again (before anything newer) by the next night or watchdog pass; a store that cannot be reached
defers the night's notifications (a warning) and the next night tells what is still true then."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Connection

from loadwatch import store
from loadwatch.changes import OpenChange
from loadwatch.config import NotifySpec, Plan
from loadwatch.errors import TargetUnavailable
from loadwatch.notify import channels
from loadwatch.notify.events import (
    Event,
    EventKind,
    Night,
    NotifyState,
    PendingMessage,
    Rules,
    missed_night,
    night_events,
    queue_pending,
)
from loadwatch.notify.message import Links, Message, flow_run_url, render, report_url
from loadwatch.record import RunSummary, new_run_id

__all__ = [
    "NotifyInput",
    "NotifyOutcome",
    "night_input",
    "notify_night",
    "prefect_ui_url",
    "rules_of",
    "unmeasured_input",
    "watch_missed",
]

log = logging.getLogger("loadwatch.notify")


class NotifyInput(BaseModel):
    """What the chain hands the stage: the plan's name and `notify:` section (with `--notify` channels added), the
    night, and where its report and flow run are."""

    model_config = ConfigDict(extra="forbid")

    plan_name: str
    notify: NotifySpec
    night: Night
    flow_run_id: str | None = None
    report_path: str | None = None


class NotifyOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventKind] = Field(default_factory=list)
    delivered: int = 0  # messages taken by a channel (retried ones included)
    warnings: list[str] = Field(default_factory=list)


def night_input(plan: Plan, summary: RunSummary, open_changes: Sequence[OpenChange | Mapping[str, Any]],
                report_path: Path | None) -> NotifyInput:
    """A stored night as the notify stage takes it; `open_changes` as the comparison listed them."""
    night = Night(run_id=summary.run_id, started_at=datetime.fromisoformat(summary.started_at or ""),
                  verdict=summary.verdict, reasons=list(summary.verdict_reasons),
                  open_changes=[OpenChange.model_validate(c) for c in open_changes],
                  breached=[str(t.get("expr")) for t in summary.thresholds if t.get("passed") is False])
    return NotifyInput(plan_name=plan.name, notify=plan.notify, night=night, flow_run_id=summary.flow_run_id,
                       report_path=str(report_path) if report_path is not None else None)


def unmeasured_input(plan: Plan, exc: BaseException, *, started_at: datetime,
                     flow_run_id: str | None) -> NotifyInput:
    """A night that ended without a measurement: the target could not be reached, or the flow crashed."""
    what = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
    night = Night(run_id=new_run_id(started_at), started_at=started_at,
                  verdict="failed" if isinstance(exc, TargetUnavailable) else "crashed", reasons=[str(what)])
    return NotifyInput(plan_name=plan.name, notify=plan.notify, night=night, flow_run_id=flow_run_id)


def rules_of(spec: NotifySpec) -> Rules:
    return Rules(remind_after=timedelta(days=spec.remind_days), inconclusive_nights=spec.inconclusive_nights,
                 max_gap=timedelta(hours=spec.max_gap_hours), tell_after_nights=spec.tell_after_nights,
                 tell_by_nights=spec.tell_by_nights,
                 tell_at_once_percent=spec.tell_at_once_percent, tell_at_once_points=spec.tell_at_once_points)


def prefect_ui_url(spec: NotifySpec) -> str | None:
    """The plan's, else PREFECT_UI_URL, else PREFECT_API_URL without its `/api`."""
    if spec.prefect_ui_url:
        return spec.prefect_ui_url
    if os.environ.get("PREFECT_UI_URL"):
        return os.environ["PREFECT_UI_URL"]
    api = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    return api.removesuffix("/api") if api.endswith("/api") else None


def _state(conn: Connection, plan: str, warnings: list[str]) -> NotifyState:
    raw = store.read_notify_state(conn, plan)
    try:
        return NotifyState.model_validate(raw or {})
    except ValidationError:  # written by another version: start afresh rather than stop telling
        warnings.append(f"notifications: the stored state of plan {plan!r} was unreadable and was reset")
        return NotifyState()


def _try(conn: Connection, plan: str, ref: str, msg: PendingMessage, warnings: list[str]) -> bool:
    """Send `msg` through `ref` (msg.channel is its key), log the attempt; whether it was delivered."""
    error: str | None = None
    try:
        channels.send(ref, msg.title, msg.body)
    except Exception as exc:  # any failure of a channel is a warning, never the run's end
        error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        warnings.append(f"notification via {channels.describe(ref)} failed ({error}); it is sent again next run")
        ok = False
    else:
        ok = True
    store.log_notification(conn, plan=plan, run_id=msg.run_id, channel=msg.channel, kinds=msg.kinds, title=msg.title,
                           body=msg.body, delivered=ok, error=error)
    return ok


def _deliver(conn: Connection, plan: str, refs: list[str], state: NotifyState, message: Message | None,
             run_id: str | None, warnings: list[str]) -> tuple[NotifyState, int]:
    """Earlier undelivered messages first (on channels still configured), then `message` on every channel."""
    delivered = 0
    kept: list[PendingMessage] = []
    by_key = {channels.key(ref): ref for ref in refs}
    for p in state.pending:
        if p.channel not in by_key:
            continue  # the channel was removed from the plan: nobody to tell there any more
        if _try(conn, plan, by_key[p.channel], p, warnings):
            delivered += 1
        else:
            kept.append(p.model_copy(update={"attempts": p.attempts + 1}))
    failed: list[PendingMessage] = []
    if message is not None:
        for channel, ref in by_key.items():
            msg = PendingMessage(channel=channel, title=message.title, body=message.body, run_id=run_id,
                                 kinds=message.kinds)
            if _try(conn, plan, ref, msg, warnings):
                delivered += 1
            else:
                failed.append(msg)
    state = state.model_copy(update={"pending": kept, "dropped": 0 if message is not None and delivered else
                                     state.dropped})
    return queue_pending(state, failed), delivered


def _message(inp: NotifyInput, events: list[Event], dropped: int) -> Message:
    night = inp.night
    headline = f"{night.verdict.upper()}" + (f": {'; '.join(night.reasons[:3])}" if night.reasons else "")
    links = Links(report=report_url(inp.notify.report_url, night.run_id, inp.report_path),
                  flow_run=flow_run_url(prefect_ui_url(inp.notify), inp.flow_run_id))
    # a night that did not measure has no stored run of that id (a failed preflight is stored under its own)
    run_id = None if night.verdict in ("crashed", "failed") else night.run_id
    return render(inp.plan_name, events, headline=headline, run_id=run_id, open_changes=night.open_changes,
                  links=links, dropped=dropped)


def notify_night(inp: NotifyInput, store_url: str, *, now: datetime | None = None) -> NotifyOutcome:
    """Tell what changed tonight; never raises (its problems are the outcome's warnings)."""
    refs = inp.notify.channels()
    if not refs:
        return NotifyOutcome()
    now = now or datetime.now(UTC)
    warnings: list[str] = []
    try:
        engine = store.connect(store_url)
        try:
            with store.map_db_errors(store_url), engine.begin() as conn:
                state = _state(conn, inp.plan_name, warnings)
                night = inp.night.model_copy(update={"previous_completed_at": store.last_completed_run(
                    conn, inp.plan_name, before=inp.night.started_at)})
                events, state = night_events(state, night, rules_of(inp.notify), now)
                message = _message(inp, events, state.dropped) if events else None
                state, delivered = _deliver(conn, inp.plan_name, refs, state, message, night.run_id, warnings)
                store.write_notify_state(conn, inp.plan_name, state.model_dump_json())
        finally:
            engine.dispose()
    except Exception as exc:  # the store (or a bug here) must not cost the night its verdict
        warnings.append(f"notifications deferred to the next run: {getattr(exc, 'message', exc)}")
        return NotifyOutcome(warnings=warnings)
    for w in warnings:
        log.warning("%s", w)
    return NotifyOutcome(events=[e.kind for e in events], delivered=delivered, warnings=warnings)


def watch_missed(plan_name: str, spec: NotifySpec, store_url: str, *, now: datetime | None = None) -> NotifyOutcome:
    """The missed-night watchdog for one plan: tell once when its last completed run is older than
    `max_gap_hours`, and send what earlier passes could not. Raises StoreUnavailable (the watchdog's own exit 3)."""
    refs = spec.channels()
    now = now or datetime.now(UTC)
    warnings: list[str] = []
    engine = store.connect(store_url)
    try:
        with store.map_db_errors(store_url), engine.begin() as conn:
            state = _state(conn, plan_name, warnings)
            last = store.last_completed_run(conn, plan_name)
            event, state = missed_night(state, last, now, rules_of(spec))
            message = None
            if event is not None:
                message = render(plan_name, [event], headline=f"MISSED NIGHT: plan {plan_name}", run_id=None,
                                 open_changes=[], links=Links(), dropped=state.dropped)
            state, delivered = _deliver(conn, plan_name, refs, state, message, None, warnings)
            store.write_notify_state(conn, plan_name, state.model_dump_json())
    finally:
        engine.dispose()
    for w in warnings:
        log.warning("%s", w)
    return NotifyOutcome(events=[event.kind] if event else [], delivered=delivered, warnings=warnings)
