"""What is worth telling, decided from one night and what was told before: pure functions, no I/O.

A night yields events only on a change (docs/deploy.md, "Being told"): a change opened (told once a night at least
`tell_after_nights` into it is a regression again, after `tell_by_nights` held, or at once when it is large beyond
doubt), one still open past its
reminder interval, a change recovered, triaged or no longer listed, the N-th inconclusive night in a row, a threshold
newly breached or cleared, the first night of a streak that did not measure (the flow crashed, the target could not
be reached), and a missed night (no completed run for longer than the schedule allows). Everything else is silence.
`NotifyState` is what was told, per plan; it is kept in the trend store between nights."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from loadwatch.changes import ChangeStatus, OpenChange

__all__ = [
    "JUDGED_VERDICTS",
    "Event",
    "EventKind",
    "Night",
    "NotifyState",
    "PendingMessage",
    "Rules",
    "SentChange",
    "change_line",
    "missed_night",
    "night_events",
    "queue_pending",
    "tell_now",
]

EventKind = Literal[
    "opened", "reminder", "triaged", "recovered", "closed", "inconclusive", "breach", "breach_cleared", "crashed",
    "missed",
]
# nights whose comparison ran, so their list of open changes is complete: only they can close a change
JUDGED_VERDICTS = ("pass", "insufficient_history", "regression", "threshold_breach")
# nights that measured nothing a person could use: the first of a streak is told ("crashed")
UNMEASURED_VERDICTS = ("failed",)
STILL_OPEN: tuple[ChangeStatus, ...] = ("open", "confirmed")
MAX_PENDING = 20  # undelivered messages kept per plan; older ones are dropped with a line saying how many


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rules(_Model):
    """When to speak (the plan's `notify:` section)."""

    remind_after: timedelta = timedelta(days=7)
    inconclusive_nights: int = Field(3, ge=1)
    max_gap: timedelta = timedelta(hours=25)
    # a new change is told once a night at least this many into it is itself a regression again (its own runs fail
    # from the first), when it has been held `tell_by_nights` nights whatever they said, or at once when even its
    # interval's low end is this large: an excursion of a clean series that a noisy series' `suspect` nights keep
    # open never interrupts anyone (benchmarks/results/notify_false.md), a lasting or a large change does
    tell_after_nights: int = Field(2, ge=1)
    tell_by_nights: int = Field(5, ge=1)
    tell_at_once_percent: float = Field(100.0, gt=0)
    tell_at_once_points: float = Field(1.0, gt=0)  # error rate, in points


class Night(_Model):
    """What one night said, as the notifications need it."""

    run_id: str
    started_at: datetime
    verdict: str  # loadwatch.vocabulary.Verdict, or "crashed" when the flow died before it had one
    reasons: list[str] = Field(default_factory=list)
    open_changes: list[OpenChange] = Field(default_factory=list)
    breached: list[str] = Field(default_factory=list)  # threshold expressions that failed tonight
    previous_completed_at: datetime | None = None  # start of the plan's last completed run before this one


class Event(_Model):
    kind: EventKind
    text: str  # one line, as the message lists it
    change_id: str | None = None


class SentChange(_Model):
    """A change as it was last told."""

    status: ChangeStatus
    line: str
    first_sent_at: datetime
    last_sent_at: datetime


class PendingMessage(_Model):
    """A message a channel did not take; sent again before the next night's."""

    channel: str  # loadwatch.notify.channels.key: never the reference itself (it may hold a token)
    title: str
    body: str
    run_id: str | None = None
    kinds: list[EventKind] = Field(default_factory=list)
    attempts: int = 1


class NotifyState(_Model):
    """What was told for one plan (stored as JSON in `notify_state`)."""

    changes: dict[str, SentChange] = Field(default_factory=dict)
    breaches: dict[str, datetime] = Field(default_factory=dict)  # expression -> when last told
    inconclusive_streak: int = 0
    unmeasured_streak: int = 0
    last_run_id: str | None = None
    missed_after: datetime | None = None  # the completed run whose silence after it was already told
    pending: list[PendingMessage] = Field(default_factory=list)
    dropped: int = 0  # undelivered messages given up (over MAX_PENDING), said in the next delivered message


def _num(x: float) -> str:
    return f"{x:+.1f}"


def change_line(c: OpenChange) -> str:
    """`list_tools p95_ms +41.2 % [+35.0, +47.9] since 2026-12-02, open 5 nights (open)`."""
    unit = " %" if c.unit == "percent" else " points"
    size = "size unknown" if c.change_percent is None else _num(c.change_percent) + unit
    ci = f" [{_num(c.ci[0])}, {_num(c.ci[1])}]" if c.ci is not None else ""
    nights = f"{c.nights_open} night{'s' if c.nights_open != 1 else ''}"
    versions = ""
    if c.version_before or c.version_after:
        versions = f", version {c.version_before or '?'} -> {c.version_after or '?'}"
    triage = f", {c.triage.decision} by {c.triage.by}" if c.triage is not None else ""
    return (f"{c.scenario} {c.metric} {size}{ci} since {c.first_seen_at[:10]}, open {nights}{versions} "
            f"({c.status}{triage})")


def _due(last: datetime, now: datetime, rules: Rules) -> bool:
    return now - last >= rules.remind_after


def tell_now(c: OpenChange, rules: Rules) -> bool:
    """Whether a change nobody was told about yet is told tonight: held `tell_by_nights`; at least
    `tell_after_nights` into it on a night that shows it (`seen_tonight`: the opening night, or a later regression
    night); or large beyond doubt (the low end of its interval, or its size when it has none, at least
    `tell_at_once_*`)."""
    if c.nights_open >= rules.tell_by_nights:
        return True
    if c.nights_open >= rules.tell_after_nights and c.seen_tonight:
        return True
    low = c.ci[0] if c.ci is not None else c.change_percent
    if low is None:
        return False
    return low >= (rules.tell_at_once_points if c.unit == "points" else rules.tell_at_once_percent)


def _change_events(state: NotifyState, night: Night, rules: Rules, now: datetime) -> list[Event]:
    events: list[Event] = []
    listed = {c.change_id for c in night.open_changes}
    for c in night.open_changes:
        sent = state.changes.get(c.change_id)
        line = change_line(c)
        if c.status in STILL_OPEN:
            if sent is None:
                if not tell_now(c, rules):
                    continue  # held for now: told on a later night if it lasts; never if it recovers first
                events.append(Event(kind="opened", text=line, change_id=c.change_id))
                state.changes[c.change_id] = SentChange(status=c.status, line=line, first_sent_at=now,
                                                        last_sent_at=now)
            elif sent.status != c.status:  # open -> confirmed: a person's decision
                events.append(Event(kind="triaged", text=line, change_id=c.change_id))
                state.changes[c.change_id] = sent.model_copy(update={"status": c.status, "line": line,
                                                                     "last_sent_at": now})
            elif _due(sent.last_sent_at, now, rules):
                events.append(Event(kind="reminder", text=line, change_id=c.change_id))
                state.changes[c.change_id] = sent.model_copy(update={"line": line, "last_sent_at": now})
        elif sent is not None:  # expected, dismissed (a decision) or recovered (the series came back)
            kind: EventKind = "recovered" if c.status == "recovered" else "triaged"
            events.append(Event(kind=kind, text=line, change_id=c.change_id))
            del state.changes[c.change_id]
    for change_id in [k for k in state.changes if k not in listed]:
        # told as open, and a complete list no longer has it: say so rather than go quiet
        sent = state.changes.pop(change_id)
        events.append(Event(kind="closed", text=f"{sent.line}: no longer listed as open", change_id=change_id))
    return events


def _breach_events(state: NotifyState, night: Night, rules: Rules, now: datetime) -> list[Event]:
    events: list[Event] = []
    for expr in night.breached:
        last = state.breaches.get(expr)
        if last is None:
            events.append(Event(kind="breach", text=f"threshold {expr} breached"))
            state.breaches[expr] = now
        elif _due(last, now, rules):
            events.append(Event(kind="reminder", text=f"threshold {expr} still breached"))
            state.breaches[expr] = now
    for expr in [e for e in state.breaches if e not in night.breached]:
        events.append(Event(kind="breach_cleared", text=f"threshold {expr} holds again"))
        del state.breaches[expr]
    return events


def missed_night(state: NotifyState, last_completed_at: datetime | None, now: datetime,
                 rules: Rules) -> tuple[Event | None, NotifyState]:
    """The missed-night event when the plan's last completed run started longer ago than `rules.max_gap`, once per
    silence (a later completed run starts a new one); None when there is no run at all to miss."""
    if last_completed_at is None or now - last_completed_at <= rules.max_gap:
        return None, state
    if state.missed_after is not None and state.missed_after >= last_completed_at:
        return None, state
    hours = (now - last_completed_at).total_seconds() / 3600
    event = Event(kind="missed", text=(f"no completed run for {hours:.0f} h (the last started "
                                       f"{last_completed_at.isoformat(timespec='minutes')}; allowed "
                                       f"{rules.max_gap.total_seconds() / 3600:g} h)"))
    return event, state.model_copy(update={"missed_after": last_completed_at})


def night_events(state: NotifyState, night: Night, rules: Rules, now: datetime) -> tuple[list[Event], NotifyState]:
    """The events of one night and the state after telling them. The same night twice says nothing the second
    time; a night that was not judged (inconclusive, aborted, failed, crashed) leaves the open changes as told."""
    if night.run_id == state.last_run_id:
        return [], state
    state = state.model_copy(deep=True)
    state.last_run_id = night.run_id
    events: list[Event] = []
    if night.previous_completed_at is not None:
        missed, state = missed_night(state, night.previous_completed_at, night.started_at, rules)
        if missed is not None:
            events.append(missed)
    if night.verdict in (*UNMEASURED_VERDICTS, "crashed"):
        state.unmeasured_streak += 1
        if state.unmeasured_streak == 1:
            what = "the flow crashed" if night.verdict == "crashed" else "the night measured nothing"
            events.append(Event(kind="crashed", text=f"{what}: {'; '.join(night.reasons[:3]) or 'no reason given'}"))
        return events, state
    state.unmeasured_streak = 0
    if night.verdict == "inconclusive":
        state.inconclusive_streak += 1
        if state.inconclusive_streak == rules.inconclusive_nights:
            events.append(Event(kind="inconclusive", text=(
                f"inconclusive {rules.inconclusive_nights} nights in a row: "
                f"{'; '.join(night.reasons[:3]) or 'no reason given'}")))
        return events, state
    if night.verdict not in JUDGED_VERDICTS:  # aborted: a person stopped it
        return events, state
    state.inconclusive_streak = 0
    events += _change_events(state, night, rules, now)
    events += _breach_events(state, night, rules, now)
    return events, state


def queue_pending(state: NotifyState, failed: Sequence[PendingMessage]) -> NotifyState:
    """`failed` appended to the state's pending messages, the oldest dropped (and counted) beyond MAX_PENDING."""
    pending = [*state.pending, *failed]
    over = max(0, len(pending) - MAX_PENDING)
    return state.model_copy(update={"pending": pending[over:], "dropped": state.dropped + over})
