"""Templates everywhere a request has text: path, query, headers, JSON and form bodies (pure code: the compiled
request is parsed back with httptools' request parser, the one the hot path's counterpart uses)."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import httptools
import pytest

from loadwatch.config import parse_plan
from loadwatch.engine.build import RequestFactory
from loadwatch.errors import InvalidInput


class _Parsed:
    def __init__(self, data: bytes) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body = b""
        self.done = False
        httptools.HttpRequestParser(self).feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.done = True


def _plan(scenario: dict[str, Any], pools: dict[str, Any] | None = None) -> Any:
    return parse_plan({"target": {"url": "http://127.0.0.1:9"}, "load": {"rate": 1},
                       "scenarios": [{"name": "s", **scenario}], "pools": pools or {}})


def _render(plan: Any, drawn: dict[str, Any] | None = None) -> _Parsed:
    pools = {k: list(v.values or []) for k, v in plan.pools.items()}
    factory = RequestFactory(plan, pools, "127.0.0.1:9", seed=1, part=0)
    parsed = _Parsed(factory.render(factory.scenarios[0], drawn))
    assert parsed.done  # one complete request: the Content-Length counted the rendered body
    return parsed


def test_nested_json_values_are_typed_and_escaped():
    plan = _plan({"method": "POST", "path": "/api/flow_runs/filter",
                  "json": {"flow_runs": {"name": {"any_": ["{run}"]}}, "limit": "{n}", "note": "run {run} of {n}",
                           "fixed": 5, "{key}": True}},
                 {"run": {"values": ['a"b']}, "n": {"values": ["1"]}, "key": {"values": ["k"]}})
    parsed = _render(plan, {"n": 7})
    doc = json.loads(parsed.body)
    assert doc == {"flow_runs": {"name": {"any_": ['a"b']}}, "limit": 7, "note": 'run a"b of 7', "fixed": 5,
                   "k": True}
    assert parsed.headers["content-type"] == "application/json"
    assert int(parsed.headers["content-length"]) == len(parsed.body)
    # a text value stays text where it stands alone
    assert json.loads(_render(plan).body)["limit"] == "1"


def test_form_body_path_query_and_headers_are_templated():
    plan = _plan({"method": "POST", "path": "/u/{user}", "query": {"q": "{user} x"},
                  "headers": {"X-User": "{user}"}, "form": {"username": "{user}", "next": "/a b?c=d&e"}},
                 {"user": {"values": ["ann&bob/é"]}})
    parsed = _render(plan)
    assert parsed.url == b"/u/ann%26bob%2F%C3%A9?q=ann%26bob%2F%C3%A9%20x"
    assert parsed.headers["x-user"] == "ann&bob/é"  # UTF-8, CR/LF stripped
    assert urllib.parse.parse_qs(parsed.body.decode()) == {"username": ["ann&bob/é"], "next": ["/a b?c=d&e"]}
    assert parsed.headers["content-type"] == "application/x-www-form-urlencoded"


def test_one_value_per_name_per_request():
    plan = _plan({"method": "PUT", "path": "/i/{id}", "json": {"id": "{id}"}}, {"id": {"values": [str(i) for i in
                                                                                                   range(100)]}})
    for _ in range(20):
        parsed = _render(plan)
        assert parsed.url.decode() == f"/i/{json.loads(parsed.body)['id']}"


def test_literal_braces_and_static_bodies():
    plan = _plan({"method": "POST", "path": "/x", "json": {"q": "{{not a name}}"}})
    factory = RequestFactory(plan, {}, "127.0.0.1:9", seed=1, part=0)
    static = factory.scenarios[0].static
    assert static is not None and static.endswith(b'{"q":"{not a name}"}')


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"method": "POST", "path": "/x", "json": {"a": [{"b": "{nope}"}]}},
         r"scenario 's' field json\.a\[0\]\.b uses \{nope\}, which names no value"),
        ({"method": "POST", "path": "/x", "form": {"u": "{who}"}}, r"field form\.u uses \{who\}"),
        ({"path": "/x", "headers": {"X": "a}b"}}, r"headers\.X: Single '\}'"),
        ({"path": "/x", "query": {"a": "{n:>3}"}}, r"query\.a: \{n:>3\} is not a value name"),
        ({"method": "POST", "path": "/x", "json": {}, "form": {}}, r"`json` or `form`, not both"),
    ],
)
def test_bad_templates_are_invalid_plans(scenario, message):
    with pytest.raises(InvalidInput, match=message) as info:
        _plan(scenario, {"n": {"values": ["1"]}})
    assert info.value.exit_code == 2


def test_url_mode_sends_body_and_headers_as_given():
    """`loadwatch load URL --body ... --header ...` has no values to template: braces are sent as they are."""
    import argparse

    from loadwatch.commands.load import add_arguments, build_plan

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    ns = parser.parse_args(["http://127.0.0.1:9/q", "--rate", "1", "--method", "POST",
                            "--body", '{"query": "{ tools { name } }"}', "--header", "X-Note: {not a name}"])
    factory = RequestFactory(build_plan(ns), {}, "127.0.0.1:9", seed=1, part=0)
    static = factory.scenarios[0].static
    assert static is not None and static.endswith(b'{"query":"{ tools { name } }"}')
    assert b"X-Note: {not a name}\r\n" in static


def test_environment_values_in_bodies_keep_secrets_out_of_the_plan(monkeypatch):
    from loadwatch.engine.build import check_env

    plan = _plan({"method": "POST", "path": "/login", "form": {"user": "{user}", "password": "${APP_PASSWORD}"}},
                 {"user": {"values": ["ann"]}})
    assert plan.scenarios[0].env_refs() == {"APP_PASSWORD"}
    monkeypatch.delenv("APP_PASSWORD", raising=False)
    with pytest.raises(InvalidInput, match=r"scenarios\[s\]\.form\.password: uses \$\{APP_PASSWORD\}, which is not"):
        check_env(plan)
    monkeypatch.setenv("APP_PASSWORD", "p{w}&d")  # braces in the value are sent as they are
    assert urllib.parse.parse_qs(_render(plan).body.decode()) == {"user": ["ann"], "password": ["p{w}&d"]}
    js = _plan({"method": "POST", "path": "/t", "json": {"auth": {"secret": "${APP_PASSWORD}", "n": "{user}"}}},
               {"user": {"values": ["ann"]}})
    assert json.loads(_render(js).body) == {"auth": {"secret": "p{w}&d", "n": "ann"}}
