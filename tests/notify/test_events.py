"""The event rules, on pure inputs: only changes are told, reminders at their interval, streaks told once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loadwatch.changes import ChangeStatus, OpenChange, Triage
from loadwatch.notify.events import (
    MAX_PENDING,
    Night,
    NotifyState,
    PendingMessage,
    Rules,
    change_line,
    missed_night,
    night_events,
    queue_pending,
    tell_now,
)

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
RULES = Rules(tell_after_nights=1)  # told on the first night: the holding rule has its own tests below


def change(status: ChangeStatus = "open", *, cid: str = "c1", nights: int = 1,
           triage: Triage | None = None, again: bool | None = None) -> OpenChange:
    """`again`: tonight shows the change (by default every night does: the opening night always, later nights when
    their row is a regression)."""
    return OpenChange(change_id=cid, scenario="list_tools", metric="p95_ms", status=status, change_percent=41.2,
                      ci=(35.0, 47.9), first_run_id="r1", first_seen_at="2026-12-01T02:00:00+00:00",
                      nights_open=nights, failing=status == "open", triage=triage,
                      seen_tonight=True if again is None else again)


def night(i: int, verdict: str = "pass", changes: list[OpenChange] | None = None,
          breached: list[str] | None = None, prev: datetime | None = None) -> Night:
    return Night(run_id=f"r{i}", started_at=T0 + timedelta(days=i), verdict=verdict, reasons=["why"],
                 open_changes=changes or [], breached=breached or [], previous_completed_at=prev)


def run(nights: list[Night], rules: Rules = RULES) -> list[list[str]]:
    state = NotifyState()
    out = []
    for n in nights:
        events, state = night_events(state, n, rules, n.started_at)
        out.append([e.kind for e in events])
    return out


def test_clean_nights_say_nothing() -> None:
    assert run([night(i) for i in range(30)]) == [[]] * 30


def test_a_change_is_told_when_it_opens_then_weekly_then_when_it_recovers() -> None:
    nights = [night(0)] + [night(i, "regression", [change(nights=i)]) for i in range(1, 16)]
    nights.append(night(16, "pass", [change("recovered", nights=16)]))
    nights.append(night(17))
    kinds = run(nights)
    assert kinds[1] == ["opened"]
    assert [i for i, k in enumerate(kinds) if k == ["reminder"]] == [8, 15]  # 7 days after it was told, twice
    assert kinds[16] == ["recovered"]
    assert sum(map(len, kinds)) == 4


def test_triage_is_told_once_and_a_confirmed_change_keeps_its_reminders() -> None:
    who = Triage(decision="confirmed", by="ana", at="2026-12-03T09:00:00+00:00", note="known")
    nights = [night(1, "regression", [change()]), night(2, "pass", [change("confirmed", triage=who)])]
    nights += [night(i, "pass", [change("confirmed", triage=who)]) for i in range(3, 10)]
    nights.append(night(10, "pass", [change("expected", triage=who.model_copy(update={"decision": "expected"}))]))
    kinds = run(nights)
    assert kinds[0] == ["opened"] and kinds[1] == ["triaged"]
    assert kinds[8] == ["reminder"]  # night 9: 7 days after the triage was told
    assert kinds[9] == ["triaged"]  # expected: accepted, no longer told
    assert sum(map(len, kinds)) == 4


def test_a_change_no_longer_listed_on_a_judged_night_is_closed_but_not_on_an_inconclusive_one() -> None:
    kinds = run([night(1, "regression", [change()]), night(2, "inconclusive"), night(3, "pass")])
    assert kinds == [["opened"], [], ["closed"]]


def test_inconclusive_is_told_on_the_nth_night_of_a_streak_only() -> None:
    kinds = run([night(i, "inconclusive") for i in range(1, 6)] + [night(6)] + [night(i, "inconclusive")
                                                                              for i in range(7, 10)])
    assert kinds == [[], [], ["inconclusive"], [], [], [], [], [], ["inconclusive"]]


def test_a_crash_or_an_unreachable_target_is_told_once_per_streak() -> None:
    kinds = run([night(1, "crashed"), night(2, "failed"), night(3), night(4, "failed")])
    assert kinds == [["crashed"], [], [], ["crashed"]]


def test_a_breach_is_told_when_it_starts_and_when_it_clears() -> None:
    b = ["p95 < 50ms"]
    kinds = run([night(1, "threshold_breach", breached=b), night(2, "threshold_breach", breached=b), night(3)])
    assert kinds == [["breach"], [], ["breach_cleared"]]


def test_the_same_night_twice_says_nothing_the_second_time() -> None:
    state = NotifyState()
    n = night(1, "regression", [change()])
    first, state = night_events(state, n, RULES, n.started_at)
    again, _ = night_events(state, n, RULES, n.started_at)
    assert [e.kind for e in first] == ["opened"] and again == []


def test_missed_night_once_per_silence() -> None:
    state = NotifyState()
    last = T0
    assert missed_night(state, last, T0 + timedelta(hours=24), RULES)[0] is None
    event, state = missed_night(state, last, T0 + timedelta(hours=26), RULES)
    assert event is not None and event.kind == "missed" and "26 h" in event.text
    assert missed_night(state, last, T0 + timedelta(hours=50), RULES)[0] is None  # told already
    later = T0 + timedelta(days=3)  # a run came, then silence again
    assert missed_night(state, later, later + timedelta(hours=30), RULES)[0] is not None
    assert missed_night(NotifyState(), None, T0, RULES)[0] is None  # nothing ever ran: nothing to miss


def test_a_night_after_a_gap_tells_the_missed_night_unless_the_watchdog_did() -> None:
    gap = night(5, prev=T0 + timedelta(days=3))  # 48 h since the previous completed run
    events, _state = night_events(NotifyState(), gap, RULES, gap.started_at)
    assert [e.kind for e in events] == ["missed"]
    told = NotifyState(missed_after=T0 + timedelta(days=3))
    assert night_events(told, gap, RULES, gap.started_at)[0] == []


@pytest.mark.parametrize("reminder_days", [1, 3])
def test_the_reminder_interval_is_the_plans(reminder_days: int) -> None:
    rules = Rules(remind_after=timedelta(days=reminder_days), tell_after_nights=1)
    kinds = run([night(i, "regression", [change()]) for i in range(10)], rules)
    assert [i for i, k in enumerate(kinds) if k == ["reminder"]] == list(range(reminder_days, 10, reminder_days))


def test_pending_messages_are_bounded_and_the_dropped_counted() -> None:
    msg = PendingMessage(channel="json://127.0.0.1/x", title="t", body="b")
    state = queue_pending(NotifyState(), [msg] * (MAX_PENDING + 3))
    assert len(state.pending) == MAX_PENDING and state.dropped == 3


def test_change_line_says_size_interval_since_and_nights() -> None:
    line = change_line(change(nights=5))
    assert line == "list_tools p95_ms +41.2 % [+35.0, +47.9] since 2026-12-01, open 5 nights (open)"
    pts = change().model_copy(update={"unit": "points", "change_percent": None, "ci": None})
    assert "size unknown" in change_line(pts)


def test_by_default_a_new_change_is_told_on_its_second_night_and_a_one_night_excursion_never() -> None:
    rules = Rules()
    kinds = run([night(1, "regression", [change(nights=1)]), night(2, "pass", [change("recovered", nights=1)]),
                 night(3, "regression", [change(cid="c2", nights=1)]),
                 night(4, "regression", [change(cid="c2", nights=2)]),
                 night(5, "pass", [change("recovered", cid="c2", nights=2)])], rules)
    assert kinds == [[], [], [], ["opened"], ["recovered"]]


def test_a_change_only_held_by_suspect_nights_is_told_when_seen_again_or_on_its_fifth_night() -> None:
    rules = Rules()
    # opened, then two nights that only keep it (suspect: past the floor and the interval, the z short), a third a
    # regression again: told that night, not before
    held = [night(i, "regression", [change(nights=i, again=i in (1, 4))]) for i in range(1, 5)]
    assert run(held, rules) == [[], [], [], ["opened"]]
    # never a regression again, but held for five nights: told on the fifth all the same (it fails every night)
    kept = [night(i, "regression", [change(nights=i, again=i == 1)]) for i in range(1, 7)]
    assert run(kept, rules) == [[], [], [], [], ["opened"], []]
    assert run(kept, Rules(tell_by_nights=3)) == [[], [], ["opened"], [], [], []]
    # told on the first night means the first night, seen again or not
    assert run(kept[:1], Rules(tell_after_nights=1)) == [["opened"]]


def test_a_large_change_is_told_at_once() -> None:
    rules = Rules()
    big = change().model_copy(update={"change_percent": 150.0, "ci": (120.0, 180.0)})
    wide = change().model_copy(update={"change_percent": 150.0, "ci": (40.0, 260.0)})  # its low end is not
    errors = change().model_copy(update={"metric": "error_rate", "unit": "points", "change_percent": 4.0,
                                         "ci": (2.5, 5.5)})
    assert [tell_now(c, rules) for c in (big, wide, errors, change())] == [True, False, True, False]
    assert run([night(1, "regression", [big])], rules) == [["opened"]]
