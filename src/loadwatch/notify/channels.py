"""Delivery through well-kept libraries, never hand-written HTTP per service: an Apprise URL (Slack, Teams, email,
PagerDuty, a JSON webhook and ~100 more: https://github.com/caronc/apprise/wiki) or a Prefect notification block
by `<block type>/<name>` (loaded through loadwatch.prefect_adapter, the core's one door to Prefect).

A channel is named by its reference as written (`${NAME}` unexpanded), so the store and the logs never hold a
secret; `${NAME}` is filled from the environment only when sending."""

from __future__ import annotations

import os
import re

from loadwatch.config import ENV_REF

__all__ = ["BLOCK_PREFIX", "ChannelError", "describe", "send"]

BLOCK_PREFIX = "block:"
_CREDENTIALS = re.compile(r"(://)[^/@]*@")


class ChannelError(Exception):
    """A channel did not take the message (the reason, in one line)."""


def describe(ref: str) -> str:
    """A channel for logs and warnings: its scheme and host, credentials and tokens left out."""
    if ref.startswith(BLOCK_PREFIX):
        return f"Prefect block {ref.removeprefix(BLOCK_PREFIX)}"
    head, _, rest = _CREDENTIALS.sub(r"\1", ref).partition("://")
    return f"{head}://{rest.split('/', 1)[0]}" if rest else head


def _expand(ref: str) -> str:
    missing = [name for name in ENV_REF.findall(ref) if name not in os.environ]
    if missing:
        raise ChannelError(f"environment variable {', '.join(missing)} is not set")
    return ENV_REF.sub(lambda m: os.environ[m.group(1)], ref)


def _send_apprise(url: str, title: str, body: str) -> None:
    import apprise

    client = apprise.Apprise()
    if not client.add(url):
        raise ChannelError("not a valid Apprise URL")
    with apprise.LogCapture(level=apprise.logging.WARNING) as log:  # type: ignore[no-untyped-call]
        ok = client.notify(body=body, title=title)
    if not ok:
        lines = [line.split(" - ", 2)[-1] for line in log.getvalue().splitlines() if line.strip()]
        raise ChannelError(lines[-1] if lines else "the service did not accept the message")


def send(ref: str, title: str, body: str) -> None:
    """Deliver one message through the channel `ref`; ChannelError (with the reason) when it did not."""
    if ref.startswith(BLOCK_PREFIX):
        from loadwatch.prefect_adapter import send_with_block

        send_with_block(ref.removeprefix(BLOCK_PREFIX), title, body)
        return
    _send_apprise(_expand(ref), title, body)
