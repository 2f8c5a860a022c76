"""A HAR 1.2 recording (browser dev tools, a proxy, a test client) -> recorded requests.

HAR is JSON; the fields a plan needs are read through a small pydantic model of HAR 1.2, so a malformed file is
reported with the exact place (`log.entries[3].request.url`). `haralyzer` was considered: it adds page/timing
helpers loadwatch does not use, validates nothing, and has had no release since 2023.

Kept from each entry: method, path and query, status, start time, a JSON body, and the request headers that
change what the service answers. Credentials (Authorization, Cookie, API-key and token headers) never reach the
plan: they become `${NAME}` references that the engine fills from the environment at run time."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loadwatch.config import safe_name
from loadwatch.errors import InvalidInput
from loadwatch.plangen.correlate import Exchange, SessionDraft, find_session
from loadwatch.plangen.draft import Filters, PlanDraft, literal, literal_json, unique_name
from loadwatch.plangen.journeys import Journeys, find_journeys
from loadwatch.plangen.traffic import Recorded, build_draft

__all__ = ["STATIC_SUFFIXES", "draft_from_har", "keep_header"]

STATIC_SUFFIXES = (
    ".js", ".mjs", ".css", ".map", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".avif", ".bmp",
    ".woff", ".woff2", ".ttf", ".otf", ".eot", ".mp4", ".webm", ".mp3", ".wav", ".pdf", ".wasm",
)
STATIC_TYPES = ("image/", "font/", "text/css", "text/javascript", "application/javascript", "video/", "audio/")
# set by the client or the connection, not by what the request asks for
_DROP = {
    "host", "user-agent", "accept-encoding", "accept-language", "connection", "content-length", "origin", "referer",
    "cache-control", "pragma", "if-none-match", "if-modified-since", "upgrade-insecure-requests", "dnt", "priority",
    "te", "keep-alive", "transfer-encoding", "x-requested-with", "expect", "range", "if-range",
}
_SECRET = re.compile(r"auth|token|key|secret|session|cookie|password|credential", re.I)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _NameValue(_Model):
    name: str
    value: str


class _PostData(_Model):  # field names are HAR's own spelling
    mimeType: str = ""
    text: str | None = None
    params: list[_NameValue] = []


class _Request(_Model):
    method: str
    url: str
    headers: list[_NameValue] = []
    postData: _PostData | None = None


class _Content(_Model):
    mimeType: str = ""
    text: str | None = None
    encoding: str | None = None


class _Response(_Model):
    status: int
    headers: list[_NameValue] = []
    content: _Content = _Content()


class _Entry(_Model):
    startedDateTime: str = ""
    time: float | None = None  # total milliseconds of the entry (HAR 1.2); -1 or absent when unknown
    request: _Request
    response: _Response


class _Log(_Model):
    entries: list[_Entry] = Field(min_length=1)


class _Har(_Model):
    log: _Log


def keep_header(name: str, value: str) -> tuple[str, str] | None:
    """The header as the plan should send it: None for client/connection headers, `${ENV}` for credentials."""
    low = name.lower()
    if low.startswith((":", "sec-")) or low in _DROP:
        return None
    if low == "accept" and value.strip() in ("*/*", ""):
        return None
    if _SECRET.search(low):
        env = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper()
        scheme, sep, _ = value.partition(" ")
        if low == "authorization" and sep and scheme.isalpha():  # keep the scheme: `Bearer ${AUTHORIZATION}`
            return name, f"{scheme} ${{{env}}}"
        return name, f"${{{env}}}"
    return name, value.replace("{", "{{").replace("}", "}}")


def _epoch(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _load(path: Path) -> _Har:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput("file not found", source=str(path)) from None
    except UnicodeDecodeError:
        raise InvalidInput("not a UTF-8 text file", source=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not JSON: {exc.msg}", source=str(path),
                           field=f"line {exc.lineno}, column {exc.colno}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror}", source=str(path)) from None
    try:
        return _Har.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".") or "(file)"
        msg = "a HAR recording has no entries" if where == "log.entries" and err["type"] == "too_short" else err["msg"]
        raise InvalidInput(f"not a HAR 1.2 recording: {msg}", source=str(path), field=where) from None


def draft_from_har(path: Path, *, base_url: str | None, filters: Filters) -> PlanDraft:
    har = _load(path)
    source = f"HAR {path}"
    parsed = []
    for i, e in enumerate(har.log.entries):
        url = urllib.parse.urlsplit(e.request.url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise InvalidInput(f"not an http(s) URL: {e.request.url[:200]!r}", source=str(path),
                               field=f"log.entries[{i}].request.url")
        parsed.append((i, e, url))
    if base_url:
        origin = urllib.parse.urlsplit(base_url)
        host, note = origin.netloc, "--base-url"
    else:  # the service is the host most requests went to; the rest is CDNs, analytics, fonts
        host = Counter(u.netloc for _, e, u in parsed if not _static(e, u)).most_common(1)[0][0] \
            if any(not _static(e, u) for _, e, u in parsed) else parsed[0][2].netloc
        scheme = next(u.scheme for _, _, u in parsed if u.netloc == host)
        base_url, note = f"{scheme}://{host}", "the host most requests in the recording went to"
    left_out: list[str] = []
    records: list[Recorded] = []
    skipped_static = 0
    other_hosts: Counter[str] = Counter()
    mine: list[tuple[_Entry, urllib.parse.SplitResult, Exchange]] = []
    for i, e, url in parsed:
        if url.netloc != host:
            other_hosts[url.netloc] += 1
        elif _static(e, url):
            skipped_static += 1
        else:
            mine.append((e, url, _exchange(i, e, url, path)))
    session = find_session([x for _, _, x in mine], str(path))
    logins = session.login_entries if session is not None else set()
    journeys = find_journeys([x for _, _, x in mine if x.index not in logins], lambda x: _request_doc(x, session),
                             filters=filters, taken=set(), reserved=set(session.extracted()) if session else set())
    if journeys.used:
        left_out.append(f"{len(journeys.used)} request(s) now steps of {len(journeys.scenarios)} journey(s)")
    for e, url, x in mine:
        if x.index in logins or x.index in journeys.used:
            continue
        query, templates = x.query, frozenset[str]()
        if session is not None:
            found = {k: session.correlate_text(v, x, f"query.{k}") for k, v in x.query}
            query = [(k, found[k] or v) for k, v in x.query]
            templates = frozenset(k for k, t in found.items() if t)
        records.append(Recorded(
            method=x.method,
            path=url.path or "/",
            query=query,
            status=x.status,
            where=x.where,
            headers=_headers(x, session),
            json_body=x.json_body if session is None else _json_template(x.json_body, session, x, "json"),
            time=_epoch(e.startedDateTime),
            duration_ms=e.time if e.time is not None and e.time >= 0 else None,
            json_template=session is not None,
            query_templates=templates,
        ))
    if skipped_static:
        left_out.append(f"{skipped_static} static asset request(s) (scripts, styles, images, fonts)")
    for other, n in other_hosts.most_common():
        left_out.append(f"{n} request(s) to another host, {other}")
    if not records and not journeys.scenarios:
        raise InvalidInput(f"no request to {host} left after leaving out static assets and other hosts",
                           source=str(path), field="log.entries")
    draft = build_draft(records, source=source, name=_plan_name(path), base_url=base_url,
                        base_note=note, filters=filters, left_out=left_out)
    draft.session = session
    _add_journeys(draft, journeys)
    return draft


def _add_journeys(draft: PlanDraft, journeys: Journeys) -> None:
    if not journeys.scenarios:
        return
    taken = {sc.name for sc in draft.scenarios}
    for sc in journeys.scenarios:
        sc.name = unique_name(sc.name, taken)
        draft.scenarios.append(sc)
    draft.journey_notes = journeys.correlations
    sent = sum(sc.weight for sc in draft.scenarios)
    for sc in draft.scenarios:  # a journey is one arrival of the mix, like a one-request scenario
        what = "journeys" if sc.steps is not None else "requests"
        share = 100.0 * sc.weight / sent
        sc.weight_note = f"{what} recorded: {share:.2f} % of the {sent:g} arrivals in this plan's mix"


def _request_doc(x: Exchange, session: SessionDraft | None) -> dict[str, Any]:
    """A recorded request as a step of the plan: its text in template syntax, the session's values templated."""
    doc: dict[str, Any] = {"method": x.method, "path": literal(x.path)}
    if x.query:
        doc["query"] = {k: (session.correlate_text(v, x, f"query.{k}") if session else None) or literal(v)
                        for k, v in x.query}
    headers = _headers(x, session)
    if headers:
        doc["headers"] = headers
    if x.json_body is not None:
        doc["json"] = _json_template(x.json_body, session, x, "json") if session else literal_json(x.json_body)
    elif x.form is not None:
        doc["form"] = {k: (session.correlate_text(v, x, f"form.{k}") if session else None) or literal(v)
                       for k, v in x.form}
    return doc


