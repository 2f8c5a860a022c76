"""The one typed configuration model: a load plan (YAML), validated once at the edge.

`load_plan(path)` turns every validation problem into one `InvalidInput` that names the file, the field
and what is allowed. Everything downstream receives a frozen, fully validated `Plan`."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import re
import string
import urllib.parse
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from loadwatch.errors import InvalidInput
from loadwatch.settings import settings
from loadwatch.stats.thresholds import parse_threshold

__all__ = [
    "DEFAULT_PLAN",
    "CapacitySpec",
    "Check",
    "DataSource",
    "Extract",
    "LoadSpec",
    "MonitorSpec",
    "NotifySpec",
    "Plan",
    "Pool",
    "RefreshSpec",
    "RequestSpec",
    "Scenario",
    "SessionSpec",
    "Stage",
    "Step",
    "TargetSpec",
    "Timeouts",
    "check_channel",
    "check_target_allowed",
    "load_plan",
    "parse_plan",
    "plan_from_url",
    "safe_name",
]

DEFAULT_PLAN = "tool_catalog.yaml"
MAX_DURATION_S = 24 * 3600.0  # every request loop is bounded in time
MAX_RATE = 1_000_000.0
MAX_USERS = 100_000
SCENARIO_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
# `${NAME}` in a header value: filled from the environment when the requests are built, so a credential lives in
# the environment, never in the plan, its hash or the stored results
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
DATA_NAME = VALUE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stage(_Model):
    """One ramp step: reach `target` (req/s for open, users for closed) linearly over `duration` seconds."""

    duration: float = Field(gt=0, le=MAX_DURATION_S)
    target: float = Field(ge=0, le=MAX_RATE)


class Timeouts(_Model):
    connect: float = Field(5.0, gt=0, le=600)
    total: float = Field(30.0, gt=0, le=3600)


class LoadSpec(_Model):
    model: Literal["open", "closed"] = "open"
    rate: float | None = Field(None, gt=0, le=MAX_RATE, description="open: requests per second")
    arrival: Literal["constant", "poisson"] = "constant"
    stages: list[Stage] | None = Field(None, description="ramps: replaces rate/users and duration")
    users: int | None = Field(None, ge=1, le=MAX_USERS, description="closed: virtual users")
    think_time: float = Field(0.5, ge=0, le=3600)
    think_jitter: float = Field(0.5, ge=0, le=1, description="think time is uniform in t*(1-j)..t*(1+j)")
    ramp: float = Field(0.0, ge=0, le=MAX_DURATION_S, description="closed: users start spread over this many s")
    duration: float = Field(60.0, gt=0, le=MAX_DURATION_S)
    warmup: float = Field(0.0, ge=0, le=MAX_DURATION_S, description="seconds excluded from the statistics")
    max_in_flight: int = Field(1000, ge=1, le=1_000_000, description="open: cap per process; beyond it sends drop")
    connections: int | None = Field(None, ge=1, le=100_000, description="open: keep-alive connections per process")
    max_requests: int | None = Field(None, ge=1, description="hard bound on requests sent")
    workers: int | None = Field(None, ge=1, le=256, description="generator processes (default: CPU count)")
    timeout: Timeouts = Timeouts()
    seed: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> LoadSpec:
        if self.model == "open" and self.rate is None and not self.stages:
            raise ValueError("the open model needs `rate` (requests per second) or `stages`")
        if self.model == "closed" and self.users is None and not self.stages:
            raise ValueError("the closed model needs `users` or `stages`")
        if self.warmup >= self.total_duration:
            raise ValueError(f"warmup ({self.warmup:g} s) must be shorter than the run ({self.total_duration:g} s)")
        return self

    @property
    def total_duration(self) -> float:
        return sum(s.duration for s in self.stages) if self.stages else self.duration


class Check(_Model):
    status: list[int] | None = Field(None, description="accepted status codes (default: 2xx and 3xx)")
    json_field: str | None = Field(None, description="dotted path that must exist in the JSON body")

    @field_validator("status")
    @classmethod
    def _codes(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and any(not 100 <= c <= 599 for c in v):
            raise ValueError("status codes must be between 100 and 599")
        return v


class Extract(_Model):
    """A value taken from an answer into the session (or the journey): one of a JSON path, a header, or a regular
    expression over the body (its first group, else the whole match)."""

    json_path: str | None = Field(None, alias="json", description="dotted path: access_token, items[0].id")
    header: str | None = None
    regex: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one(self) -> Extract:
        if sum(x is not None for x in (self.json_path, self.header, self.regex)) != 1:
            raise ValueError("give exactly one of `json`, `header` or `regex`")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return self


class RequestSpec(_Model):
    """What a request is: a scenario's, a journey step's or a login step's."""

    name: str
    method: str = "GET"
    path: str | None = None
    query: dict[str, str] = {}
    headers: dict[str, str] = {}
    json_body: Any = Field(None, alias="json")
    form: dict[str, str] | None = Field(None, description="an application/x-www-form-urlencoded body")
    expect: Check = Check()
    redirects: int = Field(0, ge=0, le=20, description="3xx answers followed, at most; 0: a 3xx is the answer")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_body(self) -> RequestSpec:
        if self.json_body is not None and self.form is not None:
            raise ValueError("give `json` or `form`, not both")
        return self

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not SCENARIO_NAME.match(v):
            raise ValueError("1-64 characters from A-Z a-z 0-9 _ . -")
        return v

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        if v.upper() not in HTTP_METHODS:
            raise ValueError(f"one of {', '.join(HTTP_METHODS)}")
        return v.upper()

    @field_validator("path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None and (not v.startswith("/") or any(c in v for c in " \r\n\t")):
            raise ValueError("must start with '/' and contain no whitespace")
        return v

    def texts(self) -> list[tuple[str, str]]:
        """Every text of the request that is a template, with its field: path, query, header and form values,
        the strings of a JSON body."""
        texts: list[tuple[str, str]] = [("path", self.path or "")]
        texts += [(f"query.{k}", v) for k, v in self.query.items()]
        texts += [(f"headers.{k}", v) for k, v in self.headers.items()]
        texts += [(f"form.{k}", v) for k, v in (self.form or {}).items()]
        return texts + _json_texts(self.json_body, "json")

    def placeholders(self) -> dict[str, str]:
        """Every `{name}` the request's text uses -> the first field that uses it (`path`, `json.filter.name`)."""
        names: dict[str, str] = {}
        for where, text in self.texts():
            for name in template_names(ENV_REF.sub("", text), where):
                names.setdefault(name, where)
        return names

    def env_refs(self) -> set[str]:
        """Environment variables named by `${NAME}` in the request's text (a secret stays out of the plan)."""
        return {m for _, text in self.texts() for m in ENV_REF.findall(text)}


class Step(RequestSpec):
    """One request of a journey or of a session's login: its answer may fill values for the next ones."""

    path: str
    extract: dict[str, Extract] = {}

    @field_validator("extract")
    @classmethod
    def _names(cls, v: dict[str, Extract]) -> dict[str, Extract]:
        bad = [k for k in v if not VALUE_NAME.match(k)]
        if bad:
            raise ValueError(f"value names are 1-64 of A-Z a-z 0-9 _ -, not starting with a digit: {bad[0]!r}")
        return v


class Scenario(RequestSpec):
    """One request (`path`), or a journey: named `steps` sent one after the other, values flowing between them."""

    weight: float = Field(1.0, gt=0)
    steps: list[Step] | None = Field(None, min_length=1, description="a journey: replaces path and the request")

    @model_validator(mode="after")
    def _request_or_journey(self) -> Scenario:
        if self.steps is None:
            if self.path is None:
                raise ValueError("give `path` (one request) or `steps` (a journey)")
            return self
        request = {"path", "query", "headers", "json_body", "form", "expect", "redirects", "method"}
        given = sorted(f for f in request & self.model_fields_set)
        if given:
            raise ValueError(f"a journey (`steps`) has no request of its own: move {', '.join(given)} into a step")
        names = [st.name for st in self.steps]
        if len(set(names)) != len(names):
            raise ValueError("step names must be unique within the journey")
        return self

    @property
    def request_path(self) -> str:
        """The path of a one-request scenario (a journey has none: use its steps)."""
        if self.path is None:
            raise ValueError(f"scenario {self.name!r} is a journey")
        return self.path


class RefreshSpec(_Model):
    """Renew a session's credentials before they expire: after `every` seconds, or after the value extracted as
    `expires_in` (seconds, from the login's answer), less `margin` of that lifetime."""

    every: float | None = Field(None, gt=0, le=MAX_DURATION_S)
    expires_in: str | None = Field(None, description="the extracted value holding the lifetime in seconds")
    margin: float = Field(0.25, ge=0, lt=1, description="share of the lifetime left when the refresh runs")
    steps: list[Step] | None = Field(None, min_length=1, description="default: the login steps again")

    @model_validator(mode="after")
    def _when(self) -> RefreshSpec:
        if self.every is None and self.expires_in is None:
            raise ValueError("give `every` (seconds) or `expires_in` (an extracted value)")
        return self


class SessionSpec(_Model):
    """Virtual users with state: a cookie jar, values extracted from answers, a login when the session starts."""

    login: list[Step] = []
    refresh: RefreshSpec | None = None
    cookies: bool = Field(True, description="keep a cookie jar per session (RFC 6265, http.cookiejar)")
    pool: int = Field(16, ge=1, le=100_000, description="open model: logged-in sessions the arrivals take turns on")
    measure_login: bool = Field(False, description="also count login and refresh requests as scenarios")

    @model_validator(mode="after")
    def _steps(self) -> SessionSpec:
        for steps in (self.login, (self.refresh.steps or []) if self.refresh else []):
            names = [st.name for st in steps]
            if len(set(names)) != len(names):
                raise ValueError("step names must be unique within the login and within the refresh")
        if self.refresh is not None and self.refresh.steps is None and not self.login:
            raise ValueError("`refresh` without `steps` repeats the login: give `login` steps")
        return self

    def extracted(self) -> frozenset[str]:
        """The values every logged-in session has: what its login extracts (a renewal runs only later, so a value
        only the refresh steps extract is not one a scenario can count on)."""
        return frozenset(k for st in self.login for k in st.extract)


def template_names(text: str, where: str) -> list[str]:
    """The `{name}`s of one template; a malformed one (a lone brace, a format spec) is an invalid plan."""
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise ValueError(f"{where}: {exc} (write a literal brace as {{{{ or }}}})") from None
    for name, spec, conv in fields:
        if not name or spec or conv:
            raise ValueError(f"{where}: {{{name}{'!' + conv if conv else ''}{':' + spec if spec else ''}}} is not a "
                             "value name: {pool} or {data.column} (write a literal brace as {{ or }})")
    return [f for f, _, _ in fields]


def _json_texts(node: Any, where: str) -> list[tuple[str, str]]:
    """The strings (keys and values) of a JSON body, each with its dotted place."""
    if isinstance(node, str):
        return [(where, node)]
    if isinstance(node, dict):
        out: list[tuple[str, str]] = []
        for k, v in node.items():
            out += [(f"{where}.{k}", str(k)), *_json_texts(v, f"{where}.{k}")]
        return out
    if isinstance(node, list):
        return [t for i, v in enumerate(node) for t in _json_texts(v, f"{where}[{i}]")]
    return []


class Pool(_Model):
    """Values for `{name}` placeholders: inline, or fetched at setup from a JSON answer."""

    values: list[str] | None = None
    from_path: str | None = Field(None, description="GET this path at setup; its JSON fills the pool")
    json_path: str | None = Field(None, description="dotted path to the list, `[*]` for each item: tools[*].tool_name")
    limit: int = Field(1000, ge=1, le=1_000_000)
    draw: Literal["uniform", "zipf", "sequential"] = "uniform"
    zipf_s: float = Field(1.1, gt=1.0, le=10.0)

    @model_validator(mode="after")
    def _source(self) -> Pool:
        if bool(self.values) == bool(self.from_path):
            raise ValueError("give exactly one of `values` (a non-empty list) or `from_path`")
        if self.from_path and not self.json_path:
            raise ValueError("`from_path` needs `json_path`, e.g. tools[*].tool_name")
        return self




class DataSource(_Model):
    """Rows of test data whose columns are drawn together (`{name.column}`): a CSV or JSON Lines file, or a SQL
    query against `target.database_url`, read once before the run (docs/plan.md, "Data sources")."""

    file: str | None = Field(None, description="CSV (.csv) or JSON Lines (.jsonl, .ndjson), relative to the plan")
    format: Literal["csv", "jsonl"] | None = Field(None, description="default: from the file's extension")
    query: str | None = Field(None, description="SQL run once, read-only, against target.database_url")
    strategy: Literal["random", "circular", "sequential", "unique"] = "random"
    on_exhausted: Literal["stop", "wrap"] = Field("stop", description="sequential/unique: at the last row")
    limit: int = Field(1_000_000, ge=1, le=10_000_000, description="rows read at most")

    @model_validator(mode="after")
    def _source(self) -> DataSource:
        if (self.file is None) == (self.query is None):
            raise ValueError("give exactly one of `file` or `query`")
        if self.file is not None and self.file_format is None:
            raise ValueError(f"cannot tell the format of {self.file!r}: name it .csv or .jsonl, or set `format`")
        return self

    @property
    def file_format(self) -> str | None:
        if self.format is not None or self.file is None:
            return self.format
        suffix = Path(self.file).suffix.lower()
        return {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(suffix)


class TargetSpec(_Model):
    url: str = "demo"
    stats_path: str | None = None
    version_path: str | None = None
    health_path: str = "/"
    allowed_hosts: list[str] = []
    pid: int | None = Field(None, ge=1)
    pid_file: str | None = None
    port: int | None = Field(None, ge=1, le=65535, description="find the target's processes by listening port")
    process_pattern: str | None = None
    database_url: str | None = Field(None, description="the target's own Postgres, for its counters")
    startup_timeout: float = Field(30.0, gt=0, le=600)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v == "demo":
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("`demo` or an http(s)://host[:port] URL")
        try:
            _ = parts.port
        except ValueError as exc:
            raise ValueError(f"bad port in {v!r}") from exc
        return v.rstrip("/")

    @field_validator("stats_path", "version_path", "health_path")
    @classmethod
    def _paths(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("/"):
            raise ValueError("must start with '/'")
        return v

    @field_validator("process_pattern")
    @classmethod
    def _pattern(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return v


class MonitorSpec(_Model):
    interval: float = Field(1.0, ge=0.1, le=60)
    enabled: bool = True


class CapacitySpec(_Model):
    """The capacity stage (loadwatch.capacity.search, docs/METHOD.md): the highest open-model rate at which every SLO
    holds, found by a geometric ramp, a bisection and one confirmation step, all inside `budget` seconds."""

    slos: list[str] = Field(min_length=1, description='threshold syntax: "p99 < 50ms", "search: p95 < 20ms"')
    max_rate: float = Field(100_000.0, gt=0, le=MAX_RATE, description="req/s; the ramp stops here")
    start_rate: float = Field(25.0, gt=0, le=MAX_RATE, description="req/s of the first step")
    budget: float = Field(120.0, ge=5, le=MAX_DURATION_S, description="seconds for the whole search")
    resolution: float = Field(0.03, ge=0.005, le=0.5, description="bisect until first bad / last good - 1 <= this")
    growth: float = Field(2.0, ge=1.1, le=10.0, description="ramp factor between steps")
    step: float = Field(3.0, ge=0.5, le=600, description="measured seconds per step (more at low rates)")
    max_step: float = Field(8.0, ge=0.5, le=600, description="measured seconds per step at most")
    settle: float = Field(1.0, ge=0, le=60, description="seconds at the step's rate before measuring")
    min_requests: int = Field(300, ge=1, le=10_000_000, description="requests a step should measure")

    @field_validator("slos")
    @classmethod
    def _slos(cls, v: list[str]) -> list[str]:
        for expr in v:
            try:
                parse_threshold(expr, source="")
            except InvalidInput as exc:
                raise ValueError(exc.message.removeprefix("thresholds: ")) from None
        return v

    @model_validator(mode="after")
    def _rates(self) -> CapacitySpec:
        if self.start_rate > self.max_rate:
            raise ValueError(f"start_rate ({self.start_rate:g}) is above max_rate ({self.max_rate:g})")
        if self.max_step < self.step:
            raise ValueError(f"max_step ({self.max_step:g} s) is shorter than step ({self.step:g} s)")
        return self

    def measure_seconds(self, rate: float) -> float:
        """Measured seconds of a step at `rate`: `step`, longer at low rates to reach `min_requests`, at most
        `max_step`."""
        return min(max(self.step, self.min_requests / rate), self.max_step)


class VerdictSpec(_Model):
    """How the night's verdict treats what it finds (docs/METHOD.md, "Open changes")."""

    open_changes: Literal["fail", "warn"] = Field(
        "fail", description="fail: an open (untriaged) change fails every night; warn: only the night it opened")
    confirm: bool = Field(
        True, description="a new regression must show again in a second load of the same night before it fails the "
                          "night (the load runs once more, only on such nights); false: the first load decides")
    min_history: int = Field(
        10, ge=5, le=20,
        description="comparable earlier runs the gate needs before it judges a series (5-20, at most its 20-run "
                    "window); fewer judge sooner with wider intervals (docs/METHOD.md §3, \"How much history\")")


# plan fields added after plans were first hashed, at their defaults (plan_hash leaves them out)
HASH_NEUTRAL_PLAN: dict[str, Any] = {"data": {}, "session": None}
HASH_NEUTRAL_SCENARIO: dict[str, Any] = {"form": None, "redirects": 0, "steps": None}


BLOCK_NAME = re.compile(r"^[a-z0-9-]+/[^/\s]+$")  # a Prefect block: <block type slug>/<block name>


def check_channel(ref: str) -> str:
    """An Apprise URL (`${NAME}` filled from the environment when sending) or `block:<type>/<name>`; ValueError
    saying what is allowed otherwise."""
    if ref.startswith("block:"):
        if not BLOCK_NAME.match(ref.removeprefix("block:")):
            raise ValueError(f"{ref!r}: a Prefect block is `block:<block type>/<name>`, "
                             "e.g. block:slack-webhook/oncall")
        return ref
    import apprise  # only for plans that notify: its import is not free

    scheme = ref.split("://", 1)[0].lower() if "://" in ref else ""
    if ENV_REF.search(ref):  # tokens come from the environment when sending: only the service can be checked now
        known = {str(p).lower() for s in apprise.Apprise().details()["schemas"]
                 for p in [*(s.get("protocols") or []), *(s.get("secure_protocols") or [])]}
        ok = scheme in known
    else:
        ok = bool(scheme) and apprise.Apprise.instantiate(ref) is not None
    if not ok:
        raise ValueError(f"{ref!r} is not an Apprise URL this install supports (e.g. slack://..., workflows://... "
                         "for Teams, mailto://..., pagerduty://..., json://host/path; "
                         "https://github.com/caronc/apprise/wiki)")
    return ref


class NotifySpec(_Model):
    """Being told (docs/deploy.md): channels, links and when to speak. Not part of the plan's hash."""

    urls: list[str] = Field([], description="Apprise URLs; ${NAME} is filled from the environment when sending")
    blocks: list[str] = Field([], description="Prefect notification blocks, <block type>/<name>")
    report_url: str | None = Field(None, description="base URL of the reports: <base>/<run id>/report.html, or "
                                   "a URL with {run_id}")
    prefect_ui_url: str | None = Field(None, description="the Prefect UI (default: PREFECT_UI_URL, or "
                                       "PREFECT_API_URL without /api)")
    remind_days: float = Field(7.0, gt=0, le=365, description="days between reminders of a change still open")
    inconclusive_nights: int = Field(3, ge=1, le=365, description="tell after this many inconclusive nights in a row")
    max_gap_hours: float = Field(25.0, gt=0, le=24 * 365, description="a missed night: no completed run this long")
    tell_after_nights: int = Field(2, ge=1, le=30, description="a new change is told on the first night at least "
                                   "this many into it that is a regression again (1: on its first night)")
    tell_by_nights: int = Field(5, ge=1, le=60, description="... or once it has been held this many nights, "
                                "whatever they said")
    tell_at_once_percent: float = Field(100.0, gt=0, le=1e6, description="... or at once when the low end of its "
                                        "interval is at least this (percent)")
    tell_at_once_points: float = Field(1.0, gt=0, le=100, description="... or, for the error rate, these points")

    @field_validator("urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        return [check_channel(u) for u in v]

    @field_validator("blocks")
    @classmethod
    def _blocks(cls, v: list[str]) -> list[str]:
        return [check_channel("block:" + b).removeprefix("block:") for b in v]

    @field_validator("report_url", "prefect_ui_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).scheme not in ("http", "https", "file"):
            raise ValueError("an http(s):// or file:// URL")
        return v

    def channels(self) -> list[str]:
        """Every channel as one reference: Apprise URLs, then `block:<type>/<name>`."""
        return [*self.urls, *("block:" + b for b in self.blocks)]


AB_PERCENTILES = ("p50", "p90", "p95", "p99", "p999")


def _ab_side(value: str) -> str:
    """A build of the nightly A/B stage: a running build's loopback URL, or a command starting one on {port}."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme in ("http", "https"):
        host = parts.hostname or ""
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"both builds run on loopback (127.0.0.1, ::1, localhost), got host {host!r}")
        return value.rstrip("/")
    if "{port}" not in value:
        raise ValueError("a loopback http(s):// URL of a running build, or a command starting one with {port}, "
                         f"e.g. './server --port {{port}}'; got {value!r}")
    return value


class AbSpec(_Model):
    """The nightly A/B stage (loadwatch.pipeline.ab_stage, docs/METHOD.md §13): after the fixed-rate load, the plan's
    scenarios against two builds in alternating rounds, judged pair by pair; a regression fails the night."""

    baseline: str = Field(description="the previous release: loopback URL, or a command with {port}")
    candidate: str = Field(description="tonight's build: loopback URL, or a command with {port}")
    budget: float = Field(120.0, ge=5, le=MAX_DURATION_S, description="seconds of rounds at most")
    round: float | None = Field(None, gt=0, le=600, description="measured seconds per round (default: long "
                                "enough for the highest percentile judged)")
    settle: float = Field(0.5, ge=0, le=60, description="warm-up seconds before each round")
    percentiles: list[str] = Field(["p50", "p95"], min_length=1, description="judged: p50, p90, p95, p99, p999")
    floors: dict[str, float] = Field({}, description="smallest change worth a verdict, percent, e.g. {p95: 5}")
    alpha: float = Field(0.01, gt=0, lt=0.5, description="false-alarm rate over the whole session")
    looks: int = Field(3, ge=1, le=10, description="looks of the stopping rule")
    max_pairs: int | None = Field(None, ge=1, le=10_000, description="plan at most this many pairs of rounds")
    warmup_rounds: int = Field(1, ge=0, le=5, description="rounds per build before the first pair, never judged")

    @field_validator("baseline", "candidate")
    @classmethod
    def _side(cls, v: str) -> str:
        return _ab_side(v)

    @field_validator("percentiles")
    @classmethod
    def _percentiles(cls, v: list[str]) -> list[str]:
        bad = [p for p in v if p not in AB_PERCENTILES]
        if bad:
            raise ValueError(f"unknown percentile(s) {', '.join(bad)}; allowed: {', '.join(AB_PERCENTILES)}")
        return v

    @field_validator("floors")
    @classmethod
    def _floors(cls, v: dict[str, float]) -> dict[str, float]:
        for key, pct in v.items():
            if key not in AB_PERCENTILES or not 0 < pct < 100:
                raise ValueError(f"{key}: {pct}: a floor is PERCENTILE: PERCENT with 0 < PERCENT < 100 and the "
                                 f"percentile one of {', '.join(AB_PERCENTILES)}")
        return v

    @model_validator(mode="after")
    def _round_fits(self) -> AbSpec:
        if self.round is not None and 2 * (self.round + self.settle) > self.budget:
            raise ValueError(f"a pair of rounds takes {2 * (self.round + self.settle):g} s, more than the budget "
                             f"{self.budget:g} s")
        return self


class Plan(_Model):
    _base_dir: Path | None = PrivateAttr(None)  # set by load_plan; not part of the plan (nor of its hash)
    name: str = "plan"
    target: TargetSpec = TargetSpec()
    load: LoadSpec
    scenarios: list[Scenario] = Field(min_length=1)
    pools: dict[str, Pool] = {}
    data: dict[str, DataSource] = {}
    session: SessionSpec | None = None
    thresholds: list[str] = []
    monitor: MonitorSpec = MonitorSpec()
    capacity: CapacitySpec | None = None
    ab: AbSpec | None = None
    verdict: VerdictSpec = VerdictSpec()
    notify: NotifySpec = NotifySpec()
    tags: list[str] = []

    @model_validator(mode="after")
    def _references(self) -> Plan:
        names = [s.name for s in self.scenarios]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"scenario names must be unique; repeated: {', '.join(dupes)}")
        self._check_data()
        self._check_session()
        session = self.session.extracted() if self.session is not None else frozenset()
        for s in self.scenarios:
            if s.steps is None:
                self.check_names(s.name, s.placeholders(), session)
                continue
            known = set(session)
            for st in s.steps:  # a step may use what the steps before it extracted
                self.check_names(f"{s.name}/{st.name}", st.placeholders(), frozenset(known))
                known |= set(st.extract)
        measured = [label for label, _ in self.requests() if not label.startswith(("login/", "refresh/"))]
        for expr in self.capacity.slos if self.capacity is not None else []:
            scenario = parse_threshold(expr).scenario
            if scenario != "*" and scenario not in measured:  # a journey's steps are measured as journey/step
                raise ValueError(f"capacity SLO {expr!r} names scenario {scenario!r}; scenarios: {', '.join(measured)}")
        return self

    def _check_data(self) -> None:
        for name, src in self.data.items():
            if not DATA_NAME.match(name):
                raise ValueError(f"data source name {name!r}: 1-64 of A-Z a-z 0-9 _ -, not starting with a digit")
            if name in self.pools:
                raise ValueError(f"{name!r} is both a pool and a data source: rename one")
            if src.query is not None and self.target.database_url is None:
                raise ValueError(f"data source {name!r} runs a query: set `target.database_url`")

    def requests(self) -> list[tuple[str, RequestSpec]]:
        """Every request the plan can send, with its label: scenarios, journey steps, login and refresh steps."""
        out: list[tuple[str, RequestSpec]] = []
        for s in self.scenarios:
            out += [(s.name, s)] if s.steps is None else [(f"{s.name}/{st.name}", st) for st in s.steps]
        if self.session is not None:
            out += [(f"login/{st.name}", st) for st in self.session.login]
            refresh = self.session.refresh
            out += [(f"refresh/{st.name}", st) for st in (refresh.steps or [] if refresh is not None else [])]
        return out

    def _check_session(self) -> None:
        if self.session is None:
            return
        known: set[str] = set()
        for st in self.session.login:
            self.check_names(f"login/{st.name}", st.placeholders(), frozenset(known))
            known |= set(st.extract)
        refresh = self.session.refresh
        if refresh is not None:
            for st in refresh.steps or []:
                self.check_names(f"refresh/{st.name}", st.placeholders(), frozenset(known))
                known |= set(st.extract)
            if refresh.expires_in is not None and refresh.expires_in not in known:
                raise ValueError(f"session.refresh.expires_in names {refresh.expires_in!r}, which no login or "
                                 f"refresh step extracts ({', '.join(sorted(known)) or 'none'})")

    def check_names(self, scenario: str, names: dict[str, str], known: frozenset[str] = frozenset()) -> None:
        """Every `{name}` a request uses must name a pool, a data source's column (`{source.column}`; the columns
        are checked when the data is read) or a value in `known` (a session's or journey's extraction)."""
        for name, where in sorted(names.items()):
            source, dot, _column = name.partition(".")
            if name in known or name in self.pools or (dot and source in self.data):
                continue
            defined = [*self.pools, *(f"{d}.<column>" for d in self.data), *sorted(known)]
            raise ValueError(
                f"scenario {scenario!r} field {where} uses {{{name}}}, which names no value: the plan defines "
                f"{', '.join(defined) or 'no pools, data or extracted values'}"
            )

    @property
    def base_dir(self) -> Path:
        """The plan file's folder: data files are relative to it (the working directory for a plan not read
        from a file)."""
        return self._base_dir or Path.cwd()

    def plan_hash(self) -> str:
        """Hash of what makes two runs comparable: the workload, not the target's address, tags, channels, the
        same-night A/B section or how the verdict treats open changes."""
        doc = self.model_dump(mode="json", by_alias=True, exclude={"tags": True, "notify": True, "ab": True,
                                                                     "verdict": True, "target": {"url"}})
        # fields added since plans were first hashed count only when used, so an existing plan keeps its hash
        for key, default in HASH_NEUTRAL_PLAN.items():
            if doc.get(key, default) == default:
                doc.pop(key, None)
        for sc in doc["scenarios"]:
            for key, default in HASH_NEUTRAL_SCENARIO.items():
                if sc.get(key, default) == default:
                    sc.pop(key, None)
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]

    def with_target_url(self, url: str) -> Plan:
        return self.model_copy(update={"target": self.target.model_copy(update={"url": url.rstrip("/")})})

    def with_load(self, *, source: str = "command line", **changes: Any) -> Plan:
        """A copy with load settings overridden (CLI flags, flow parameters), re-validated.

        A shorter `duration` without an explicit `warmup` caps the plan's warm-up at a quarter of the run,
        so `--duration 8` on a plan with a 5 s warm-up still measures 6 s rather than failing."""
        data = self.load.model_dump(by_alias=True)
        data.update({k: v for k, v in changes.items() if v is not None})
        if changes.get("rate") is not None:
            data.update(model="open", stages=None)
        elif changes.get("users") is not None:
            data.update(model="closed", stages=None)
        if changes.get("duration") is not None and changes.get("warmup") is None:
            if data.get("stages"):  # keep the ramp's shape, compressed or stretched to the new length
                scale = float(changes["duration"]) / sum(st["duration"] for st in data["stages"])
                data["stages"] = [{**st, "duration": st["duration"] * scale} for st in data["stages"]]
            data["warmup"] = min(data["warmup"], round(float(changes["duration"]) / 4, 3))
        try:
            return self.model_copy(update={"load": LoadSpec.model_validate(data)})
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = "load." + ".".join(str(p) for p in err["loc"]) if err["loc"] else "load"
            raise InvalidInput(err["msg"].removeprefix("Value error, "), source=source, field=field) from None


def _field_path(loc: tuple[int | str, ...], doc: Any) -> str:
    """`scenarios[2].path`, using the scenario's name when there is one."""
    out = ""
    node = doc
    for part in loc:
        if isinstance(part, int):
            name = node[part].get("name") if isinstance(node, list) and part < len(node) and isinstance(
                node[part], dict) else None
            out += f"[{part}]" + (f"({name})" if name else "")
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            out += ("." if out else "") + str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(plan)"


def parse_plan(doc: Any, *, source: str = "plan") -> Plan:
    if not isinstance(doc, dict):
        raise InvalidInput("a plan is a YAML mapping with `load:` and `scenarios:`", source=source)
    try:
        return Plan.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = _field_path(tuple(err["loc"]), doc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see plans/tool_catalog.yaml for the allowed fields)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        extra = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise InvalidInput(msg + extra, source=source, field=field) from None


def load_plan(path: str | Path | None = None) -> Plan:
    """Read and validate a plan file; `None` is the bundled Tool Catalog plan."""
    if path is None:
        text = resources.files("loadwatch.plans").joinpath(DEFAULT_PLAN).read_text()
        return parse_plan(yaml.safe_load(text), source=f"plans/{DEFAULT_PLAN}")
    p = Path(path)
    source = str(p)
    if not p.exists():
        bundled = resources.files("loadwatch.plans").joinpath(p.name)
        if p.parent == Path("plans") and bundled.is_file():
            return parse_plan(yaml.safe_load(bundled.read_text()), source=source)
        raise InvalidInput("file not found", source=source)
    if p.is_dir():
        raise InvalidInput("is a directory; expected a YAML plan file", source=source)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput("not a UTF-8 text file", source=source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidInput(f"not valid YAML: {problem}", source=source, field=where) from None
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror}", source=source) from None
    plan = parse_plan(doc, source=source)
    plan._base_dir = p.resolve().parent
    return plan


def safe_name(text: str, default: str, limit: int = 64) -> str:
    """`text` made a plan or scenario name (SCENARIO_NAME): other characters become `_`, at most `limit` long,
    `default` when nothing is left."""
    return _NOT_IN_NAME.sub("_", text).strip("_")[:limit] or default


def plan_from_url(url: str, *, rate: float | None, users: int | None, duration: float, warmup: float) -> Plan:
    """An ad-hoc one-scenario plan for `loadwatch load URL`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("expected an http(s)://host[:port]/path URL", source="URL", field=url)
    base = f"{parts.scheme}://{parts.netloc}"
    path = parts.path or "/"
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    load: dict[str, Any] = {"duration": duration, "warmup": warmup}
    if users is not None:
        load.update(model="closed", users=users, think_time=0.0)
    else:
        load.update(model="open", rate=rate)
    return parse_plan(
        {
            "name": "adhoc",
            "target": {"url": base},
            "load": load,
            "scenarios": [{"name": "request", "path": path, "query": query}],
        },
        source="command line",
    )


def check_target_allowed(url: str, allowed_hosts: list[str] | None = None, *, source: str = "target.url") -> None:
    """Refuse targets outside loopback unless the plan or LOADWATCH_ALLOWED_HOSTS allows the host.

    A load tool pointed at the wrong host by accident is an attack; the allow-list makes it deliberate."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return
    with contextlib.suppress(ValueError):  # a name, not an address: the allow-list decides
        if ipaddress.ip_address(host).is_loopback:
            return
    allowed = {h.lower() for h in [*(allowed_hosts or []), *settings().allowed_host_list]}
    if host in allowed or "*" in allowed:
        return
    raise InvalidInput(
        f"host {host!r} is not loopback and not in the allow-list; add it to `target.allowed_hosts` in the plan "
        "or to LOADWATCH_ALLOWED_HOSTS (comma-separated) if you really mean to load it",
        source=source,
    )
