"""No `dict[str, Any]` crosses a stage boundary: every runner of the chain (loadwatch.pipeline.chain.Stages) takes
and returns typed data, models or TypedDicts (the capacity block, last: loadwatch.capacity.search.CapacityBlock)."""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Any

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
