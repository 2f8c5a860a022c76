"""Preflight: everything the run needs is there, checked in seconds, with a message that says what to do."""

from __future__ import annotations

import importlib.util
import logging
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, NotRequired

from typing_extensions import TypedDict

from loadwatch.config import Plan, check_target_allowed
from loadwatch.errors import InfrastructureError, TargetUnavailable
from loadwatch.settings import data_dir
from loadwatch.urls import redact_url

__all__ = [
    "REQUIRED_MODULES", "Preflight", "check_disk", "check_modules", "preflight_stage", "preflight_static",
    "wait_for_target",
]

REQUIRED_MODULES = (
    "aiohttp", "httptools", "hdrh", "psutil", "psycopg", "sqlalchemy", "jinja2", "matplotlib", "scipy", "yaml",
)
MIN_FREE_MB = 200
# a flow run's logs get these lines through PREFECT_LOGGING_EXTRA_LOGGERS=loadwatch (loadwatch.prefect_adapter)
log = logging.getLogger(__name__)


def check_modules(names: tuple[str, ...] = REQUIRED_MODULES) -> list[str]:
    missing = [n for n in names if importlib.util.find_spec(n) is None]
    if missing:
        raise InfrastructureError(
            f"missing Python packages: {', '.join(missing)}; reinstall loadwatch (pip install loadwatch)"
        )
    return list(names)


def check_disk(*paths: Path, min_free_mb: int = MIN_FREE_MB) -> dict[str, float]:
    free: dict[str, float] = {}
    for path in paths:
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        mb = shutil.disk_usage(probe).free / 1e6
        free[str(path)] = round(mb, 1)
        if mb < min_free_mb:
            raise InfrastructureError(f"only {mb:.0f} MB free under {probe}; loadwatch needs {min_free_mb} MB")
    return free


def unhealthy(status: int, *, health_path_set: bool) -> bool:
    """A health check's answer that is a failed dependency: any 5xx, and a 404 on a health path the plan names (the
    default path `/` of an API often has no page, so its 404 only says the server answers)."""
    return status >= 500 or (status == 404 and health_path_set)


def wait_for_target(url: str, *, timeout: float = 5.0, interval: float = 0.25,
                    health_path_set: bool = False) -> dict[str, Any]:
    """GET `url` until it answers healthily, bounded by `timeout` seconds. Any status counts as reachable except a
    failed dependency (`unhealthy`): retried until the bound (a target still starting), then TargetUnavailable with
    the status."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=min(2.0, max(0.1, deadline - time.monotonic()))) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = str(getattr(exc, "reason", exc))
            if time.monotonic() + interval >= deadline:
                raise TargetUnavailable(
                    f"target {url} is not reachable after {timeout:g} s ({last}); is it running? "
                    "Use `target.url: demo` to start the bundled demo service"
                ) from None
            time.sleep(interval)
            continue
        if unhealthy(status, health_path_set=health_path_set):
            if time.monotonic() + interval < deadline:
                time.sleep(interval)
                continue
            raise TargetUnavailable(
                f"health check {url} answered HTTP {status} for {timeout:g} s: a failed dependency "
                f"({'a server error' if status >= 500 else 'no such page on the plan health_path'}); fix the "
                "target, or point `target.health_path` at a page that answers 2xx when it is healthy"
            )
        return {"url": url, "status": status, "ms": round((time.perf_counter() - started) * 1000, 2)}


class Preflight(TypedDict):
    """What preflight found: the required modules (all importable, else it raised), the free disk space per path,
    and the spooled runs it stored first (the chain's first stage only)."""

    modules: list[str]
    disk_free_mb: dict[str, float]
    flushed: NotRequired[list[str]]


def preflight_static(plan: Plan, *, out_dir: Path | None) -> Preflight:
    """The checks that need no running target or database: packages, host allow-list, disk."""
    if plan.target.url != "demo":
        check_target_allowed(plan.target.url, plan.target.allowed_hosts)
    return {
        "modules": check_modules(),
        "disk_free_mb": check_disk(data_dir(), *([out_dir] if out_dir else [])),
    }


def preflight_stage(
    plan: Plan, store_url: str, out_dir: Path | None
) -> Preflight:
    """The chain's first stage: the static checks, then the trend store reachable and migrated, and the runs spooled
    while it was away stored first (so tonight's history includes them)."""
    from loadwatch.pipeline.save import flush_spool  # the store's imports cost the CLI's fast checks nothing

    info = preflight_static(plan, out_dir=out_dir)
    flushed = flush_spool(store_url)
    if flushed:
        log.info("stored %d spooled run(s) first: %s", len(flushed), ", ".join(flushed))
    log.info("preflight ok; store %s", redact_url(store_url))
    return {**info, "flushed": flushed}
