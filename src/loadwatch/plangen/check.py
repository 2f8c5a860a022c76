"""`loadwatch init --check`: one request per scenario of a generated plan, reporting any that does not answer
2xx/3xx (or what the scenario's `expect` asks for), with the reason: the status and the start of the answer.

The pools are filled the way a run fills them (`resolve_pools`: the setup requests), and each scenario's
placeholders get the first value of their pool, so a plan that passes the check starts a run the same way."""

from __future__ import annotations

import string
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from loadwatch.config import Plan, Scenario, check_target_allowed
from loadwatch.engine.build import expand_env, render_body
from loadwatch.engine.pools import resolve_pools

__all__ = ["CheckResult", "check_plan"]

BODY_EXCERPT = 200


@dataclass(frozen=True)
class CheckResult:
    scenario: str
    request: str
    status: int | None
    reason: str | None  # None: the scenario answered as expected

    @property
    def ok(self) -> bool:
        return self.reason is None


def _fill(template: str, values: dict[str, str], quote: bool) -> str:
    out = []
    for lit, name, _, _ in string.Formatter().parse(template):
        out.append(lit)
        if name:
            out.append(urllib.parse.quote(values[name], safe="") if quote else values[name])
    return "".join(out)


def _request(plan: Plan, sc: Scenario, first: dict[str, str]) -> urllib.request.Request:
    path = _fill(sc.request_path, first, quote=True)
    if sc.query:
        query = urllib.parse.urlencode({k: _fill(v, first, quote=False) for k, v in sc.query.items()})
        path += ("&" if "?" in path else "?") + query
    headers = {"User-Agent": "loadwatch", "Accept": "*/*"}
    headers |= {k: _fill(expand_env(v, where=f"scenarios[{sc.name}].headers.{k}"), first, quote=False)
                for k, v in sc.headers.items()}
    data = None
    body = render_body(sc, first)  # templated like a run's (a literal brace is written doubled in the plan)
    if body is not None:
        data = body[0]
        headers.setdefault("Content-Type", body[1])
    return urllib.request.Request(plan.target.url + path, data=data, method=sc.method, headers=headers)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is an answer the check accepts; following it could lead off the allowed hosts."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def _excerpt(body: bytes) -> str:
    text = body[:BODY_EXCERPT].decode("utf-8", "replace")
    return " ".join(text.split()) + ("..." if len(body) > BODY_EXCERPT else "")


def check_plan(plan: Plan) -> list[CheckResult]:
    check_target_allowed(plan.target.url, plan.target.allowed_hosts)
    pools = resolve_pools(plan)
    first = {name: values[0] for name, values in pools.items()}
    timeout = plan.load.timeout.total
    results = []
    for sc in plan.scenarios:  # one request each: bounded by the plan's scenario count
        if sc.steps is not None:
            continue  # a journey's steps depend on each other's answers: checked by a run, not one request
        req = _request(plan, sc, first)
        label = f"{sc.method} {req.full_url.removeprefix(plan.target.url)}"
        accept = set(sc.expect.status) if sc.expect.status else None
        try:
            with _OPENER.open(req, timeout=timeout) as resp:
                status, body = resp.status, resp.read(BODY_EXCERPT + 1)
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read(BODY_EXCERPT + 1)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            results.append(CheckResult(sc.name, label, None, f"no answer: {getattr(exc, 'reason', exc)}"))
            continue
        good = status in accept if accept is not None else 200 <= status < 400
        reason = None if good else f"HTTP {status}" + (f": {_excerpt(body)}" if body else "")
        results.append(CheckResult(sc.name, label, status, reason))
    return results
