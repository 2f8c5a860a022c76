"""The target's own endpoints: its stats endpoint (any JSON document; its numbers become counters diffed over the
load window, loadwatch.observe.deltas) and its version."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

from loadwatch.errors import TargetUnavailable

__all__ = [
    "MAX_BODY",
    "fetch_stats",
    "fetch_version",
]

log = logging.getLogger("loadwatch")

MAX_BODY = 10 * 1024 * 1024  # a stats endpoint larger than this is not a stats endpoint


def _get(url: str, timeout: float) -> tuple[bytes, str]:
    if not url.startswith(("http://", "https://")):
        raise TargetUnavailable(f"{url}: only http:// and https:// URLs can be polled")
    # No proxies: the target is usually on loopback and an inherited http_proxy must not intercept it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "loadwatch"})
    try:
        with opener.open(req, timeout=timeout) as resp:
            body = resp.read(MAX_BODY + 1)
            ctype = resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        raise TargetUnavailable(f"GET {url}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TargetUnavailable(f"GET {url}: {reason}") from exc
    if len(body) > MAX_BODY:
        raise TargetUnavailable(f"GET {url}: answer larger than {MAX_BODY // 2**20} MiB")
    return body, ctype


def fetch_stats(url: str, *, timeout: float = 5.0) -> dict[str, Any]:
    """GET the target's stats endpoint; its JSON object. TargetUnavailable when it cannot be read."""
    body, _ = _get(url, timeout)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TargetUnavailable(f"GET {url}: the answer is not JSON") from exc
    if not isinstance(doc, dict):
        raise TargetUnavailable(f"GET {url}: expected a JSON object, got {type(doc).__name__}")
    return doc


_VERSION_KEYS = ("version", "git_sha", "commit", "sha", "revision", "build")


def fetch_version(url: str, *, timeout: float = 5.0) -> str | None:
    """The target's version: a JSON answer's `version`/`git_sha`/`commit`/... field, or the first line of
    a text answer (at most 100 characters). None (with a warning) when it cannot be read."""
    try:
        body, _ = _get(url, timeout)
    except TargetUnavailable as exc:
        log.warning("target version unavailable: %s", exc.message)
        return None
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        for key in _VERSION_KEYS:
            value = doc.get(key)
            if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip():
                return str(value).strip()[:100]
        log.warning("target version: %s has none of the fields %s", url, ", ".join(_VERSION_KEYS))
        return None
    if isinstance(doc, str):
        text = doc
    line = text.splitlines()[0].strip() if text else ""
    return line[:100] or None
