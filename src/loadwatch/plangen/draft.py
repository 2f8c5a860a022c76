"""The plan being generated, before it is a file: scenarios, pools and the load, each value with a note saying
where it came from. `PlanDraft.render()` writes ordinary YAML with those notes as comments; `write_plan` validates
the text with the plan model and puts it in place by rename, so a failure never leaves half a file behind.

PyYAML cannot write comments, so the layout is written here line by line and every value goes through
`yaml.safe_dump` (flow style): quoting and escaping stay PyYAML's, and `write_plan` reads the text back to prove it."""

from __future__ import annotations

import contextlib
import fnmatch
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from loadwatch.config import SCENARIO_NAME, Plan, parse_plan, safe_name
from loadwatch.errors import InvalidInput

if TYPE_CHECKING:
    from loadwatch.plangen.correlate import SessionDraft

__all__ = [
    "DEFAULT_DURATION",
    "DEFAULT_RATE",
    "Filters",
    "PlanDraft",
    "PoolDraft",
    "ScenarioDraft",
    "literal",
    "scenario_name",
    "unique_name",
    "write_plan",
]

DEFAULT_ERROR_THRESHOLD = "error_rate < 1%"
ERROR_NOTE = "loadwatch's default, written out: more than 1 % failed requests fails the night"
MIN_TIMINGS = 20  # answered requests with a time before a recording's p95 means anything

DEFAULT_RATE = 10.0  # req/s when the source says nothing about traffic: gentle on a service seen for the first time
DEFAULT_DURATION = 60.0
DEFAULT_WARMUP = 5.0
READ_ONLY = ("GET", "HEAD")
MAX_LEFT_OUT = 100  # lines of the "Left out" comment: an OpenAPI document can have thousands of operations
_NOT_ALLOWED = re.compile(r": method (\S+) not in --methods ")


def literal(text: str) -> str:
    """Text that the plan's `{placeholder}` templating must take literally."""
    return text.replace("{", "{{").replace("}", "}}")


def literal_json(node: Any) -> Any:
    """A JSON body whose strings (keys too) the plan's templating must take literally."""
    if isinstance(node, str):
        return literal(node)
    if isinstance(node, dict):
        return {literal(str(k)): literal_json(v) for k, v in node.items()}
    if isinstance(node, list):
        return [literal_json(v) for v in node]
    return node


def _one_line(note: str) -> str:
    return " ".join(note.split())


def _flow(value: Any) -> str:
    """One YAML value on one line, quoted and escaped by PyYAML."""
    text: str = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=2**31 - 1, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def scenario_name(method: str, path: str) -> str:
    """`GET /api/v1/tools/{tool}` -> `get_api_v1_tools_tool` (the plan's name rules: 1-64 of A-Za-z0-9_.-)."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", path) if w]
    name = "_".join([method.lower(), *words]) if words else f"{method.lower()}_root"
    return name[:64]


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, sanitised to the plan's rules and made unique among `taken` (which it joins)."""
    base = safe_name(name, "scenario", limit=60)  # room for a `_N` suffix
    out, n = base, 2
    while out in taken:
        out, n = f"{base}_{n}", n + 1
    assert SCENARIO_NAME.match(out)
    taken.add(out)
    return out


@dataclass(frozen=True)
class Filters:
    """--methods, --include, --exclude. A glob matches the path, the scenario name or `METHOD /path`."""

    methods: tuple[str, ...] = READ_ONLY
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def _match(self, patterns: tuple[str, ...], method: str, path: str, name: str) -> bool:
        keys = (path, name, f"{method} {path}")
        return any(fnmatch.fnmatchcase(k, p) for p in patterns for k in keys)

    def reason_to_skip(self, method: str, path: str, name: str = "") -> str | None:
        if method.upper() not in self.methods:
            return f"method {method.upper()} not in --methods {','.join(self.methods)}"
        if self.include and not self._match(self.include, method.upper(), path, name):
            return "not matched by --include"
        if self.exclude and self._match(self.exclude, method.upper(), path, name):
            return "matched by --exclude"
        return None


