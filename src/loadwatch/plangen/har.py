"""A HAR 1.2 recording (browser dev tools, a proxy, a test client) -> recorded requests.

HAR is JSON; the fields a plan needs are read through a small pydantic model of HAR 1.2, so a malformed file is
reported with the exact place (`log.entries[3].request.url`). `haralyzer` was considered: it adds page/timing
helpers loadwatch does not use, validates nothing, and has had no release since 2023.

Kept from each entry: method, path and query, status, start time, a JSON body, and the request headers that
change what the service answers. Credentials (Authorization, Cookie, API-key and token headers) never reach the
plan: they become `${NAME}` references that the engine fills from the environment at run time."""

from __future__ import annotations

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
from loadwatch.plangen.draft import Filters, PlanDraft
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


class _Request(_Model):
    method: str
    url: str
    headers: list[_NameValue] = []
    postData: _PostData | None = None


class _Content(_Model):
    mimeType: str = ""


class _Response(_Model):
    status: int
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
    for i, e, url in parsed:
        if url.netloc != host:
            other_hosts[url.netloc] += 1
            continue
        if _static(e, url):
            skipped_static += 1
            continue
        headers = {}
        for h in e.request.headers:
            kept = keep_header(h.name, h.value)
            if kept:
                headers[kept[0]] = kept[1]
        body: Any = None
        if e.request.postData and e.request.postData.text and "json" in e.request.postData.mimeType:
            try:
                body = json.loads(e.request.postData.text)
            except json.JSONDecodeError:
                raise InvalidInput("postData.text is not the JSON its mimeType says", source=str(path),
                                   field=f"log.entries[{i}].request.postData.text") from None
        records.append(Recorded(
            method=e.request.method.upper(),
            path=url.path or "/",
            query=urllib.parse.parse_qsl(url.query, keep_blank_values=True),
            status=e.response.status,
            where=f"entries[{i}]",
            headers=headers,
            json_body=body,
            time=_epoch(e.startedDateTime),
            duration_ms=e.time if e.time is not None and e.time >= 0 else None,
        ))
    if skipped_static:
        left_out.append(f"{skipped_static} static asset request(s) (scripts, styles, images, fonts)")
    for other, n in other_hosts.most_common():
        left_out.append(f"{n} request(s) to another host, {other}")
    if not records:
        raise InvalidInput(f"no request to {host} left after leaving out static assets and other hosts",
                           source=str(path), field="log.entries")
    return build_draft(records, source=source, name=_plan_name(path), base_url=base_url,
                       base_note=note, filters=filters, left_out=left_out)


def _static(e: _Entry, url: urllib.parse.SplitResult) -> bool:
    return url.path.lower().endswith(STATIC_SUFFIXES) or e.response.content.mimeType.lower().startswith(STATIC_TYPES)


def _plan_name(path: Path) -> str:
    return safe_name(path.stem, "plan")
