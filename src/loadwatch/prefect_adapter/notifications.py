"""Notifications through Prefect notification blocks (`loadwatch.notify`'s Prefect channel): the block is loaded and
sent here, so the notify package never imports Prefect; it turns BlockNotDelivered into its own ChannelError."""

from __future__ import annotations

__all__ = ["BlockNotDelivered", "send_with_block"]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class BlockNotDelivered(Exception):
    """A Prefect notification block could not be loaded or did not deliver (the reason, in one line)."""


def send_with_block(name: str, title: str, body: str) -> None:
    """Send through the Prefect notification block `<block type>/<name>` (e.g. `slack-webhook/oncall`), raising
    BlockNotDelivered with the reason when it cannot be loaded or did not deliver (the notify package turns it into
    its ChannelError: the adapter does not import the stages that call it)."""
    try:
        from prefect.blocks.abstract import NotificationBlock
        from prefect.blocks.core import Block

        block = Block.load(name)
    except Exception as exc:  # a missing block, an unreachable API: the channel failed, the run goes on
        raise BlockNotDelivered(f"cannot load Prefect block {name!r}: {_first_line(exc)}") from exc
    if not isinstance(block, NotificationBlock):
        raise BlockNotDelivered(f"Prefect block {name!r} is a {type(block).__name__}, not a notification block")
    try:
        with block.raise_on_failure():
            # sync outside an event loop (Prefect's async_dispatch); the abstract signature says async
            block.notify(body, subject=title)  # type: ignore[unused-coroutine]
    except Exception as exc:
        raise BlockNotDelivered(f"Prefect block {name!r}: {_first_line(exc)}") from exc
