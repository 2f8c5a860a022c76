"""Argument parsing shared by the commands: the parser class (usage errors are InvalidInput), value types that say
what was wrong, and the flags of a pydantic model's fields built from the fields' own metadata (title, description,
bounds, choices), so a command line and a Prefect form built from the same model cannot drift apart."""

from __future__ import annotations

import argparse
import operator
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal

import annotated_types
from pydantic.fields import FieldInfo

from loadwatch.errors import InvalidInput

__all__ = ["Parser", "add_field_flags", "bounded", "field_bounds", "number_text", "positive"]


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors are InvalidInput (exit 2, one line, no traceback)."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise InvalidInput(f"{message} (see `{self.prog} --help`)", source="command line")


# a bound of pydantic's field metadata -> its attribute, and how the message (and the help) writes it
_BOUNDS: Mapping[type, tuple[str, str]] = {
    annotated_types.Gt: ("gt", ">"), annotated_types.Ge: ("ge", ">="),
    annotated_types.Lt: ("lt", "<"), annotated_types.Le: ("le", "<="),
}
_HOLDS: Mapping[str, Callable[[Any, Any], bool]] = {">": operator.gt, ">=": operator.ge, "<": operator.lt,
                                                    "<=": operator.le}


def bounded(kind: type[float] | type[int], bounds: list[tuple[str, float]] | None = None) -> Callable[[str], Any]:
    """A number of `kind` within `bounds` ([(">", 0), ("<=", 86400)]), with a message that says what was wrong."""

    def convert(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        for op, limit in bounds or []:
            if not _HOLDS[op](value, limit):
                raise argparse.ArgumentTypeError(f"must be {op} {number_text(limit)}, got {text}")
        return value

    return convert


def number_text(value: float) -> str:
    """A bound as a person writes it: 86400, 1000000, 0.5 (never 1e+06)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def positive(kind: type[float] | type[int]) -> Callable[[str], float | int]:
    """A strictly positive number of `kind`, with a message that says what was wrong."""
    return bounded(kind, [(">", 0)])


def field_bounds(field: FieldInfo) -> list[tuple[str, float]]:
    """The numeric bounds in a pydantic field's metadata, as [(">", 0), ("<=", 86400)]."""
    return [(op, getattr(meta, attr)) for meta in field.metadata for cls, (attr, op) in _BOUNDS.items()
            if isinstance(meta, cls)]


def _max_length(field: FieldInfo) -> int | None:
    return next((m.max_length for m in field.metadata if isinstance(m, annotated_types.MaxLen)), None)


def _text(max_length: int | None) -> Callable[[str], str]:
    def convert(text: str) -> str:
        if max_length is not None and len(text) > max_length:
            raise argparse.ArgumentTypeError(f"at most {max_length} characters, got {len(text)}")
        return text

    return convert


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type inside `X | None`, whether None was allowed)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _help(field: FieldInfo, bounds: list[tuple[str, float]]) -> str:
    text = field.description or field.title or ""
    limits = ", ".join(f"{op} {number_text(limit)}" for op, limit in bounds)
    return text.replace("%", "%%") + (f" ({limits})" if limits else "")


def add_field_flags(parser: argparse.ArgumentParser, fields: Mapping[str, FieldInfo], *,
                    flags: Mapping[str, str] | None = None, defaults: Mapping[str, Any] | None = None,
                    hidden: frozenset[str] = frozenset()) -> None:
    """One flag per field, dest = the field's name: `--NAME` (or `flags[name]`), its help the field's description
    with its bounds, its type checking those bounds (and a string's max_length), a Literal's values as choices; a
    list field is repeatable, and when its default is None (the plan's own) also gets `--no-FLAGs` (an empty list);
    a bool field defaulting to True becomes `--no-NAME`. A flag left out keeps the model's default, or `defaults`'."""
    flags, defaults = flags or {}, defaults or {}
    for name, field in fields.items():
        flag = flags.get(name, "--" + name.replace("_", "-"))
        default = defaults.get(name, None if field.is_required() else field.get_default(call_default_factory=True))
        kind, _ = _unwrap(field.annotation)
        bounds = field_bounds(field)
        help_text = argparse.SUPPRESS if name in hidden else _help(field, bounds)
        if kind is bool:
            parser.add_argument(f"--no-{flag.removeprefix('--')}", dest=name, action="store_false", default=default,
                                help=argparse.SUPPRESS if name in hidden else f"{field.title} off for this run; "
                                + _help(field, bounds))
        elif typing.get_origin(kind) is list:
            parser.add_argument(flag, dest=name, action="append", default=None,
                                metavar=flag.removeprefix("--").replace("-", "_").upper(),
                                type=_text(_max_length(field)), help=help_text + " (repeatable)")
            if default is None:
                parser.add_argument(f"--no-{flag.removeprefix('--')}s", dest=name, action="store_const", const=[],
                                    help=f"no {(field.title or name).lower()} for this run")
        elif typing.get_origin(kind) is Literal:
            parser.add_argument(flag, dest=name, choices=list(typing.get_args(kind)), default=default, help=help_text)
        elif kind in (int, float):
            parser.add_argument(flag, dest=name, type=bounded(kind, bounds), default=default, help=help_text)
        else:
            parser.add_argument(flag, dest=name, type=_text(_max_length(field)), default=default, help=help_text)