def _exchange(i: int, e: _Entry, url: urllib.parse.SplitResult, path: Path) -> Exchange:
    body: Any = None
    form: list[tuple[str, str]] | None = None
    post = e.request.postData
    if post is not None and "json" in post.mimeType and post.text:
        try:
            body = json.loads(post.text)
        except json.JSONDecodeError:
            raise InvalidInput("postData.text is not the JSON its mimeType says", source=str(path),
                               field=f"log.entries[{i}].request.postData.text") from None
    elif post is not None and "x-www-form-urlencoded" in post.mimeType:
        form = [(p.name, p.value) for p in post.params] if post.params else \
            urllib.parse.parse_qsl(post.text or "", keep_blank_values=True)
    content = e.response.content
    text = content.text or ""
    if content.encoding == "base64":  # a recorder's binary-safe form: only text can hold a value a request sends
        try:
            text = base64.b64decode(text).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            text = ""
    return Exchange(
        index=i, method=e.request.method.upper(), path=url.path or "/",
        query=urllib.parse.parse_qsl(url.query, keep_blank_values=True),
        headers=[(h.name, h.value) for h in e.request.headers], form=form, json_body=body,
        status=e.response.status, resp_headers=[(h.name, h.value) for h in e.response.headers], resp_text=text)


def _json_template(node: Any, session: SessionDraft, x: Exchange, where: str) -> Any:
    """A JSON body in the plan's template syntax: a string the session extracts is `{name}`, the rest literal."""
    if isinstance(node, str):
        return session.correlate_text(node, x, where) or literal(node)
    if isinstance(node, dict):
        return {literal(str(k)): _json_template(v, session, x, f"{where}.{k}") for k, v in node.items()}
    if isinstance(node, list):
        return [_json_template(v, session, x, f"{where}[{i}]") for i, v in enumerate(node)]
    return node


def _headers(x: Exchange, session: SessionDraft | None) -> dict[str, str]:
    """The headers a scenario sends: with a session, no recorded Cookie (its jar keeps cookies) and values the
    login produced (a bearer token, a CSRF header) taken from the session's extractions."""
    out: dict[str, str] = {}
    for name, value in x.headers:
        if session is not None and name.lower() == "cookie":
            continue
        kept = keep_header(name, value)
        if kept is None:
            continue
        templ = session.correlate_text(value, x, f"headers.{name}") if session is not None else None
        out[kept[0]] = templ if templ is not None else kept[1]
    return out


def _static(e: _Entry, url: urllib.parse.SplitResult) -> bool:
    return url.path.lower().endswith(STATIC_SUFFIXES) or e.response.content.mimeType.lower().startswith(STATIC_TYPES)


def _plan_name(path: Path) -> str:
    return safe_name(path.stem, "plan")
