"""An access log -> recorded requests: Apache/nginx combined or common log format, or JSON lines.

The text formats are parsed with `apachelogs` (Apache's own `LogFormat` directives compiled to a parser), not a
hand-written regex: it handles the escapes Apache and nginx write inside quoted fields (`\\"`, `\\xNN`), the
`-` placeholders and the timestamp with its offset, and it reports a line it cannot match, which is then refused
with its line number. The format is chosen from the first line (combined, common, or combined with a leading
virtual host) and every later line must match it.

JSON lines carry `method`, `path` (or `url`/`uri`/`request`), `status` and optionally `time` (ISO 8601 or epoch
seconds). A suggested `rate` comes from the busiest second of the log."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from apachelogs import COMBINED, COMMON, VHOST_COMBINED, InvalidEntryError, LogParser

from loadwatch.config import HTTP_METHODS, safe_name
from loadwatch.errors import InvalidInput
from loadwatch.plangen.draft import DEFAULT_RATE, Filters, PlanDraft
from loadwatch.plangen.har import STATIC_SUFFIXES
from loadwatch.plangen.traffic import Recorded, build_draft

__all__ = ["draft_from_access_log", "read_access_log"]

FORMATS = (("combined", COMBINED), ("common", COMMON), ("vhost_combined", VHOST_COMBINED))
MAX_LINE = 64 * 1024
_REQUEST_LINE = re.compile(r"^([A-Z]+) (\S+) HTTP/\d(?:\.\d)?$")


def _json_line(text: str, n: int, source: str) -> tuple[str, str, int, float | None]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not JSON: {exc.msg}", source=source, field=f"line {n}") from None
    if not isinstance(doc, dict):
        raise InvalidInput("a JSON line must be an object with method, path and status", source=source,
                           field=f"line {n}")
    target = next((doc[k] for k in ("path", "url", "uri", "request_uri") if isinstance(doc.get(k), str)), None)
    method, status = doc.get("method"), doc.get("status")
    if target is None and isinstance(doc.get("request"), str):  # nginx's $request: "GET /x HTTP/1.1"
        m = _REQUEST_LINE.match(doc["request"])
        if m:
            method, target = m.group(1), m.group(2)
    if not isinstance(method, str) or target is None:
        raise InvalidInput("a JSON line needs `method` and `path` (or `url`, `uri`, `request`)", source=source,
                           field=f"line {n}")
    try:
        code = int(status)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(f"`status` must be an HTTP status code, got {status!r}", source=source,
                           field=f"line {n}") from None
    return method.upper(), target, code, _time(doc.get("time", doc.get("timestamp")))


def _time(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def read_access_log(path: Path) -> tuple[list[Recorded], str, list[str]]:
    """The requests of the log, the format found, and what was left out (lines that are not HTTP requests)."""
    source = str(path)
    try:
        with path.open("rb") as f:
            return _read(f, source)
    except FileNotFoundError:
        raise InvalidInput("file not found", source=source) from None
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror}", source=source) from None


def _lines(f: BinaryIO, source: str) -> Iterator[tuple[int, bytes]]:
    """Numbered lines, read one at a time (a log can be larger than memory); each bounded in length."""
    n = 0
    while line := f.readline(MAX_LINE + 1):
        n += 1
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            raise InvalidInput(f"line longer than {MAX_LINE} bytes", source=source, field=f"line {n}")
        yield n, line.rstrip(b"\r\n")


def _read(f: BinaryIO, source: str) -> tuple[list[Recorded], str, list[str]]:
    records: list[Recorded] = []
    left_out: list[str] = []
    parser: LogParser | None = None
    fmt = ""
    not_http = static = 0
    for n, line_b in _lines(f, source):
        try:
            line = line_b.decode("utf-8")
        except UnicodeDecodeError:
            line = line_b.decode("latin-1")  # servers write request bytes as they came; still one line each
        if not line.strip():
            continue
        if not fmt:
            if line.lstrip().startswith("{"):
                fmt = "json"
            else:
                for name, spec in FORMATS:
                    try:
                        LogParser(spec).parse(line)
                    except InvalidEntryError:
                        continue
                    fmt, parser = name, LogParser(spec)
                    break
                else:
                    raise InvalidInput("not an access log line in combined or common log format, nor a JSON line",
                                       source=source, field=f"line {n}")
        if fmt == "json":
            method, target, status, when = _json_line(line, n, source)
        else:
            assert parser is not None
            try:
                entry = parser.parse(line)
            except InvalidEntryError:
                raise InvalidInput(f"does not match the {fmt} log format of the lines before it", source=source,
                                   field=f"line {n}") from None
            m = _REQUEST_LINE.match(entry.request_line or "")
            if not m:  # TLS probes, `-`, garbage a scanner sent: logged by the server, not requests a plan replays
                not_http += 1
                continue
            method, target = m.group(1), m.group(2)
            status = int(entry.final_status or 0)
            when = entry.request_time.timestamp() if entry.request_time else None
        if method not in HTTP_METHODS:
            not_http += 1
            continue
        url = urllib.parse.urlsplit(target)
        if not (url.path or "/").startswith("/"):
            not_http += 1
            continue
        if url.path.lower().endswith(STATIC_SUFFIXES):
            static += 1
            continue
        records.append(Recorded(method=method, path=url.path or "/",
                                query=urllib.parse.parse_qsl(url.query, keep_blank_values=True),
                                status=status, where=f"line {n}", time=when))
    if not_http:
        left_out.append(f"{not_http} line(s) that are not an HTTP request line (probes, `-`, unknown methods)")
    if static:
        left_out.append(f"{static} static asset request(s) (scripts, styles, images, fonts)")
    if not records:
        raise InvalidInput("no request lines in the log", source=source)
    return records, fmt, left_out


def peak_rate(records: list[Recorded]) -> tuple[float, str] | None:
    """Requests in the busiest second of the log, and a note saying when and against what mean."""
    seconds = Counter(int(r.time) for r in records if r.time is not None)
    if not seconds:
        return None
    busiest, peak = max(seconds.items(), key=lambda kv: (kv[1], -kv[0]))
    span = max(seconds) - min(seconds) + 1
    when = datetime.fromtimestamp(busiest, UTC).isoformat(timespec="seconds")
    return float(peak), (f"the busiest second of the log ({when}); mean {len(records) / span:.2f} req/s over "
                         f"{span} s")


def draft_from_access_log(path: Path, *, base_url: str | None, filters: Filters, rate: float | None) -> PlanDraft:
    records, fmt, left_out = read_access_log(path)
    draft = build_draft(
        records,
        source=f"access log {path} ({fmt})",
        name=safe_name(path.stem, "plan"),
        base_url=base_url or "http://127.0.0.1:8080",
        base_note="--base-url" if base_url else "an access log does not say where the service is: pass --base-url",
        filters=filters,
        left_out=left_out,
    )
    peak = peak_rate(records)
    if rate is None and peak is not None:
        draft.rate, draft.rate_note = peak[0], peak[1]
    elif rate is None:
        draft.rate, draft.rate_note = DEFAULT_RATE, "default: the log has no timestamps"
    return draft
