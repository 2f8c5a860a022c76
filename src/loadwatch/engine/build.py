"""Plan → ready-to-send request bytes, data pools and response checks.

Each scenario's request (and each journey step's) is pre-built once: fully static bytes when it has no
`{placeholder}`, otherwise a list of byte segments where only the drawn values are written per request
(URL-quoted in the path and query, CR/LF-stripped in headers, form-encoded in a form body, JSON-escaped inside a
JSON string, the value itself, typed, for a JSON string that is one placeholder); a templated body's
Content-Length is counted per request. Values come from pools, data sources' rows (`{source.column}`, one row per
request) or values fixed beforehand (a session's, a journey's). Scenario choice and draws use one seeded
`random.Random` per process."""

from __future__ import annotations

import bisect
import itertools
import json
import os
import random
import re
import string
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadwatch.config import ENV_REF, Plan, Pool, RequestSpec
from loadwatch.engine.data import Feeder, Table
from loadwatch.errors import InvalidInput

__all__ = [
    "CompiledScenario",
    "PoolDraw",
    "RequestFactory",
    "check_env",
    "check_response",
    "compile_scenario",
    "expand_env",
    "extract_json_path",
    "json_field_present",
    "render_body",
]

USER_AGENT = "loadwatch"
ENCODED_CACHE = 65_536  # encoded text values kept per process (bounded: a unique feeder never repeats one)


# How a drawn value is written where its placeholder stands (the second item of a segment tuple)
URL, HEADER, JSON_STR, JSON_VAL, FORM = range(5)

Part = str | tuple[str, int]  # literal text, or (value name, how it is written)
Segment = bytes | tuple[str, int]


