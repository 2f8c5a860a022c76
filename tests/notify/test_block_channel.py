"""A Prefect notification block as a channel, through a real Prefect API (the session's test harness) and a real
loopback receiver: saved by name, loaded and sent by `block:<type>/<name>`; a missing block, or a receiver that is
down, is a ChannelError."""

from __future__ import annotations

import pytest
from notify_receiver import Receiver

from loadwatch.notify import channels


def test_a_prefect_block_delivers_and_a_missing_one_says_so(prefect_harness):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    receiver = Receiver()
    try:
        CustomWebhookNotificationBlock(
            name="loadwatch", url=f"http://127.0.0.1:{receiver.port}/prefect", secrets={},
            json_data={"title": "{{subject}}", "message": "{{body}}"},
        ).save("lw-test", overwrite=True)
        channels.send("block:custom-webhook/lw-test", "loadwatch catalog: new change", "REGRESSION: p95 +41 %")
        with pytest.raises(channels.ChannelError, match="cannot load Prefect block 'custom-webhook/nosuch'"):
            channels.send("block:custom-webhook/nosuch", "t", "b")
    finally:
        receiver.stop()
    with pytest.raises(channels.ChannelError, match="Prefect block 'custom-webhook/lw-test'"):  # receiver down
        channels.send("block:custom-webhook/lw-test", "t", "b")
    assert receiver.messages == [{"path": "/prefect", "title": "loadwatch catalog: new change",
                                  "message": "REGRESSION: p95 +41 %"}]
    assert channels.describe("block:custom-webhook/lw-test") == "Prefect block custom-webhook/lw-test"
