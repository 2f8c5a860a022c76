"""`loadwatch init`: a runnable plan from what a service already has — an OpenAPI document, a HAR recording or
an access log. One module per source (`openapi`, `har`, `accesslog`), the shared drafting and YAML writing in
`draft` and `traffic`, and `check` for `--check`. Nothing here imports Prefect."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from loadwatch.config import HTTP_METHODS, Plan, check_target_allowed
from loadwatch.errors import InvalidInput
from loadwatch.plangen.draft import READ_ONLY, Filters, PlanDraft, write_plan

__all__ = ["READ_ONLY", "Filters", "InitRequest", "Source", "draft_plan", "generate", "parse_methods"]

Source = Literal["openapi", "har", "access_log"]


@dataclass(frozen=True)
class InitRequest:
    kind: Source
    location: str  # a file, or for OpenAPI also an http(s) URL
    out: Path
    base_url: str | None = None
    rate: float | None = None
    filters: Filters = field(default_factory=Filters)
    probe: bool = True  # OpenAPI: send each scenario once before writing and leave out what does not answer 2xx


def parse_methods(text: str | None) -> tuple[str, ...]:
    """`--methods GET,post` -> ("GET", "POST"); read-only when not given."""
    if text is None:
        return READ_ONLY
    methods = tuple(dict.fromkeys(m.strip().upper() for m in text.split(",") if m.strip()))
    unknown = [m for m in methods if m not in HTTP_METHODS]
    if unknown or not methods:
        raise InvalidInput(f"expected a comma-separated list of {', '.join(HTTP_METHODS)}; got {text!r}",
                           source="command line", field="--methods")
    return methods


def _base_url(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("expected an http(s)://host[:port] URL", source="command line", field="--base-url")
    return url.rstrip("/")


def draft_plan(req: InitRequest) -> PlanDraft:
    base = _base_url(req.base_url)
    if req.kind == "openapi":
        from loadwatch.plangen.openapi import draft_from_openapi

        draft = draft_from_openapi(req.location, base_url=base, filters=req.filters, live=req.probe)
    elif req.kind == "har":
        from loadwatch.plangen.har import draft_from_har

        draft = draft_from_har(Path(req.location), base_url=base, filters=req.filters)
    else:
        from loadwatch.plangen.accesslog import draft_from_access_log

        draft = draft_from_access_log(Path(req.location), base_url=base, filters=req.filters, rate=req.rate)
    if req.rate is not None:
        draft.rate, draft.rate_note = req.rate, "--rate"
    if base is not None:
        try:
            check_target_allowed(base, source="--base-url")
        except InvalidInput:  # the user typed the host: the plan may load it, and says so
            draft.allowed_hosts = [str(urlsplit(base).hostname)]
    return draft


def generate(req: InitRequest) -> tuple[Plan, PlanDraft]:
    """Draft, validate and write the plan (all or nothing). From OpenAPI, each scenario is sent once first and what
    does not answer 2xx is left out, with the reason (`probe`; loadwatch.plangen.verify)."""
    draft = draft_plan(req)
    if req.kind == "openapi" and req.probe:
        from loadwatch.plangen.verify import keep_answering

        keep_answering(draft)
    return write_plan(draft, req.out), draft
