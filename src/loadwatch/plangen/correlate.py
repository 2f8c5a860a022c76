"""A recorded login -> the plan's `session:`; values a later request sent that an earlier answer produced ->
extractions (correlation by matching values across the recording, never by guessing names).

The login is the request that posts a password-like field (`password`, `passwd`, `pwd`; or an OAuth2
`client_secret`), in a form or a top-level JSON field, and whose answer sets something: a cookie, or a token in a
JSON body. The requests that produced values the login
sends (the login page with its CSRF token) become login steps before it. A value counts as produced by an answer
when it is at least `MIN_VALUE_LEN` characters long and appears in that answer: as a JSON string (-> `json:` path),
a response header (-> `header:`), or in the body text (-> a `regex:` anchored on the text just before it, checked to
give back the value). Set-Cookie is not an extraction: the session's cookie jar keeps cookies, and a recorded
`Cookie` header is never replayed. The password (and other secret fields) become `${APP_<FIELD>}` references."""

from __future__ import annotations

import functools
import json
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from loadwatch.errors import InvalidInput
from loadwatch.plangen.draft import literal

__all__ = ["MIN_VALUE_LEN", "Exchange", "SessionDraft", "find_session", "locate", "plan_name"]

MIN_VALUE_LEN = 8  # shorter values (a page number, a small id) match answers by coincidence
_PASSWORD = re.compile(r"^(?:.*[_-])?(?:pass(?:word)?|passwd|pwd)$", re.I)
_SECRET_FIELD = re.compile(r"secret|api[_-]?key|client[_-]?secret|otp", re.I)
_TOKEN_KEY = re.compile(r"token|session|jwt", re.I)
_VALUE_CHARS = "A-Za-z0-9_.~+/=-"
# answer headers that describe the answer, not a value the client is given to send back (Set-Cookie: the jar's)
_NOT_PRODUCED = {
    "set-cookie", "content-type", "content-length", "content-encoding", "content-language", "date", "server", "vary",
    "cache-control", "expires", "connection", "keep-alive", "transfer-encoding", "age", "via", "allow",
    "strict-transport-security", "x-content-type-options", "x-frame-options", "referrer-policy",
    "content-security-policy", "cross-origin-opener-policy", "cross-origin-resource-policy",
    "access-control-allow-origin", "access-control-allow-headers", "access-control-allow-methods",
}


@dataclass
class Exchange:
    """One recorded request and its answer, as the correlation reads them."""

    index: int
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]  # request headers as recorded
    form: list[tuple[str, str]] | None
    json_body: Any
    status: int
    resp_headers: list[tuple[str, str]]
    resp_text: str

    @property
    def where(self) -> str:
        return f"entries[{self.index}]"

    def sent_values(self) -> Iterator[str]:
        """The texts the request sent: path segments, header values (after a scheme), query, form, JSON strings."""
        for seg in self.path.split("/"):
            yield urllib.parse.unquote(seg)
        for k, v in self.headers:
            if k.lower() != "cookie":
                yield v.partition(" ")[2] or v
        yield from (v for _, v in self.query)
        yield from (v for _, v in self.form or [])
        yield from (v for _, v in _json_strings(self.json_body, ""))

    @functools.cached_property
    def _resp_json(self) -> Any:
        try:
            return json.loads(self.resp_text) if self.resp_text.lstrip()[:1] in ("{", "[") else None
        except ValueError:
            return None

    def resp_json(self) -> Any:
        return self._resp_json


