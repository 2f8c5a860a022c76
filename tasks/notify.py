"""Notify task: tell what changed tonight (loadwatch.notify.stage). No retries here: an undelivered message is kept
in the store and sent again by the next run, and a failure is a warning in the run's summary, never its end."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from loadwatch.notify.stage import NotifyInput, NotifyOutcome, notify_night

__all__ = ["notify_task"]


@task(name="notify", cache_policy=NO_CACHE, retries=0, timeout_seconds=300)
def notify_task(inp: NotifyInput, store_url: str) -> NotifyOutcome:
    outcome = notify_night(inp, store_url)
    log = get_run_logger()
    for warning in outcome.warnings:
        log.warning("%s", warning)
    if outcome.events or outcome.delivered:
        log.info("notified: %s (%d message(s) delivered)", ", ".join(outcome.events) or "retries", outcome.delivered)
    return outcome
