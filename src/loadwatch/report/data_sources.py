"""The report's "Data sources" table (the load summary's `data`, loadwatch.engine.data): per source its strategy, the
rows the run could draw, the draws, how often it started over and when it ran out. What a strategy cannot do is
shown as not applicable ("–"), never as 0: a `random` source neither wraps nor runs out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from loadwatch.load_shapes import DataUse
from loadwatch.report.format import fmt_num

__all__ = ["DataSourceRow", "data_sources_view"]

_RUNS_OUT = ("sequential", "unique")  # the strategies that can run out (then: on_exhausted)


class DataSourceRow(TypedDict):
    name: str
    strategy: str  # with what happens at its end, for those that have one
    rows: str
    used: str
    wraps: str  # "–": the strategy never starts over
    exhausted_at: str  # "–": the strategy never runs out; "not exhausted": it did not this run
    ran_out: bool


def _row(name: str, u: DataUse) -> DataSourceRow:
    strategy = u["strategy"]
    runs_out = strategy in _RUNS_OUT
    wraps = strategy == "circular" or (runs_out and u["on_exhausted"] == "wrap")
    if not runs_out:
        at = "–"
    elif not u["exhausted"]:
        at = "not exhausted"
    else:
        then = "then stopped sending" if u["on_exhausted"] == "stop" else "then started over"
        when = f"{fmt_num(u['exhausted_at_s'])} s" if u["exhausted_at_s"] is not None else "yes"
        at = f"{when}, {then}"
    return DataSourceRow(
        name=name,
        strategy=f"{strategy} (on_exhausted: {u['on_exhausted']})" if runs_out else strategy,
        rows=fmt_num(u["rows"]),
        used=fmt_num(u["used"]),
        wraps=fmt_num(u["wraps"]) if wraps else "–",
        exhausted_at=at,
        ran_out=runs_out and u["exhausted"],
    )


def data_sources_view(data: Mapping[str, DataUse]) -> list[DataSourceRow]:
    """One row per source; empty when the plan had no `data:`."""
    return [_row(name, u) for name, u in data.items()]
