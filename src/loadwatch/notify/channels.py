"""Delivery through well-kept libraries, never hand-written HTTP per service: an Apprise URL (Slack, Teams, email,
PagerDuty, a JSON webhook and ~100 more: https://github.com/caronc/apprise/wiki) or a Prefect notification block
by `<block type>/<name>` (loaded through loadwatch.prefect_adapter.notifications, the core's one door to Prefect).

Outside the process a channel is only ever named by `key(ref)`: the service, the host of a generic webhook, and a
digest of the reference, so the store (what is pending, what was sent), the logs and the summaries never hold a
token, even one written into the plan literally; `${NAME}` is filled from the environment only when sending."""

from __future__ import annotations

import hashlib
import os
import re

from loadwatch.config import ENV_REF

__all__ = ["BLOCK_PREFIX", "ChannelError", "describe", "key", "send"]

BLOCK_PREFIX = "block:"
_CREDENTIALS = re.compile(r"(://)[^/@]*@")
# Apprise's generic webhooks: their host is an address, not a token (in slack://A/B/C the "host" is a token)
_WEBHOOK_SCHEMES = ("json", "jsons", "xml", "xmls", "form", "forms")


class ChannelError(Exception):
    """A channel did not take the message (the reason, in one line)."""


def describe(ref: str) -> str:
    """A channel for people: the Prefect block's name, or the Apprise service (with the host of a generic webhook);
    never a credential or a token."""
    if ref.startswith(BLOCK_PREFIX):
        return f"Prefect block {ref.removeprefix(BLOCK_PREFIX)}"
    scheme, _, rest = _CREDENTIALS.sub(r"\1", ref).partition("://")
    if scheme.lower() in _WEBHOOK_SCHEMES:
        return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}"
    return f"{scheme}://..."


def key(ref: str) -> str:
    """How the store and the summaries name a channel: `describe(ref)` and a digest that tells two apart."""
    return f"{describe(ref)} #{hashlib.sha256(ref.encode()).hexdigest()[:10]}"


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
        from loadwatch.prefect_adapter.notifications import BlockNotDelivered, send_with_block

        try:
            send_with_block(ref.removeprefix(BLOCK_PREFIX), title, body)
        except BlockNotDelivered as exc:
            raise ChannelError(str(exc)) from exc
        return
    _send_apprise(_expand(ref), title, body)
