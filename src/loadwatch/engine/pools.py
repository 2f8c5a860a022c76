"""Data pools: inline values, or a setup request (GET `from_path`, JSON, `json_path`) made once in the parent
before the generator processes start, so every process draws from the same values."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from loadwatch.config import Plan
from loadwatch.engine.build import extract_json_path
from loadwatch.errors import InvalidInput, TargetUnavailable

__all__ = ["resolve_pools"]


def _fetch(url: str, timeout: float) -> Any:
    ctx = ssl.create_default_context() if url.startswith("https") else None
    req = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "loadwatch"})
    with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
        return json.loads(resp.read())


def resolve_pools(plan: Plan) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, pool in plan.pools.items():
        field = f"pools.{name}"
        if pool.values:
            out[name] = [str(v) for v in pool.values][: pool.limit]
            continue
        url = plan.target.url.rstrip("/") + str(pool.from_path)
        try:
            doc = _fetch(url, plan.load.timeout.total)
        except urllib.error.HTTPError as exc:
            raise InvalidInput(
                f"setup request GET {pool.from_path} answered HTTP {exc.code}",
                source="plan",
                field=f"{field}.from_path",
            ) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            raise TargetUnavailable(f"setup request GET {url} failed: {getattr(exc, 'reason', exc)}") from None
        except ValueError:
            raise InvalidInput(
                f"setup request GET {pool.from_path} did not return JSON", source="plan", field=f"{field}.from_path"
            ) from None
        values = [v for v in extract_json_path(doc, str(pool.json_path)) if isinstance(v, str | int | float)]
        if not values:
            raise InvalidInput(
                f"json_path {pool.json_path!r} matched no values in the answer of {pool.from_path}",
                source="plan",
                field=f"{field}.json_path",
            )
        out[name] = [str(v) for v in values][: pool.limit]
    return out