@dataclass
class ScenarioDraft:
    name: str
    method: str
    path: str  # in the plan's template syntax: `{pool}` placeholders, literal braces doubled
    note: str = ""
    weight: float = 1.0
    weight_note: str = ""
    query: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (value, note)
    headers: dict[str, tuple[str, str]] = field(default_factory=dict)
    json_body: Any = None
    json_template: bool = False  # its strings are already templates (values a session extracts); else literal
    body_note: str = ""
    expect_status: list[int] | None = None
    expect_note: str = ""
    steps: list[dict[str, Any]] | None = None  # a journey: its steps in the plan's syntax (method and path unused)

    def json(self) -> Any:
        return self.json_body if self.json_template else literal_json(self.json_body)

    def to_doc(self) -> dict[str, Any]:
        if self.steps is not None:
            return {"name": self.name, "weight": self.weight, "steps": self.steps}
        doc: dict[str, Any] = {"name": self.name, "weight": self.weight, "method": self.method, "path": self.path}
        if self.query:
            doc["query"] = {k: v for k, (v, _) in self.query.items()}
        if self.headers:
            doc["headers"] = {k: v for k, (v, _) in self.headers.items()}
        if self.json_body is not None:
            doc["json"] = self.json()
        if self.expect_status:
            doc["expect"] = {"status": self.expect_status}
        return doc


@dataclass
class PoolDraft:
    note: str
    values: list[str] | None = None
    from_path: str | None = None
    json_path: str | None = None

    def to_doc(self) -> dict[str, Any]:
        if self.values is not None:
            return {"values": self.values}
        return {"from_path": self.from_path, "json_path": self.json_path}


@dataclass
class PlanDraft:
    name: str
    source: str  # what the plan was generated from, for the header comment
    base_url: str
    base_note: str
    rate: float = DEFAULT_RATE
    rate_note: str = "default for a first run; `--rate` or `loadwatch load --rate` changes it"
    scenarios: list[ScenarioDraft] = field(default_factory=list)
    pools: dict[str, PoolDraft] = field(default_factory=dict)
    allowed_hosts: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # what the source had and the plan does not, and why
    # explicit thresholds with where each came from (issue 22: a plan never leaves them implicit)
    thresholds: list[tuple[str, str]] = field(default_factory=lambda: [(DEFAULT_ERROR_THRESHOLD, ERROR_NOTE)])
    session: SessionDraft | None = None  # a recording that logs in (loadwatch.plangen.correlate)
    journey_notes: list[str] = field(default_factory=list)  # values a write created and later requests sent

    def _session_doc(self) -> dict[str, Any] | None:
        if self.session is None:
            return None
        doc: dict[str, Any] = {"login": self.session.steps}
        if self.session.refresh:
            doc["refresh"] = self.session.refresh
        return doc

    def to_doc(self) -> dict[str, Any]:
        target: dict[str, Any] = {"url": self.base_url}
        if self.allowed_hosts:
            target["allowed_hosts"] = self.allowed_hosts
        doc: dict[str, Any] = {
            "name": self.name,
            "target": target,
            "load": {"model": "open", "rate": self.rate, "duration": DEFAULT_DURATION, "warmup": DEFAULT_WARMUP},
        }
        if self.pools:
            doc["pools"] = {k: p.to_doc() for k, p in self.pools.items()}
        session = self._session_doc()
        if session is not None:
            doc["session"] = session
        doc["scenarios"] = [s.to_doc() for s in self.scenarios]
        doc["thresholds"] = [expr for expr, _ in self.thresholds]
        return doc

    def render(self) -> str:
        out: list[str] = [f"# Generated by `loadwatch init` from {_one_line(self.source)}.",
                          "# Every value says where it came from; edit freely, `loadwatch load --plan` runs it as is."]

        def line(indent: int, key: str, value: Any | None = None, note: str = "") -> None:
            text = " " * indent + key + ":" + ("" if value is None else " " + _flow(value))
            out.append(text + (f"  # {_one_line(note)}" if note else ""))

        if self.session is not None and self.session.env:
            out.append("# Set before the run (secrets of the recording, kept out of this file):")
            out += [f"#   {var}: {_one_line(what)}" for var, what in self.session.env.items()]
        line(0, "name", self.name)
        line(0, "target")
        line(2, "url", self.base_url, self.base_note)
        if self.allowed_hosts:
            line(2, "allowed_hosts", self.allowed_hosts, "you named this host yourself (--base-url)")
        line(0, "load")
        line(2, "model", "open", "arrival rate; latency measured from the intended send time")
        line(2, "rate", self.rate, self.rate_note)
        line(2, "duration", DEFAULT_DURATION, "seconds")
        line(2, "warmup", DEFAULT_WARMUP, "seconds left out of the statistics")
        if self.pools:
            line(0, "pools")
            for name, pool in self.pools.items():
                line(2, name, None, pool.note)
                for key, value in pool.to_doc().items():
                    line(4, key, value)
        self._render_session(line, out)
        line(0, "scenarios")
        for sc in self.scenarios:
            out.append(f"  - name: {_flow(sc.name)}" + (f"  # {_one_line(sc.note)}" if sc.note else ""))
            line(4, "weight", sc.weight, sc.weight_note)
            if sc.steps is not None:
                line(4, "steps")
                out += [f"      - {_flow(st)}" for st in sc.steps]
                continue
            line(4, "method", sc.method)
            line(4, "path", sc.path)
            for key, items in (("query", sc.query), ("headers", sc.headers)):
                if items:
                    line(4, key)
                    for k, (v, note) in items.items():
                        out.append(f"      {_flow(k)}: {_flow(v)}" + (f"  # {_one_line(note)}" if note else ""))
            if sc.json_body is not None:
                line(4, "json", sc.json(), sc.body_note)
            if sc.expect_status:
                line(4, "expect")
                line(6, "status", sc.expect_status, sc.expect_note)
        line(0, "thresholds")
        for expr, note in self.thresholds:
            out.append(f"  - {_flow(expr)}" + (f"  # {_one_line(note)}" if note else ""))
        if not any(expr.startswith("p95") for expr, _ in self.thresholds):
            out.append("  # no latency threshold: the source has no timings; the nightly gate judges latency "
                       "against the target's own nights")
        if self.journey_notes:
            out.append("# Journeys: values a write created, taken from its answer by the requests that sent them:")
            out += [f"#   {_one_line(x)}" for x in self.journey_notes]
        if self.left_out:
            out.append("# Left out:")
            out += [f"#   {_one_line(x)}" for x in self._left_out_lines()]
        return "\n".join(out) + "\n"

    def _render_session(self, line: Any, out: list[str]) -> None:
        if self.session is None:
            return
        line(0, "session", None, "the recording logs in: each virtual user logs in itself, with its own cookies")
        line(2, "login")
        for step, note in zip(self.session.steps, self.session.notes, strict=True):
            out.append(f"    - {_flow(step)}  # {_one_line(note)}")
        if self.session.refresh:
            line(2, "refresh", self.session.refresh, "renewed before the token's recorded lifetime runs out")
        if self.session.correlations:
            out.append("  # Values matched across the recording (a later request sent what an earlier answer held):")
            out += [f"  #   {_one_line(c)}" for c in self.session.correlations[:MAX_LEFT_OUT]]

    def _left_out_lines(self) -> list[str]:
        """What was left out and why; the operations of methods the user did not allow are one line (a spec can
        have a hundred POSTs, and they must not hide why a GET was left out)."""
        by_method: dict[str, int] = {}
        lines = []
        for x in self.left_out:
            m = _NOT_ALLOWED.search(x)
            if m:
                by_method[m.group(1)] = by_method.get(m.group(1), 0) + 1
            else:
                lines.append(x)
        if len(lines) > MAX_LEFT_OUT:
            lines = [*lines[:MAX_LEFT_OUT], f"... and {len(lines) - MAX_LEFT_OUT} more"]
        if by_method:
            counts = ", ".join(f"{m} ×{n}" for m, n in sorted(by_method.items(), key=lambda kv: -kv[1]))
            lines.append(f"{sum(by_method.values())} operation(s) of methods not in --methods ({counts})")
        return lines

    def to_plan(self, where: str = "the generated plan") -> Plan:
        """The rendered text read back through the plan model (what `write_plan` writes, proved)."""
        return parse_plan(yaml.safe_load(self.render()), source=where)


