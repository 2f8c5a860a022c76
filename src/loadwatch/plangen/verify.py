"""Before an OpenAPI plan is written, its requests are sent once and what does not answer 2xx is left out.

A spec says what a service accepts, not what exists in it: an id made from a schema's `minimum` answers 404 on a
real service, a path prefix the spec gets wrong answers 404 everywhere. So `loadwatch init --openapi` fills the
plan's pools with their real setup requests and sends each scenario once (only the methods the user allowed: the
scenarios are already filtered by `--methods`, and setup requests are GETs of list operations), and a scenario that
does not answer 2xx (or what its `expect` says) is listed at the end of the plan with the status and the start of
the answer, instead of adding errors to every run. `--no-probe` writes the plan without sending anything.

Also here: `LiveLists`, the list operations' real answers, from which a path parameter's values are taken when
the spec's schema does not show the items' fields (a list endpoint that returns untyped objects)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from loadwatch.config import Plan, check_target_allowed
from loadwatch.engine.pools import resolve_pools
from loadwatch.errors import InvalidInput, TargetUnavailable
from loadwatch.plangen.check import BODY_EXCERPT, check_plan
from loadwatch.plangen.draft import PlanDraft, ScenarioDraft

__all__ = ["LiveLists", "keep_answering"]

LIST_TIMEOUT_S = 10.0
MAX_LIST_BYTES = 5 * 2**20
MAX_POOL_ROUNDS = 64  # each round drops one pool: bounded by the number of pools, and by this


class LiveLists:
    """GET answers of list operations, fetched once each (allowed hosts only, bounded in size and time)."""

    def __init__(self, target: str, allowed_hosts: list[str] | None = None) -> None:
        self.target = target.rstrip("/")
        self.allowed_hosts = allowed_hosts
        self._seen: dict[str, Any] = {}

    def get(self, path: str) -> Any:
        """The JSON answer of `GET path`, or None when there is none (an error, not JSON, too large)."""
        if path in self._seen:
            return self._seen[path]
        url = self.target + path
        check_target_allowed(url, self.allowed_hosts, source="--openapi (a list operation's answer)")
        doc: Any = None
        req = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "loadwatch"})
        try:
            with urllib.request.urlopen(req, timeout=LIST_TIMEOUT_S) as resp:
                body = resp.read(MAX_LIST_BYTES + 1)
            if len(body) <= MAX_LIST_BYTES:
                doc = json.loads(body)
        except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError):
            doc = None
        self._seen[path] = doc
        return doc


def _uses(sc: ScenarioDraft, pool: str) -> bool:
    marker = "{" + pool + "}"
    texts = [sc.path, *(v for v, _ in sc.query.values()), *(v for v, _ in sc.headers.values())]
    return any(marker in t.replace("{{", "").replace("}}", "") for t in texts)


def _label(sc: ScenarioDraft) -> str:
    return f"{sc.method} {sc.path}"


def _drop_pool(draft: PlanDraft, name: str, why: str) -> None:
    draft.pools.pop(name, None)
    for sc in [s for s in draft.scenarios if _uses(s, name)]:
        draft.scenarios.remove(sc)
        draft.left_out.append(f"{_label(sc)}: its values come from pool {name}, which could not be filled ({why})")


def _fill_pools(draft: PlanDraft) -> Plan:
    """The draft as a plan whose pools all fill; a pool that cannot is dropped with the scenarios that use it."""
    for _ in range(MAX_POOL_ROUNDS):
        if not draft.scenarios:
            break
        plan = draft.to_plan()
        try:
            resolve_pools(plan)
            return plan
        except InvalidInput as exc:
            field = exc.field or ""
            name = field.split(".")[1] if field.startswith("pools.") else None
            if name is None or name not in draft.pools:
                raise
            _drop_pool(draft, name, exc.message)
        except TargetUnavailable as exc:
            raise TargetUnavailable(f"{exc.message}; start the service, or pass --no-probe to write the plan "
                                    "without sending anything") from None
    raise InvalidInput("no scenario is left once the pools that could not be filled are dropped: "
                       + "; ".join(draft.left_out[-5:]), source=draft.source)


def keep_answering(draft: PlanDraft) -> PlanDraft:
    """Send each scenario once and keep those answering 2xx (or their `expect`); the rest go to `left_out`."""
    plan = _fill_pools(draft)
    results = check_plan(plan)
    if results and all(r.status is None for r in results):
        raise TargetUnavailable(f"{plan.target.url} did not answer ({results[0].reason}); start the service, or "
                                "pass --no-probe to write the plan without sending anything")
    by_name = {s.name: s for s in draft.scenarios}
    for r in results:
        sc = by_name[r.scenario]
        wanted = set(sc.expect_status) if sc.expect_status else None
        ok = r.status is not None and (r.status in wanted if wanted is not None else 200 <= r.status < 300)
        if ok:
            continue
        draft.scenarios.remove(sc)
        what = r.reason or f"HTTP {r.status}"  # a 3xx passes --check but is no answer to load
        if r.reason is None and r.status is not None and 300 <= r.status < 400:
            what = f"HTTP {r.status} (a redirect: not followed, no answer to measure)"
        draft.left_out.append(f"{_label(sc)}: answered {what[:BODY_EXCERPT + 40]} when sent once before writing")
    if not draft.scenarios:
        raise InvalidInput("no scenario answered 2xx when sent once: " + "; ".join(draft.left_out[-5:]),
                           source=draft.source)
    return draft
