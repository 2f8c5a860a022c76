"""The session's pure helpers: ABBA order, the looks' positions, sticky decisions, generator-bound pairs left out."""

from __future__ import annotations

from loadwatch.ab.session import RoundRecord, _look_points, _merge_sticky, _usable_order, order_of
from loadwatch.stats.paired import Row, pair_rounds


def _row(verdict: str, scenario: str = "*") -> Row:
    return Row(scenario, "p50", verdict, "", 4, 0.01, 0.025, None, None, None)  # type: ignore[arg-type]


def test_abba_order():
    assert "".join(order_of(i) for i in range(8)) == "ABBAABBA"


def test_look_points_are_equal_shares_and_end_at_the_plan():
    assert _look_points(12, 3) == [4, 8, 12]
    assert _look_points(2, 3) == [1, 2]
    assert _look_points(1, 3) == [1]


def test_a_decision_stands_and_undecided_rows_follow_the_look():
    sticky: dict[tuple[str, str], Row] = {}
    first = _merge_sticky(sticky, [_row("no_change"), _row("inconclusive", "s")])
    assert [r.verdict for r in first] == ["no_change", "inconclusive"]
    second = _merge_sticky(sticky, [_row("regression"), _row("regression", "s")])
    assert [r.verdict for r in second] == ["no_change", "regression"]


def test_generator_bound_rounds_leave_their_pair_out():
    rounds = [RoundRecord(i, order_of(i), 0.0, 10, 0, 1.0, 1.0, 1.0, i == 2, {}) for i in range(6)]
    order = _usable_order(rounds)
    assert order == ["A", "B", "-", "A", "A", "B"]
    assert pair_rounds(order) == [(0, 1), (4, 5)]