def recorded_thresholds(durations_ms: list[float]) -> list[tuple[str, str]]:
    """The explicit thresholds of a generated plan: the error rate always, and a p95 limit from the recording's own
    timings when it has enough of them (3x its p95, at least 50 ms: a loose first guard, to be tightened once
    nights exist; the regression gate does the fine judging)."""
    out = [(DEFAULT_ERROR_THRESHOLD, ERROR_NOTE)]
    times = sorted(t for t in durations_ms if t >= 0)
    if len(times) >= MIN_TIMINGS:
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        limit = max(50, math.ceil(3 * p95))
        out.append((f"p95 < {limit}ms", f"3x the recording's p95 of {p95:.1f} ms over {len(times)} answered "
                                        "request(s), at least 50 ms; tighten it once nights exist"))
    return out


def write_plan(draft: PlanDraft, out: Path) -> Plan:
    """Validate the rendered text with the plan model, then write it by rename: all or nothing."""
    if not draft.scenarios:
        raise InvalidInput("nothing left to load after the filters: " + "; ".join(draft.left_out[:5]),
                           source=draft.source)
    text = draft.render()
    plan = draft.to_plan(f"{out} (generated)")
    if out.is_dir():
        raise InvalidInput("is a directory; expected the plan file to write", source=str(out), field="--out")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    except OSError as exc:
        raise InvalidInput(f"cannot write here: {exc.strerror}", source=str(out), field="--out") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise InvalidInput(f"cannot write: {exc.strerror}", source=str(out), field="--out") from None
        raise
    return plan
