"""One valid value for a JSON Schema (an OpenAPI parameter or body), and a note saying where it came from.

Order: the spec's own `example`/`examples`, then `const`, `enum`, `default`, and only then a value made from the
schema (type, format, minimum/maximum, multipleOf, minLength/maxLength, pattern, items, required properties).
Every value, whatever its origin, is checked with `openapi-schema-validator` (the OpenAPI 3.0/3.1 dialects of
`jsonschema`) before it goes into a plan: a plan sends only requests the spec calls valid.

Why not `hypothesis-jsonschema` or `jsf`: a plan wants one stable, readable value per parameter, the same on every
`loadwatch init` so a regenerated plan diffs cleanly. `hypothesis-jsonschema` would make Hypothesis (a test
framework, and its shrinker, tens of milliseconds per value) a runtime dependency and supports drafts 4-7 only;
`jsf` draws random values from Faker. What the generator here does not know is small: a `pattern` is the one
constraint that needs a search, and `rstr` (a small, long-lived regex-to-string library) draws strings for it from
a seeded RNG, so even those are the same on every run."""

from __future__ import annotations

import math
import random
import re
from typing import Any

import rstr
from openapi_schema_validator import OAS30Validator, OAS31Validator

__all__ = ["NoValue", "generate", "is_valid", "spec_example"]

PATTERN_TRIES = 50
MAX_DEPTH = 8

_FORMATS: dict[str, str] = {
    "date": "2024-01-15",
    "date-time": "2024-01-15T12:00:00Z",
    "time": "12:00:00Z",
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uri-reference": "/example",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "byte": "ZXhhbXBsZQ==",
    "password": "example-password",
    "duration": "P1D",
}


class NoValue(Exception):
    """No valid value could be made for this schema; the message says why."""


def is_valid(value: Any, schema: Any, version: str) -> bool:
    if not isinstance(schema, dict):
        return True
    cls = OAS30Validator if version.startswith("3.0") else OAS31Validator
    return bool(cls(schema).is_valid(value))


def spec_example(obj: dict[str, Any]) -> tuple[Any, str] | None:
    """The example an OpenAPI parameter, media type or schema gives itself."""
    if "example" in obj:
        return obj["example"], "the spec's example"
    ex = obj.get("examples")
    if isinstance(ex, dict):  # parameter / media type: {name: {value: ...}}
        for key, item in ex.items():
            if isinstance(item, dict) and "value" in item:
                return item["value"], f"the spec's example {key!r}"
    if isinstance(ex, list) and ex:  # JSON Schema 2020-12 (OpenAPI 3.1 schemas)
        return ex[0], "the spec's example"
    return None


def _non_null_type(schema: dict[str, Any]) -> str | None:
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    if t is None:
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
        if any(k in schema for k in ("minLength", "maxLength", "pattern", "format")):
            return "string"
        if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
            return "number"
    return t if isinstance(t, str) else None


def _merge_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema.get("allOf") or []:
        if not isinstance(part, dict):
            continue
        part = _merge_all_of(part)
        for k, v in part.items():
            if k == "properties":
                out["properties"] = {**out.get("properties", {}), **v}
            elif k == "required":
                out["required"] = sorted({*out.get("required", []), *v})
            else:
                out.setdefault(k, v)
    return out


def _bounds(schema: dict[str, Any]) -> tuple[float | None, bool, float | None, bool]:
    lo, hi = schema.get("minimum"), schema.get("maximum")
    lo_x = hi_x = False
    emin, emax = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if emin is True:  # OpenAPI 3.0: a flag on minimum
        lo_x = True
    elif isinstance(emin, int | float) and not isinstance(emin, bool) and (lo is None or emin >= lo):
        lo, lo_x = emin, True
    if emax is True:
        hi_x = True
    elif isinstance(emax, int | float) and not isinstance(emax, bool) and (hi is None or emax <= hi):
        hi, hi_x = emax, True
    return lo, lo_x, hi, hi_x


def _integer(schema: dict[str, Any]) -> int:
    lo, lo_x, hi, hi_x = _bounds(schema)
    low = None if lo is None else (math.floor(lo) + 1 if lo_x or lo != math.floor(lo) else int(lo))
    high = None if hi is None else (math.ceil(hi) - 1 if hi_x or hi != math.ceil(hi) else int(hi))
    value = low if low is not None else (min(1, high) if high is not None else 1)
    step = schema.get("multipleOf")
    if isinstance(step, int) and step > 0 and value % step:
        value += step - value % step
    if high is not None and value > high:
        raise NoValue(f"no integer between {lo} and {hi}")
    return value


