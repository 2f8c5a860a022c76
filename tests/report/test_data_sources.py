"""The report's Data sources table, from a real run (conftest.stateful_run): a `unique` users file the logins draw
from, a `sequential` source that runs out and wraps, and a `random` one; its rows, draws, wraps and exhaustion in
report.md and report.html equal summary.json's `load.data`, and what a strategy cannot do shown as "–", never 0.
Plus the wording of a source that stopped the sends (pure: the view of one source's use)."""

from __future__ import annotations

import pytest

from loadwatch.load_shapes import DataUse
from loadwatch.report.data_sources import data_sources_view

from .conftest import Reported
from .tables import REL, html_sections, md_rows, md_section, num


def test_the_run_had_what_the_table_must_show(stateful_run: Reported) -> None:
    data = stateful_run.summary["load"]["data"]
    assert set(data) == {"users", "notes", "terms"}
    assert data["notes"]["exhausted"] and data["notes"]["wraps"] > 0 and data["notes"]["exhausted_at_s"] is not None
    assert not data["users"]["exhausted"] and data["users"]["rows"] == 8
    assert data["terms"]["used"] > 0 and data["terms"]["wraps"] == 0


def _check(rows: dict[str, list[str]], data: dict) -> None:
    """source -> [strategy, rows, used, wraps, exhausted at], against the summary."""
    for name, u in data.items():
        strategy, n_rows, used = rows[name][:3]
        assert strategy.startswith(u["strategy"]) and int(num(n_rows)) == u["rows"] and int(num(used)) == u["used"]
    notes, users, terms = rows["notes"], rows["users"], rows["terms"]
    assert notes[0] == "sequential (on_exhausted: wrap)" and int(num(notes[3])) == data["notes"]["wraps"]
    assert num(notes[4]) == pytest.approx(data["notes"]["exhausted_at_s"], rel=REL)
    assert notes[4].endswith(" s, then started over")
    assert users[3] == "–" and users[4] == "not exhausted"  # a unique source that stops cannot wrap
    assert terms[0] == "random" and terms[3] == "–" and terms[4] == "–"  # never wraps, never runs out: not 0


def test_markdown_shows_each_source(stateful_run: Reported) -> None:
    rows = {r[0]: [c.strip("*") for c in r[1:]] for r in md_rows(md_section(stateful_run.md, "Data sources"))}
    _check(rows, stateful_run.summary["load"]["data"])


def test_html_shows_each_source(stateful_run: Reported) -> None:
    rows, _ = html_sections(stateful_run.html)
    _check({r[0]: r[1:] for r in rows["data-sources"]}, stateful_run.summary["load"]["data"])
    assert '<tr class="row-suspect"><td class="mono">notes</td>' in stateful_run.html  # the one that ran out


def test_a_source_that_ran_out_and_stopped_says_when() -> None:
    use = DataUse(strategy="unique", on_exhausted="stop", rows=40, used=40, exhausted=True, wraps=0,
                  exhausted_at_s=12.5)
    (row,) = data_sources_view({"users": use})
    assert row["exhausted_at"] == "12.5 s, then stopped sending" and row["wraps"] == "–" and row["ran_out"]
    circular = DataUse(strategy="circular", on_exhausted="stop", rows=3, used=10, exhausted=False, wraps=3,
                       exhausted_at_s=None)
    (row,) = data_sources_view({"ids": circular})
    assert row["wraps"] == "3" and row["exhausted_at"] == "–" and not row["ran_out"]
