"""`loadwatch run`'s flags are RunParams' fields: every field has its flag, and the command line accepts a value
exactly when the model does (bounds, choices, lengths), so the CLI, the flow's parameters and the Prefect UI form,
all built from RunParams, cannot drift apart."""

from __future__ import annotations

import argparse
import types
import typing
from typing import Any

import annotated_types
import pytest
from pydantic import ValidationError

from loadwatch.cli import build_parser
from loadwatch.commands.args import field_bounds, number_text
from loadwatch.commands.run import RUN_FLAGS
from loadwatch.errors import InvalidInput
from loadwatch.params import RunParams

FIELDS = RunParams.model_fields


def _run_parser() -> argparse.ArgumentParser:
    root = build_parser("run")
    (sub,) = (a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    parser: argparse.ArgumentParser = sub.choices["run"]
    return parser


def _flag(name: str) -> str:
    return RUN_FLAGS.get(name, "--" + name.replace("_", "-"))


def _cli_accepts(name: str, value: str) -> bool:
    try:
        ns = build_parser("run").parse_args(["run", _flag(name), value])
    except InvalidInput:
        return False
    assert getattr(ns, name) is not None
    return True


def _model_accepts(name: str, value: Any) -> bool:
    try:
        RunParams(**{name: value})
    except ValidationError:
        return False
    return True


def _kind(name: str) -> Any:
    annotation = FIELDS[name].annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if typing.get_origin(annotation) in (typing.Union, types.UnionType) else annotation


def test_every_field_has_its_flag_and_its_description() -> None:
    flags = _run_parser()._option_string_actions
    for name, field in FIELDS.items():
        flag = f"--no-{name}" if _kind(name) is bool else _flag(name)  # a switch that is on by default turns off
        assert flag in flags and flags[flag].dest == name, (name, flag)
        if name == "trigger":  # hidden: set by whoever starts the run (cli, schedule, ui, ci, serve)
            assert flags[flag].help == argparse.SUPPRESS and flags[flag].default == "cli"
            continue
        assert field.description and field.description.replace("%", "%%") in (flags[flag].help or ""), name


@pytest.mark.parametrize("name", [n for n in FIELDS if _kind(n) in (int, float)])
def test_numeric_bounds_are_the_models(name: str) -> None:
    kind = _kind(name)
    bounds = field_bounds(FIELDS[name])
    assert bounds, f"{name} has no bounds"
    step = 1 if kind is int else 0.5
    for _, limit in bounds:
        for value in (limit - step, limit, limit + step):
            text = str(kind(value))
            assert _cli_accepts(name, text) == _model_accepts(name, kind(value)), (name, text)
        help_text = _run_parser()._option_string_actions[_flag(name)].help or ""
        assert number_text(limit) in help_text  # the help says the bound
    assert not _cli_accepts(name, "abc")


@pytest.mark.parametrize("name", [n for n in FIELDS if typing.get_origin(_kind(n)) is typing.Literal])
def test_choices_are_the_models(name: str) -> None:
    action = _run_parser()._option_string_actions[_flag(name)]
    assert list(action.choices or []) == list(typing.get_args(_kind(name)))
    assert not _cli_accepts(name, "nobody") and not _model_accepts(name, "nobody")


@pytest.mark.parametrize("name", [n for n in FIELDS if _kind(n) is str])
def test_text_lengths_are_the_models(name: str) -> None:
    (limit,) = (m.max_length for m in FIELDS[name].metadata if isinstance(m, annotated_types.MaxLen))
    for n in (limit, limit + 1):
        assert _cli_accepts(name, "x" * n) == _model_accepts(name, "x" * n), (name, n)


def test_lists_repeat_and_booleans_turn_off() -> None:
    ns = build_parser("run").parse_args(["run", "--threshold", "p95 < 5ms", "--threshold", "p99 < 9ms", "--tag", "a",
                                         "--no-capacity"])
    assert ns.thresholds == ["p95 < 5ms", "p99 < 9ms"] and ns.tags == ["a"] and ns.capacity is False
    assert build_parser("run").parse_args(["run", "--no-thresholds"]).thresholds == []
    assert build_parser("run").parse_args(["run"]).thresholds is None  # the plan's own
    assert all(_model_accepts(n, v) for n, v in (("thresholds", ns.thresholds), ("tags", ns.tags)))


def test_the_prefect_form_has_the_same_bounds() -> None:
    """The flow's parameter schema (what the Prefect UI renders and the server enforces) carries RunParams' bounds."""
    from loadwatch.flows.nightly import nightly

    form = nightly.parameters.model_dump()["properties"]
    model = RunParams.model_json_schema()["properties"]
    keys = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "maxLength", "enum")

    def constraints(schema: dict[str, Any]) -> dict[str, Any]:
        found = {k: v for k, v in schema.items() if k in keys}
        for alternative in schema.get("anyOf", []):
            found |= {k: v for k, v in alternative.items() if k in keys}
        return found

    assert set(form) == set(model)
    for name in model:
        assert constraints(form[name]) == constraints(model[name]), name
        assert any(constraints(model[name]).values()) or _kind(name) not in (int, float, str), name
