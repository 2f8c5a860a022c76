"""Plan → ready-to-send request bytes, data pools and response checks.

Each scenario's request is pre-built once: fully static bytes when it has no `{placeholder}`, otherwise a list
of byte segments where only the drawn values are formatted per request (URL-quoted in the path and query,
CR/LF-stripped in headers). Scenario choice and pool draws use one seeded `random.Random` per process."""

from __future__ import annotations

import bisect
import itertools
import json
import os
import random
import re
import string
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loadwatch.config import ENV_REF, Plan, Pool, Scenario
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
]

USER_AGENT = "loadwatch"


def _split_template(text: str) -> list[str | tuple[str]]:
    """'a/{x}/b' -> ['a/', ('x',), '/b'] (a 1-tuple marks a placeholder)."""
    out: list[str | tuple[str]] = []
    for literal, name, _spec, _conv in string.Formatter().parse(text):
        if literal:
            out.append(literal)
        if name:
            out.append((name,))
    return out


@dataclass
class CompiledScenario:
    name: str
    index: int
    method: str
    head: bool
    static: bytes | None  # the whole request when nothing is templated
    segments: list[bytes | tuple[str, bool]] = field(default_factory=list)  # (pool name, url-quote?)
    accept: frozenset[int] | None = None  # None = 200..399
    json_field: tuple[str, ...] | None = None
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
    """Refuse, before any process starts, a plan whose headers name an unset environment variable."""
    for sc in plan.scenarios:
        for k, v in sc.headers.items():
            expand_env(v, where=f"scenarios[{sc.name}].headers.{k}")


def compile_scenario(sc: Scenario, index: int, host_header: str) -> CompiledScenario:
    parts: list[str | tuple[str, bool]] = [f"{sc.method} "]
    for p in _split_template(sc.path):
        parts.append(p if isinstance(p, str) else (p[0], True))
    if sc.query:
        sep = "?" if "?" not in sc.path else "&"
        for k, v in sc.query.items():
            parts.append(sep + urllib.parse.quote(k, safe="") + "=")
            sep = "&"
            for p in _split_template(v):
                parts.append(urllib.parse.quote(p, safe="") if isinstance(p, str) else (p[0], True))
    body = b""
    headers: dict[str, str] = {"Host": host_header, "User-Agent": USER_AGENT, "Accept": "*/*"}
    if sc.json_body is not None:
        body = json.dumps(sc.json_body, separators=(",", ":")).encode()
        headers["Content-Type"] = "application/json"
    custom = {k: expand_env(v) for k, v in sc.headers.items()}
    lowered = {k.lower() for k in custom}
    headers = {k: v for k, v in headers.items() if k.lower() not in lowered}
    parts.append(" HTTP/1.1\r\n")
    for k, v in {**headers, **custom}.items():
        parts.append(f"{k}: ")
        for p in _split_template(v):
            parts.append(p if isinstance(p, str) else (p[0], False))
        parts.append("\r\n")
    if body or sc.method in ("POST", "PUT", "PATCH"):
        parts.append(f"Content-Length: {len(body)}\r\n")
    parts.append("\r\n")
    # merge adjacent literals into bytes
    segments: list[bytes | tuple[str, bool]] = []
    for part in parts:
        if isinstance(part, str):
            if segments and isinstance(segments[-1], bytes):
                segments[-1] += part.encode()
            else:
                segments.append(part.encode())
        else:
            segments.append(part)
    if body:
        if isinstance(segments[-1], bytes):
            segments[-1] += body
        else:
            segments.append(body)
    static = segments[0] if len(segments) == 1 and isinstance(segments[0], bytes) else None
    accept = frozenset(sc.expect.status) if sc.expect.status else None
    jf = tuple(sc.expect.json_field.split(".")) if sc.expect.json_field else None
    return CompiledScenario(sc.name, index, sc.method, sc.method == "HEAD", static, segments, accept, jf)


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

    def __init__(self, plan: Plan, pools: dict[str, list[str]], host_header: str, *, seed: int, part: int) -> None:
        self.rng = random.Random(f"{seed}:{part}")
        self.scenarios = [compile_scenario(s, i, host_header) for i, s in enumerate(plan.scenarios)]
        self.cum = list(itertools.accumulate(s.weight for s in plan.scenarios))
        self.draws = {
            name: PoolDraw(pools[name], plan.pools[name], self.rng, offset=part) for name in plan.pools if name in pools
        }
        self.single = self.scenarios[0] if len(self.scenarios) == 1 else None

    def pick(self) -> CompiledScenario:
        if self.single is not None:
            return self.single
        i = bisect.bisect_left(self.cum, self.rng.random() * self.cum[-1])
        return self.scenarios[min(i, len(self.scenarios) - 1)]

    def render(self, sc: CompiledScenario) -> bytes:
        if sc.static is not None:
            return sc.static
        drawn: dict[str, str] = {}
        out: list[bytes] = []
        for seg in sc.segments:
            if isinstance(seg, bytes):
                out.append(seg)
                continue
            name, quote = seg
            value = drawn.get(name)
            if value is None:
                value = drawn[name] = self.draws[name].draw()
            out.append(
                (urllib.parse.quote(value, safe="") if quote else value.replace("\r", "").replace("\n", "")).encode()
            )
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
