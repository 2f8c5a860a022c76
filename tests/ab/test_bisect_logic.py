"""The bisection's search (pure, over a fake A/B comparison: which commit is slow is decided by the test)."""

from __future__ import annotations

import math

import pytest

from loadwatch.ab.bisect import Commit, bisect
from loadwatch.ab.session import AbResult, AbSettings

COMMITS = [Commit(sha=f"{i:040x}", subject=f"commit {i}") for i in range(17)]  # 0 = good, 16 = bad


def _compare(culprit: int, undecided: frozenset[tuple[int, int]] = frozenset()):
    calls: list[tuple[int, int]] = []

    def compare(a: Commit, b: Commit) -> AbResult:
        i, j = COMMITS.index(a), COMMITS.index(b)
        calls.append((i, j))
        res = AbResult(plan="p", baseline=a.sha, candidate=b.sha, aa=False, settings=AbSettings())
        res.verdict = ("inconclusive" if (i, j) in undecided
                       else "regression" if i < culprit <= j else "no_regression")
        return res

    return compare, calls


@pytest.mark.parametrize("culprit", range(1, 17))
def test_every_position_is_found_in_log2_steps(culprit):
    compare, calls = _compare(culprit)
    out = bisect(COMMITS[0], COMMITS[16], COMMITS[1:], compare)
    assert out.verdict == "found" and out.culprit == COMMITS[culprit] and out.exit_code == 1
    assert out.culprit_step is not None and out.culprit_step.candidate == COMMITS[culprit]
    assert len(calls) <= 1 + math.ceil(math.log2(16)) + 1  # the check, the halvings, at most one confirmation


def test_no_regression_between_good_and_bad_ends_at_once():
    compare, calls = _compare(culprit=99)
    out = bisect(COMMITS[0], COMMITS[16], COMMITS[1:], compare)
    assert out.verdict == "no_regression" and out.exit_code == 0 and calls == [(0, 16)]


def test_an_inconclusive_step_is_checked_from_the_other_side():
    compare, calls = _compare(culprit=11, undecided=frozenset({(0, 8)}))
    out = bisect(COMMITS[0], COMMITS[16], COMMITS[1:], compare)
    assert out.culprit == COMMITS[11]
    assert calls[1:3] == [(0, 8), (8, 16)]


def test_undecidable_steps_are_inconclusive_not_a_guess():
    compare, _ = _compare(culprit=11, undecided=frozenset({(0, 8), (8, 16)}))
    out = bisect(COMMITS[0], COMMITS[16], COMMITS[1:], compare)
    assert out.verdict == "inconclusive" and out.culprit is None
    assert out.exit_code == 3 and "raise --budget" in out.reason
