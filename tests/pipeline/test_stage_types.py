"""No `dict[str, Any]` crosses a stage boundary: every runner of the chain (loadwatch.pipeline.chain.Stages) takes
and returns typed data, models or TypedDicts (the capacity block, last: loadwatch.load_shapes.CapacityBlock); no
field of the run record is untyped."""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Any

import typing_extensions

from loadwatch.pipeline.chain import Stages

UNTYPED = (dict[str, Any], Mapping[str, Any])
STILL_UNTYPED: set[str] = set()  # every runner is typed (the capacity block last: CapacityBlock)


def _untyped(hint: Any) -> list[Any]:
    """The `dict[str, Any]`-like parts of a runner's signature (its arguments and its result)."""
    if hint in UNTYPED:
        return [hint]
    found = []
    for arg in typing.get_args(hint):
        if isinstance(arg, list):  # Callable's argument list
            found += [a for a in arg if a in UNTYPED]
        else:
            found += _untyped(arg)
    return found


def test_the_stages_exchange_typed_data():
    hints = typing.get_type_hints(Stages)
    assert set(hints) >= {"preflight", "capture_before", "capture_after", "compare", "report", "store"}
    untyped = {name: _untyped(hint) for name, hint in hints.items() if name not in STILL_UNTYPED}
    assert {k: v for k, v in untyped.items() if v} == {}


def test_the_check_sees_an_untyped_runner():
    assert _untyped(Callable[[int, dict[str, Any]], str]) == [dict[str, Any]]
    assert _untyped(Callable[..., Mapping[str, Any]] | None) == [Mapping[str, Any]]


def _loose(hint: Any) -> list[Any]:
    """Every `Any` or `...` (untyped arguments) in an annotation, through unions, generics, Callable's argument list
    and a Protocol runner's `__call__` (the compare stage's `CompareRunner`). A TypedDict or a model is a name here:
    what it holds is typed where it is declared."""
    if hint is Any or hint is Ellipsis:
        return [hint]
    if isinstance(hint, list):  # Callable's argument list
        return [x for arg in hint for x in _loose(arg)]
    if isinstance(hint, type) and getattr(hint, "_is_protocol", False) and "__call__" in vars(hint):
        call_hints = typing.get_type_hints(hint.__call__)
        return [x for h in call_hints.values() for x in _loose(h)]
    return [x for arg in typing.get_args(hint) for x in _loose(arg)]


def test_no_stages_field_mentions_any():
    hints = typing.get_type_hints(Stages)
    assert {name: found for name, hint in hints.items() if (found := _loose(hint))} == {}


def test_the_any_check_sees_any_and_untyped_arguments():
    from loadwatch.pipeline.chain import CompareRunner

    assert _loose(Callable[..., int]) == [Ellipsis]
    assert _loose(Callable[[int], Mapping[str, Any]] | None) == [Any]
    assert _loose(CompareRunner) == []  # its keywords are typed, its result Findings
    assert _loose(Callable[[int], list[str]]) == []


def _untyped_inside(hint: Any, seen: set[int] | None = None) -> list[str]:
    """Where `Any` sits in an annotation, through unions, generics, Annotated, and into TypedDicts' own fields."""
    seen = set() if seen is None else seen
    if hint is Any:
        return ["Any"]
    if typing_extensions.is_typeddict(hint):  # typing's own misses typing_extensions' TypedDicts on 3.11
        if id(hint) in seen:
            return []
        seen.add(id(hint))
        return [f"{hint.__name__}.{k}" for k, h in typing.get_type_hints(hint).items()
                if _untyped_inside(h, seen)]
    return [x for arg in typing.get_args(hint) for x in _untyped_inside(arg, seen)]


def test_no_field_of_the_run_record_is_untyped():
    """summary.json's blocks are all typed, down to the TypedDicts' own fields: the plan (record.PlanInfo), the load
    and the capacity block (loadwatch.load_shapes), what was observed and the findings."""
    from loadwatch.record import RunSummary

    hints = typing.get_type_hints(RunSummary, include_extras=True)
    assert {"plan", "load", "capacity", "comparison", "attribution"} <= set(hints)
    untyped = {name: found for name, hint in hints.items() if (found := _untyped_inside(hint))}
    assert untyped == {}


def test_the_record_check_sees_any_inside_a_typeddict():
    from typing_extensions import TypedDict

    class Loose(TypedDict):
        fine: int
        rows: list[dict[str, Any]]

    assert _untyped_inside(dict[str, Loose] | None) == ["Loose.rows"]