def _json_strings(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield where, node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _json_strings(v, f"{where}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _json_strings(v, f"{where}[{i}]")


def _json_path(node: Any, value: str, path: str = "") -> str | None:
    """The engine's dotted path (`a.b[0].c`) to the first string or number leaf equal to `value`."""
    if isinstance(node, dict):
        for k, v in node.items():
            if not isinstance(k, str) or any(c in k for c in ".[]"):
                continue
            found = _json_path(v, value, f"{path}.{k}" if path else k)
            if found:
                return found
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found = _json_path(v, value, f"{path}[{i}]" if path else str(i))
            if found:
                return found
    elif isinstance(node, str | int) and not isinstance(node, bool) and str(node) == value:
        return path
    return None


def _regex(text: str, value: str) -> str | None:
    """A pattern whose first group is `value` in `text`: the text just before it (from its tag or line start, at
    most 60 characters), then the value's characters up to the delimiter that follows it."""
    pos = text.find(value)
    if pos < 0:
        return None
    before = text[max(0, pos - 60):pos]
    cut = max(before.rfind("<"), before.rfind("\n"))
    before = before[cut + (1 if cut >= 0 and before[cut] == "\n" else 0):] if cut >= 0 else before
    after = text[pos + len(value):pos + len(value) + 1]
    body = f"([^{re.escape(after)}\\s]+)" if after and not after.isalnum() and after not in "_.~+/=-" \
        else f"([{_VALUE_CHARS}]+)"
    pattern = re.escape(before).replace("\\ ", " ") + body  # a space is only special in verbose mode
    m = re.search(pattern, text)
    return pattern if before.strip() and m and m.group(1) == value else None


def locate(value: str, answer: Exchange) -> dict[str, str] | None:
    """How to take `value` out of `answer` (an extraction of the plan), or None when it is not there."""
    if len(value) < MIN_VALUE_LEN:
        return None
    doc = answer.resp_json()
    if doc is not None:
        path = _json_path(doc, value)
        if path:
            return {"json": path}
    for k, v in answer.resp_headers:
        if v == value and k.lower() not in _NOT_PRODUCED:
            return {"header": k}
    if value in answer.resp_text:
        pattern = _regex(answer.resp_text, value)
        if pattern:
            return {"regex": pattern}
    return None


def _is_login(x: Exchange) -> bool:
    fields = x.form if x.form is not None else (
        [(k, v) for k, v in x.json_body.items() if isinstance(v, str)] if isinstance(x.json_body, dict) else [])
    # a password, or an OAuth2 client's secret (the client-credentials grant)
    return x.method == "POST" and any((_PASSWORD.match(k) or k.lower() == "client_secret") and v for k, v in fields)


def _sets_credentials(x: Exchange) -> bool:
    if any(k.lower() == "set-cookie" for k, _ in x.resp_headers):
        return True
    return _has_token(x.resp_json())


def _has_token(node: Any) -> bool:
    """A string under a token-like key anywhere in the answer (`access_token`, `data.session.token`)."""
    if isinstance(node, dict):
        return any((_TOKEN_KEY.search(str(k)) and isinstance(v, str) and v) or _has_token(v) for k, v in node.items())
    return isinstance(node, list) and any(_has_token(v) for v in node)


def _name(text: str, taken: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "value"
    stem = stem if not stem[0].isdigit() else "v_" + stem
    name, n = stem, 2
    while name in taken:
        name, n = f"{stem}_{n}", n + 1
    taken.add(name)
    return name


def plan_name(spec: dict[str, str], fallback: str, taken: set[str]) -> str:
    """A name for an extracted value (joins `taken`): the JSON key or header it comes from, else `fallback`."""
    label = spec.get("json", spec.get("header", "")).rsplit(".", 1)[-1].split("[")[0]
    return _name(label or fallback, taken)


@dataclass
class SessionDraft:
    """The plan's `session:` made from a recorded login, and how later requests' values map to its extractions."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # one per step
    refresh: dict[str, Any] | None = None
    env: dict[str, str] = field(default_factory=dict)  # variable -> what it holds
    login_entries: set[int] = field(default_factory=set)  # left out of the scenarios
    correlations: list[str] = field(default_factory=list)  # what was matched, for the plan's comments
    exchanges: list[Exchange] = field(default_factory=list)  # the whole recording, for `known_before`
    _values: dict[str, str] = field(default_factory=dict)  # recorded value -> extracted name
    _misses: set[str] = field(default_factory=set)  # values no login answer produced
    _first_sent: dict[str, int] = field(default_factory=dict)  # value -> the first entry whose request sent it
    _producers: list[tuple[Exchange, int]] = field(default_factory=list)  # (answer, step index)

    def template(self, text: str) -> str | None:
        """`text` with a recorded value the session extracts turned into `{name}` (the rest literal), or None."""
        for value, name in sorted(self._values.items(), key=lambda kv: -len(kv[0])):
            pos = text.find(value)
            if pos >= 0:
                return literal(text[:pos]) + "{" + name + "}" + literal(text[pos + len(value):])
        return None

    def known_before(self, value: str, index: int) -> bool:
        """Whether a request up to entry `index` already sent `value`: then that answer did not produce it (an
        echo, a constant such as a media type)."""
        if not self._first_sent:  # once per recording: a HAR can have thousands of entries
            for x in self.exchanges:
                for v in x.sent_values():
                    self._first_sent.setdefault(v, x.index)
        return self._first_sent.get(value, index + 1) <= index

    def extracted(self) -> set[str]:
        return {k for st in self.steps for k in st.get("extract", {})}

    def correlate_text(self, text: str, consumer: Exchange, where: str) -> str | None:
        """`text` templated on the extraction it (or its part after a scheme: `Bearer <token>`) comes from."""
        scheme, sep, rest = text.partition(" ")
        for value, keep in ((text, ""), (rest, scheme + sep) if sep and scheme.isalpha() else ("", "")):
            name = self.correlate(value, consumer, where) if value else None
            if name:
                return literal(keep) + "{" + name + "}"
        return None

    def correlate(self, value: str, consumer: Exchange, where: str) -> str | None:
        """The extraction `value` comes from (added to the step that produced it), or None."""
        if value in self._values:
            return self._values[value]
        if value in self._misses or len(value) < MIN_VALUE_LEN:
            return None
        for answer, step in reversed(self._producers):
            if answer.index >= consumer.index or self.known_before(value, answer.index):
                continue
            spec = locate(value, answer)
            if spec is None:
                continue
            extract = self.steps[step].setdefault("extract", {})
            name = next((k for k, v in extract.items() if v == spec), None)
            if name is None:
                name = plan_name(spec, where.rsplit(".", 1)[-1], self.extracted())
                extract[name] = spec
            self._values[value] = name
            self.correlations.append(f"{{{name}}}: sent in {where} of {consumer.where}, "
                                     f"answered by {answer.where} ({next(iter(spec))})")
            return name
        self._misses.add(value)  # a later consumer cannot find it either: an earlier request already sent it
        return None


def _secret_env(field_name: str, env: dict[str, str], where: str) -> str:
    var = "APP_" + re.sub(r"[^A-Za-z0-9]+", "_", field_name).strip("_").upper()
    env[var] = f"the {field_name!r} recorded at {where} (left out of the plan)"
    return "${" + var + "}"


def find_session(exchanges: list[Exchange], source: str) -> SessionDraft | None:
    """The session of a recording that logs in; None when nothing in it logs in. A recording whose only logins
    were refused is invalid input: a plan from it could not log in."""
    logins = [x for x in exchanges if _is_login(x)]
    good = [x for x in logins if 200 <= x.status < 400 and _sets_credentials(x)]
    if not good:
        if logins:
            x = logins[0]
            raise InvalidInput(f"the login {x.method} {x.path} answered HTTP {x.status} and set no cookie or "
                               f"token: record a login that succeeds", source=source,
                               field=f"log.entries[{x.index}].response.status")
        return None
    login = good[0]
    session = SessionDraft(login_entries={x.index for x in logins}, exchanges=exchanges)
    # the answers before the login that produced what it sends (the login page's CSRF token) come first
    earlier = [x for x in exchanges if x.index < login.index and x.method == "GET" and 200 <= x.status < 300]
    fields = login.form if login.form is not None else list(_json_strings(login.json_body, ""))
    pages = []
    for k, v in fields:
        if _PASSWORD.match(k.lstrip(".")) or _SECRET_FIELD.search(k):
            continue
        page = next((x for x in reversed(earlier) if locate(v, x)), None)
        if page is not None and page not in pages:
            pages.append(page)
    for page in sorted(pages, key=lambda x: x.index):
        session.steps.append({"name": _name(page.path.strip("/") or "page", {st["name"] for st in session.steps}),
                              "path": literal(page.path), "expect": {"status": [page.status]}})
        session.notes.append(f"the page the login took a value from ({page.where})")
        session._producers.append((page, len(session.steps) - 1))
        session.login_entries.add(page.index)
    step: dict[str, Any] = {"name": "login", "method": login.method, "path": literal(login.path)}
    session.steps.append(step)
    session.notes.append(f"the login recorded at {login.where}")
    session._producers.append((login, len(session.steps) - 1))
    if login.form is not None:
        step["form"] = {k: _login_value(session, login, k, v, "form") for k, v in login.form}
    else:
        step["json"] = {k: _login_value(session, login, k, v, "json") if isinstance(v, str) else v
                        for k, v in login.json_body.items()}
    step["expect"] = {"status": [login.status]}
    doc = login.resp_json()
    if isinstance(doc, dict) and isinstance(doc.get("expires_in"), int | float) \
            and not isinstance(doc["expires_in"], bool):
        step.setdefault("extract", {})["expires_in"] = {"json": "expires_in"}
        session.refresh = {"expires_in": "expires_in"}
    return session


def _login_value(session: SessionDraft, login: Exchange, key: str, value: str, kind: str) -> str:
    where = f"{kind}.{key}"
    if _PASSWORD.match(key) or _SECRET_FIELD.search(key):
        return _secret_env(key, session.env, login.where)
    name = session.correlate(value, login, where)
    return "{" + name + "}" if name else literal(value)