def _number(schema: dict[str, Any]) -> float | int:
    lo, lo_x, hi, hi_x = _bounds(schema)
    if lo is not None and hi is not None:
        return (lo + hi) / 2 if lo_x or hi_x else lo
    if lo is not None:
        return lo + 1 if lo_x else lo
    if hi is not None:
        return hi - 1 if hi_x else min(hi, 1)
    return 1


def _string(schema: dict[str, Any], name: str, seed: str, version: str) -> str:
    lo = int(schema.get("minLength", 0))
    hi = schema.get("maxLength")
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            re.compile(pattern)
        except re.error as exc:  # ECMA-only syntax such as \p{L}
            raise NoValue(f"pattern {pattern!r} is not one Python can read: {exc}") from None
        gen = rstr.Rstr(random.Random(seed))
        fits: list[str] = []
        for _ in range(PATTERN_TRIES):  # the shortest of a fixed number of draws: readable, and the same each time
            text = str(gen.xeger(pattern))
            # printable only: a drawn \x0c is valid by the pattern and breaks a header
            if text.isprintable() and lo <= len(text) and (hi is None or len(text) <= hi) and is_valid(
                    text, schema, version):
                fits.append(text)
        if not fits:
            raise NoValue(f"found no printable string matching {pattern!r} of length {lo}..{hi}")
        return min(fits, key=lambda t: (len(t), t))
    fmt = schema.get("format")
    base = _FORMATS.get(fmt, "") if isinstance(fmt, str) else ""
    if not base:
        base = "".join(c for c in name.lower() if c.isalnum()) or "example"
    if len(base) < lo:
        base = (base * (lo // len(base) + 1))[:lo]
    if hi is not None and len(base) > hi:
        base = base[: int(hi)]
    return base


def generate(schema: Any, *, name: str, version: str, depth: int = 0) -> tuple[Any, str]:
    """A valid value for `schema` (already dereferenced) and where it came from; NoValue if none is found."""
    if depth > MAX_DEPTH:
        raise NoValue("schema nested too deep")
    if not isinstance(schema, dict):
        return "example", "any value is allowed"
    schema = _merge_all_of(schema)
    ex = spec_example(schema)
    if ex is not None and is_valid(ex[0], schema, version):
        return ex
    if "const" in schema:
        return schema["const"], "the schema's const"
    enum = [v for v in schema.get("enum") or [] if v is not None]
    if enum:
        return enum[0], f"the first of enum {enum[:6]}" + ("..." if len(enum) > 6 else "")
    if "default" in schema and schema["default"] is not None:
        return schema["default"], "the schema's default"
    for key in ("oneOf", "anyOf"):
        options = [o for o in schema.get(key) or [] if isinstance(o, dict) and o.get("type") != "null"]
        if options:
            first, note = generate(options[0], name=name, version=version, depth=depth + 1)
            return first, f"{note} (first option of {key})"
    kind = _non_null_type(schema)
    if kind == "integer":
        value: Any = _integer(schema)
    elif kind == "number":
        value = _number(schema)
    elif kind == "boolean":
        value = True
    elif kind == "array":
        item, _ = generate(schema.get("items", {}), name=name, version=version, depth=depth + 1)
        value = [item] * max(1, int(schema.get("minItems", 1)))
        if schema.get("uniqueItems") and len(value) > 1:
            raise NoValue("uniqueItems with minItems > 1 is beyond the generator")
    elif kind == "object":
        value = {}
        props = schema.get("properties") or {}
        for prop in schema.get("required") or []:
            value[prop], _ = generate(props.get(prop, {}), name=prop, version=version, depth=depth + 1)
        for prop, sub in props.items():  # optional ones only when the spec gives their value
            if prop not in value and isinstance(sub, dict) and (spec_example(sub) or "default" in sub):
                value[prop], _ = generate(sub, name=prop, version=version, depth=depth + 1)
    else:
        value = _string(schema, name, seed=f"{name}:{schema.get('pattern')}", version=version)
    note = _describe(schema, kind)
    if not is_valid(value, schema, version):
        raise NoValue(f"made {str(value)[:40]!r} from {note}, and the schema rejects it")
    return value, f"made from the schema ({note})"


def _describe(schema: dict[str, Any], kind: str | None) -> str:
    parts = [kind or "string"]
    for key in ("format", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "multipleOf", "minLength",
                "maxLength", "pattern", "minItems"):
        if key in schema:
            parts.append(f"{key} {schema[key]}")
    return ", ".join(parts)
