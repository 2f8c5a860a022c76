"""How channels are named outside the process (pure): never a token, two channels always told apart; `${NAME}`
read from the environment only when sending."""

from __future__ import annotations

import pytest

from loadwatch.notify import channels


@pytest.mark.parametrize(("ref", "shown"), [
    ("slack://T1SECRET/B2SECRET/C3SECRET/#perf", "slack://..."),
    ("mailto://user:pa55@example.com", "mailto://..."),
    ("json://hook-user:pa55@hooks.example.com:8080/path?x=1", "json://hooks.example.com:8080"),
    ("block:slack-webhook/oncall", "Prefect block slack-webhook/oncall"),
])
def test_a_channel_is_shown_without_its_secrets(ref: str, shown: str) -> None:
    assert channels.describe(ref) == shown
    assert channels.key(ref).startswith(shown + " #")
    assert not any(secret in channels.key(ref) for secret in ("SECRET", "pa55", "user"))


def test_two_channels_of_one_service_have_two_keys() -> None:
    assert channels.key("slack://A/B/C") != channels.key("slack://A/B/D")


def test_an_unset_variable_fails_the_channel_not_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LW_TEST_TOKEN", raising=False)
    with pytest.raises(channels.ChannelError, match="environment variable LW_TEST_TOKEN is not set"):
        channels.send("json://127.0.0.1:9/${LW_TEST_TOKEN}", "t", "b")