def text_of(value: Any) -> str:
    """A drawn value as text (pools hold text; JSON Lines and SQL feeders keep their types)."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if not isinstance(value, dict | list) else json.dumps(value, separators=(",", ":"))


def encode_value(value: Any, mode: int) -> bytes:
    """One drawn value, written for its place in the request."""
    if mode == URL:
        return urllib.parse.quote(text_of(value), safe="").encode()
    if mode == HEADER:
        return text_of(value).replace("\r", "").replace("\n", "").encode()
    if mode == JSON_VAL:  # the whole JSON value: a number stays a number
        return json.dumps(value, separators=(",", ":")).encode()
    if mode == JSON_STR:  # inside a JSON string: escaped, without the quotes
        return json.dumps(text_of(value))[1:-1].encode()
    return urllib.parse.quote_plus(text_of(value)).encode()


def _split_template(text: str, mode: int, literal: Callable[[str], str] = lambda t: t) -> list[Part]:
    """'a/{x}/b' -> ['a/', ('x', mode), '/b']; literals pass through `literal` (quoting, JSON escaping)."""
    out: list[Part] = []
    for lit, name, _spec, _conv in string.Formatter().parse(text):
        if lit:
            out.append(literal(lit))
        if name:
            out.append((name, mode))
    return out


def _json_parts(node: Any) -> list[Part]:
    """A JSON body as literal text and placeholders: a string that is one `{name}` and nothing else becomes the
    value itself (typed), a placeholder inside a longer string is escaped into it; keys are templated too."""
    if isinstance(node, str):
        pieces = _split_template(node, JSON_STR, lambda t: json.dumps(t)[1:-1])
        if len(pieces) == 1 and not isinstance(pieces[0], str):
            return [(pieces[0][0], JSON_VAL)]
        return ['"', *pieces, '"']
    if isinstance(node, dict):
        out: list[Part] = ["{"]
        for i, (k, v) in enumerate(node.items()):
            key = _split_template(str(k), JSON_STR, lambda t: json.dumps(t)[1:-1])
            out += [*([","] if i else []), '"', *key, '":', *_json_parts(v)]
        return [*out, "}"]
    if isinstance(node, list):
        out = ["["]
        for i, v in enumerate(node):
            out += [*([","] if i else []), *_json_parts(v)]
        return [*out, "]"]
    return [json.dumps(node)]


def render_body(sc: RequestSpec, values: Mapping[str, Any]) -> tuple[bytes, str] | None:
    """A request's body with the given values, once, outside the hot path (`init --check`): (bytes, its
    Content-Type), or None without a body."""
    if sc.json_body is not None:
        parts, ctype = _json_parts(_env_json(sc.json_body)), "application/json"
    elif sc.form is not None:
        parts, ctype = _form_parts({k: expand_env(v, where=f"form.{k}") for k, v in sc.form.items()}), (
            "application/x-www-form-urlencoded")
    else:
        return None
    return b"".join(p.encode() if isinstance(p, str) else encode_value(values[p[0]], p[1]) for p in parts), ctype


def _form_parts(form: dict[str, str]) -> list[Part]:
    out: list[Part] = []
    for i, (k, v) in enumerate(form.items()):
        out += [*(["&"] if i else []), *_split_template(k, FORM, urllib.parse.quote_plus), "="]
        out += _split_template(v, FORM, urllib.parse.quote_plus)
    return out


def _merge(parts: Sequence[Part]) -> list[Segment]:
    """Adjacent literals joined into bytes."""
    segments: list[Segment] = []
    for part in parts:
        if isinstance(part, str):
            if segments and isinstance(segments[-1], bytes):
                segments[-1] += part.encode()
            else:
                segments.append(part.encode())
        else:
            segments.append(part)
    return segments


@dataclass
class CompiledScenario:
    name: str
    index: int
    method: str
    head: bool
    static: bytes | None  # the whole request when nothing is templated
    segments: list[Segment] = field(default_factory=list)  # up to the body's Content-Length when it is templated
    accept: frozenset[int] | None = None  # None = 200..399
    json_field: tuple[str, ...] | None = None
    body: list[Segment] | None = None  # a templated body (its length is counted per request)
    spec: RequestSpec | None = None  # what it was compiled from (sessions and journeys read extract, redirects)
    steps: list[CompiledScenario] | None = None  # a journey's steps (set on the journey's first step)
    # plain attributes, not properties: the hot path reads them once per request
    want_body: bool = field(init=False, default=False)
    plain: bool = field(init=False, default=False)  # default check only (2xx/3xx, no body): decided inline

    def __post_init__(self) -> None:
        self.want_body = self.json_field is not None
        self.plain = self.accept is None and self.json_field is None


def expand_env(text: str, *, where: str = "header") -> str:
    """`${NAME}` -> the variable's value, taken literally by the templating that follows."""

    def value(m: re.Match[str]) -> str:
        if m.group(1) not in os.environ:
            raise InvalidInput(f"uses ${{{m.group(1)}}}, which is not set in the environment", source="plan",
                               field=where)
        return os.environ[m.group(1)].replace("{", "{{").replace("}", "}}")

    return ENV_REF.sub(value, text)


def check_env(plan: Plan) -> None:
    """Refuse, before any process starts, a plan whose requests name an unset environment variable."""
    for label, sc in plan.requests():
        for where, text in sc.texts():
            expand_env(text, where=f"scenarios[{label}].{where}")


