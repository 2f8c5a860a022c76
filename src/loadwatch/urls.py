"""Database URLs as loadwatch shows and derives them: the password hidden wherever a URL is printed, logged or
stored (`redact_url`), and the same server's URL for another database (`with_database`)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["redact_url", "with_database"]


def redact_url(url: str) -> str:
    """Hide the password (and any password query parameter) of a database URL."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        creds, host = netloc.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in creds and creds.split(":", 1)[1] else f"{user}@{host}"
    query = urlencode(
        [(k, "***" if k.lower() in {"password", "sslpassword"} else v) for k, v in parse_qsl(parts.query)], safe="/*"
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))
