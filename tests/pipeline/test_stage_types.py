"""No `dict[str, Any]` crosses a stage boundary: every runner of the chain (loadwatch.pipeline.chain.Stages) takes
and returns typed data, models or TypedDicts (the capacity block, last: loadwatch.load_shapes.CapacityBlock); no
field of the run record is untyped."""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Any

import typing_extensions

from loadwatch.pipeline.chain import Stages


def _any_in(hint: Any, *, into_typeddicts: bool = False, seen: set[int] | None = None) -> list[str]:
    """Where `Any` or `...` (untyped arguments) sits in an annotation: through unions, generics, Annotated,
    Callable's argument list and a Protocol runner's `__call__` (the compare stage's `CompareRunner`). A TypedDict or
    a model is a name (what it holds is typed where it is declared) unless `into_typeddicts`: then its own fields are
    walked too and named "TypedDict.field"."""
    seen = set() if seen is None else seen
    if hint is Any:
        return ["Any"]
    if hint is Ellipsis:
        return ["..."]
    if isinstance(hint, list):  # Callable's argument list
        return [x for arg in hint for x in _any_in(arg, into_typeddicts=into_typeddicts, seen=seen)]
    if into_typeddicts and typing_extensions.is_typeddict(hint):  # typing's own misses typing_extensions' on 3.11
        if id(hint) in seen:
            return []
        seen.add(id(hint))
        return [f"{hint.__name__}.{k}" for k, h in typing.get_type_hints(hint).items()
                if _any_in(h, into_typeddicts=True, seen=seen)]
    if isinstance(hint, type) and getattr(hint, "_is_protocol", False) and "__call__" in vars(hint):
        call_hints = typing.get_type_hints(hint.__call__)
        return [x for h in call_hints.values() for x in _any_in(h, into_typeddicts=into_typeddicts, seen=seen)]
    return [x for arg in typing.get_args(hint) for x in _any_in(arg, into_typeddicts=into_typeddicts, seen=seen)]


def test_the_stages_exchange_typed_data():
    hints = typing.get_type_hints(Stages)
    assert set(hints) >= {"preflight", "capture_before", "capture_after", "compare", "report", "store"}
    assert {name: found for name, hint in hints.items() if (found := _any_in(hint))} == {}


def test_the_check_sees_any_and_untyped_arguments():
    from loadwatch.pipeline.chain import CompareRunner

    assert _any_in(Callable[[int, dict[str, Any]], str]) == ["Any"]
    assert _any_in(Callable[..., int]) == ["..."]
    assert _any_in(Callable[[int], Mapping[str, Any]] | None) == ["Any"]
    assert _any_in(CompareRunner) == []  # its keywords are typed, its result Findings
    assert _any_in(Callable[[int], list[str]]) == []


def test_no_field_of_the_run_record_is_untyped():
    """summary.json's blocks are all typed, down to the TypedDicts' own fields: the plan (record.PlanInfo), the load
    and the capacity block (loadwatch.load_shapes), what was observed and the findings."""
    from loadwatch.record import RunSummary

    hints = typing.get_type_hints(RunSummary, include_extras=True)
    assert {"plan", "load", "capacity", "comparison", "attribution"} <= set(hints)
    untyped = {name: found for name, hint in hints.items() if (found := _any_in(hint, into_typeddicts=True))}
    assert untyped == {}


def test_the_record_check_sees_any_inside_a_typeddict():
    from typing_extensions import TypedDict

    class Loose(TypedDict):
        fine: int
        rows: list[dict[str, Any]]

    assert _any_in(dict[str, Loose] | None, into_typeddicts=True) == ["Loose.rows"]
    assert _any_in(dict[str, Loose] | None) == []  # a name, unless asked to look inside