def _env_json(node: Any) -> Any:
    """A JSON body with `${NAME}` in its strings replaced by the variables' values (taken literally)."""
    if isinstance(node, str):
        return expand_env(node, where="json")
    if isinstance(node, dict):
        return {expand_env(str(k), where="json"): _env_json(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_env_json(v) for v in node]
    return node


def compile_scenario(sc: RequestSpec, index: int, host_header: str, name: str | None = None) -> CompiledScenario:
    """Compile once: literal bytes with the placeholders left as (name, how-written) segments."""
    if sc.path is None:
        raise ValueError(f"scenario {sc.name!r} is a journey: compile its steps")
    parts: list[Part] = [f"{sc.method} ", *_split_template(expand_env(sc.path, where="path"), URL)]
    if sc.query:
        sep = "?" if "?" not in sc.path else "&"
        for k, v in sc.query.items():
            parts.append(sep + urllib.parse.quote(k, safe="") + "=")
            sep = "&"
            parts += _split_template(expand_env(v, where=f"query.{k}"), URL, lambda t: urllib.parse.quote(t, safe=""))
    body: list[Part] = []
    headers: dict[str, str] = {"Host": host_header, "User-Agent": USER_AGENT, "Accept": "*/*"}
    if sc.json_body is not None:
        body = _json_parts(_env_json(sc.json_body))
        headers["Content-Type"] = "application/json"
    elif sc.form is not None:
        body = _form_parts({k: expand_env(v, where=f"form.{k}") for k, v in sc.form.items()})
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    custom = {k: expand_env(v) for k, v in sc.headers.items()}
    lowered = {k.lower() for k in custom}
    headers = {k: v for k, v in headers.items() if k.lower() not in lowered}
    parts.append(" HTTP/1.1\r\n")
    for k, v in {**headers, **custom}.items():
        parts += [f"{k}: ", *_split_template(v, HEADER), "\r\n"]
    body_segments = _merge(body)
    templated_body = any(not isinstance(b, bytes) for b in body_segments)
    if not templated_body:
        data = b"".join(b for b in body_segments if isinstance(b, bytes))
        if data or sc.method in ("POST", "PUT", "PATCH"):
            parts.append(f"Content-Length: {len(data)}\r\n")
        parts.append("\r\n")
        segments = _merge([*parts, *([data.decode()] if data else [])])
    else:
        segments = _merge(parts)
    static = segments[0] if len(segments) == 1 and isinstance(segments[0], bytes) and not templated_body else None
    accept = frozenset(sc.expect.status) if sc.expect.status else None
    jf = tuple(sc.expect.json_field.split(".")) if sc.expect.json_field else None
    return CompiledScenario(name or sc.name, index, sc.method, sc.method == "HEAD", static, segments, accept, jf,
                            body_segments if templated_body else None, spec=sc)


class PoolDraw:
    """Draws from one pool's values: uniform, Zipf (rank k with weight 1/k^s) or sequential."""

    def __init__(self, values: Sequence[str], pool: Pool, rng: random.Random, offset: int = 0) -> None:
        if not values:
            raise ValueError("empty pool")
        self.values = list(values)
        self.rng = rng
        self.mode = pool.draw
        self._seq = itertools.count(offset)
        if self.mode == "zipf":
            w = [1.0 / (k**pool.zipf_s) for k in range(1, len(self.values) + 1)]
            self.cum = list(itertools.accumulate(w))

    def draw(self) -> str:
        if self.mode == "uniform":
            return self.values[int(self.rng.random() * len(self.values))]
        if self.mode == "zipf":
            i = bisect.bisect_left(self.cum, self.rng.random() * self.cum[-1])
            return self.values[min(i, len(self.values) - 1)]
        return self.values[next(self._seq) % len(self.values)]


class RequestFactory:
    """Picks a scenario by weight and renders its request bytes."""

    def __init__(
        self,
        plan: Plan,
        pools: dict[str, list[str]],
        host_header: str,
        *,
        seed: int,
        part: int,
        parts: int = 1,
        data: Mapping[str, Table] | None = None,
    ) -> None:
        self.rng = random.Random(f"{seed}:{part}")
        # every request in recording order (a journey's steps as journey/step); the picks are the plan's scenarios
        self.scenarios: list[CompiledScenario] = []
        self.units: list[CompiledScenario] = []
        for s in plan.scenarios:
            if s.steps is None:
                self.scenarios.append(compile_scenario(s, len(self.scenarios), host_header))
                self.units.append(self.scenarios[-1])
                continue
            steps = [compile_scenario(st, len(self.scenarios) + i, host_header, f"{s.name}/{st.name}")
                     for i, st in enumerate(s.steps)]
            self.scenarios += steps
            steps[0].steps = steps
            self.units.append(steps[0])
        self.names = [c.name for c in self.scenarios]
        self.encoded: dict[tuple[str, int], bytes] = {}
        self.cum = list(itertools.accumulate(s.weight for s in plan.scenarios))
        self.draws = {
            name: PoolDraw(pools[name], plan.pools[name], self.rng, offset=part) for name in plan.pools if name in pools
        }
        tables = data or {}
        self.feeders = {
            name: Feeder(name, tables[name], src, self.rng, part, parts) for name, src in plan.data.items()
            if name in tables
        }
        # `{source.column}` -> (its feeder, the column's place in a row)
        self.columns: dict[str, tuple[Feeder, int]] = {
            f"{name}.{col}": (f, i) for name, f in self.feeders.items() for col, i in f.index.items()
        }
        self.single = self.units[0] if len(self.units) == 1 else None

    def pick(self) -> CompiledScenario:
        """A scenario by weight (a journey: its first step, which carries `steps`)."""
        if self.single is not None:
            return self.single
        i = bisect.bisect_left(self.cum, self.rng.random() * self.cum[-1])
        return self.units[min(i, len(self.units) - 1)]

    def value(self, name: str, drawn: dict[str, Any]) -> Any:
        """The value of `{name}` for this request: drawn once per request, so a name used twice is one value;
        a data source's row is drawn once per request too, so its columns belong together."""
        pool = self.draws.get(name)
        if pool is not None:
            return pool.draw()
        feeder, col = self.columns[name]
        row = drawn.get(feeder.key)
        if row is None:
            row = drawn[feeder.key] = feeder.next()
        return row[col]

    def _fill(self, segments: list[Segment], drawn: dict[str, Any], out: list[bytes]) -> None:
        cache = self.encoded
        for seg in segments:
            if isinstance(seg, bytes):
                out.append(seg)
                continue
            name, mode = seg
            value = drawn.get(name, drawn)
            if value is drawn:
                value = drawn[name] = self.value(name, drawn)
            if type(value) is not str:
                out.append(encode_value(value, mode))
                continue
            # text values repeat (pools, rows, a session's token): each is encoded once per place it is written
            data = cache.get((value, mode))
            if data is None:
                data = encode_value(value, mode)
                if len(cache) < ENCODED_CACHE:
                    cache[(value, mode)] = data
            out.append(data)

    def render(self, sc: CompiledScenario, drawn: dict[str, Any] | None = None) -> bytes:
        """The request's bytes; `drawn` may hold values already fixed for it (a session's, a journey's)."""
        if sc.static is not None:
            return sc.static
        if drawn is None:
            drawn = {}
        out: list[bytes] = []
        self._fill(sc.segments, drawn, out)
        if sc.body is None:
            return b"".join(out)
        body: list[bytes] = []
        self._fill(sc.body, drawn, body)
        data = b"".join(body)
        out.append(b"Content-Length: %d\r\n\r\n" % len(data))
        out.append(data)
        return b"".join(out)


def _walk(node: Any, parts: Sequence[str]) -> list[Any]:
    """Dotted path with `name[*]` (each item) and `name[3]` (one item); returns every match."""
    nodes = [node]
    for part in parts:
        name, _, idx = part.partition("[")
        nxt: list[Any] = []
        for n in nodes:
            if name:
                if isinstance(n, dict) and name in n:
                    n = n[name]
                elif isinstance(n, list) and name.isdigit() and int(name) < len(n):
                    n = n[int(name)]
                else:
                    continue
            if idx:
                idx = idx.rstrip("]")
                if not isinstance(n, list):
                    continue
                if idx == "*":
                    nxt.extend(n)
                elif idx.isdigit() and int(idx) < len(n):
                    nxt.append(n[int(idx)])
            else:
                nxt.append(n)
        nodes = nxt
    return nodes


def extract_json_path(doc: Any, path: str) -> list[Any]:
    return _walk(doc, path.split("."))


def json_field_present(body: bytes | None, path: tuple[str, ...]) -> bool:
    if not body:
        return False
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return bool(_walk(doc, path))


def check_response(sc: CompiledScenario, status: int, body: bytes | None) -> tuple[str, str] | None:
    """None when the response passes, else (error kind, message)."""
    if sc.accept is not None:
        if status not in sc.accept:
            if status >= 500:
                return "http_5xx", f"HTTP {status}"
            if status >= 400:
                return "http_4xx", f"HTTP {status}"
            return "check_failed", f"status {status} not in {sorted(sc.accept)}"
    elif status >= 500:
        return "http_5xx", f"HTTP {status}"
    elif status >= 400:
        return "http_4xx", f"HTTP {status}"
    elif status < 200:
        return "check_failed", f"status {status} is not 2xx/3xx"
    if sc.json_field is not None and not json_field_present(body, sc.json_field):
        return "check_failed", f"JSON field {'.'.join(sc.json_field)!r} missing"
    return None
