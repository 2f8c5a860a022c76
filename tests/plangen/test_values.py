"""Values made from schemas: valid by the schema (checked by the OpenAPI validators), the same on every call."""

from __future__ import annotations

import json

import pytest

from loadwatch.config import parse_plan
from loadwatch.engine.build import check_env, compile_scenario
from loadwatch.errors import InvalidInput
from loadwatch.plangen.traffic import template_paths
from loadwatch.plangen.values import NoValue, generate, is_valid

SCHEMAS = [
    ("3.0.3", {"type": "integer", "minimum": 10, "exclusiveMinimum": True, "maximum": 12}, 11),
    ("3.1.0", {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 25, "multipleOf": 5}, 5),
    ("3.1.0", {"type": "number", "exclusiveMinimum": 0.5, "maximum": 1.5}, 1.0),
    ("3.1.0", {"type": "string", "format": "uuid"}, "3fa85f64-5717-4562-b3fc-2c963f66afa6"),
    ("3.1.0", {"type": "string", "minLength": 12, "maxLength": 12}, None),
    ("3.1.0", {"type": "string", "pattern": r"^[A-Z]{2}-\d{3}$"}, None),
    ("3.1.0", {"type": "string", "pattern": r"^\w+$", "minLength": 5, "maxLength": 6}, None),
    ("3.1.0", {"anyOf": [{"type": "null"}, {"type": "string", "enum": ["b", "a"]}]}, "b"),
    ("3.0.3", {"type": "string", "nullable": True, "default": "x"}, "x"),
    ("3.1.0", {"allOf": [{"type": "object", "properties": {"a": {"type": "integer", "minimum": 3}},
                          "required": ["a"]}, {"properties": {"b": {"type": "boolean", "default": False}}}]},
     {"a": 3, "b": False}),
    ("3.1.0", {"type": "array", "items": {"type": "integer", "maximum": -4}, "minItems": 2}, [-4, -4]),
    ("3.1.0", {"type": "string", "examples": ["from-the-spec"]}, "from-the-spec"),
]


@pytest.mark.parametrize(("version", "schema", "expected"), SCHEMAS)
def test_generated_values_are_valid_and_stable(version, schema, expected):
    value, note = generate(schema, name="param", version=version)
    assert is_valid(value, schema, version), (value, note)
    assert generate(schema, name="param", version=version)[0] == value  # deterministic
    if expected is not None:
        assert value == expected


def test_impossible_schema_is_refused():
    with pytest.raises(NoValue, match="no integer between 5 and 4"):
        generate({"type": "integer", "minimum": 5, "maximum": 4}, name="n", version="3.1.0")


def test_identifier_positions():
    paths = [f"/tools/{n}" for n in ("dig", "nmap", "curl", "netscan")] + [
        "/tools/search/query", "/tools/dig/versions", "/users/42", "/users/7f9c2b1e-0d4a-4c8e-9a63-2f1b5d3e8c10",
        "/api/v1/items"]
    var = template_paths(paths)
    assert var["/tools/dig"] == [False, True]
    assert var["/tools/search/query"] == [False, False, False]
    assert var["/tools/dig/versions"] == [False, False, False]  # one name only under /versions: not an id yet
    assert var["/users/42"] == [False, True] and var["/users/7f9c2b1e-0d4a-4c8e-9a63-2f1b5d3e8c10"] == [False, True]
    assert var["/api/v1/items"] == [False, False, False]


def test_env_references_in_headers(monkeypatch):
    plan = parse_plan({"target": {"url": "http://127.0.0.1:9"}, "load": {"rate": 1},
                       "scenarios": [{"name": "a", "path": "/x", "headers": {"Authorization": "Bearer ${TOKEN}"}}]})
    assert plan.scenarios[0].env_refs() == {"TOKEN"}  # not a pool placeholder: the plan needs no `pools`
    monkeypatch.delenv("TOKEN", raising=False)
    with pytest.raises(InvalidInput, match=r"scenarios\[a\]\.headers\.Authorization: uses \$\{TOKEN\}, which is not"):
        check_env(plan)
    monkeypatch.setenv("TOKEN", "t{0}k")  # braces in the value are sent as they are, not templated
    check_env(plan)
    compiled = compile_scenario(plan.scenarios[0], 0, "127.0.0.1:9")
    assert compiled.static is not None and b"Authorization: Bearer t{0}k\r\n" in compiled.static


@pytest.mark.parametrize("pattern", [r"^.{3}$", r"^\S+@\S+$", r"^[A-Z]{2}\d{2}[A-Z0-9]{1,30}$"])
def test_pattern_values_are_printable_and_short(pattern):
    value, _ = generate({"type": "string", "pattern": pattern}, name="p", version="3.1.0")
    assert value.isprintable() and len(value) <= 12


@pytest.mark.parametrize("pattern", [r"^(?=.*\d)[a-z0-9]{8}$", r"\p{L}+"])
def test_patterns_beyond_the_generator_give_no_value(pattern):
    with pytest.raises(NoValue):
        generate({"type": "string", "pattern": pattern}, name="p", version="3.1.0")


def test_recorded_json_bodies_stay_literal_now_that_bodies_are_templated(tmp_path):
    """A recorded body with braces in its strings is written with them doubled, so a run (and `--check`) sends
    exactly what was recorded, never a placeholder."""
    from loadwatch.engine.build import render_body
    from loadwatch.plangen.draft import PlanDraft, ScenarioDraft, write_plan

    body = {"query": "{ tools { name } }", "vars": {"{id}": [1, "a}b"]}}
    draft = PlanDraft(name="g", source="test", base_url="http://127.0.0.1:9", base_note="")
    draft.scenarios.append(ScenarioDraft(name="graphql", method="POST", path="/graphql", json_body=body))
    plan = write_plan(draft, tmp_path / "plan.yaml")
    compiled = compile_scenario(plan.scenarios[0], 0, "127.0.0.1:9")
    assert compiled.static is not None and compiled.static.endswith(json.dumps(body, separators=(",", ":")).encode())
    assert render_body(plan.scenarios[0], {}) == (json.dumps(body, separators=(",", ":")).encode(), "application/json")
