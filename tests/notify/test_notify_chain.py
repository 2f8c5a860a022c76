"""The notification stage inside the real chain (plain runners, real Postgres, a real loopback receiver): a night
that measured nothing is told once, a channel that is down changes neither the error nor what is stored, and its
message arrives with the next night."""

from __future__ import annotations

import json
import socket

import psycopg
import pytest
from notify_receiver import Receiver
from plain_runner import plain_stages

from loadwatch.errors import TargetUnavailable
from loadwatch.params import RunParams
from loadwatch.pipeline.chain import run_chain


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_target_is_told_once_even_through_a_receiver_that_was_down(fresh_db, tmp_path):
    receiver = Receiver()
    try:
        receiver.stop()
        target = f"http://127.0.0.1:{_dead_port()}"
        params = RunParams(target_url=target, duration=3, rate=10, out_dir=str(tmp_path / "a"), capacity=False,
                           notify=[receiver.url])
        with pytest.raises(TargetUnavailable, match="not reachable"):  # the night's own error, unchanged
            run_chain(params, plain_stages(), store_url=fresh_db)
        receiver.start()
        second = params.model_copy(update={"out_dir": str(tmp_path / "b")})
        with pytest.raises(TargetUnavailable, match="not reachable"):
            run_chain(second, plain_stages(), store_url=fresh_db)
    finally:
        receiver.stop()
    with psycopg.connect(fresh_db) as conn:
        runs = conn.execute("SELECT status, verdict FROM runs").fetchall()
        tried = conn.execute("SELECT delivered FROM notifications ORDER BY id").fetchall()
    assert runs == [("failed_preflight", "failed")] * 2  # both nights stored as they were
    assert tried == [(False,), (True,)]  # night 1's message failed, then arrived with night 2 (which adds none)
    (msg,) = receiver.messages
    assert msg["title"] == "loadwatch tool_catalog: did not measure"
    assert "the night measured nothing" in msg["message"] and "not reachable" in msg["message"]
    assert "Run: " not in msg["message"]  # no stored run has the notice's id



def test_a_measured_night_with_its_channel_down_keeps_its_verdict_and_says_so(fresh_db, tmp_path):
    receiver = Receiver()
    receiver.stop()  # down for both nights
    try:
        dead = RunParams(target_url=f"http://127.0.0.1:{_dead_port()}", duration=3, rate=10, capacity=False,
                         out_dir=str(tmp_path / "a"), notify=[receiver.url])
        with pytest.raises(TargetUnavailable):  # a message to deliver: the night that measured nothing
            run_chain(dead, plain_stages(), store_url=fresh_db)
        night = RunParams(duration=3, rate=40, warmup=1, capacity=False, out_dir=str(tmp_path / "b"),
                          notify=[receiver.url])
        summary = run_chain(night, plain_stages(), store_url=fresh_db)  # returns: nothing raised
    finally:
        receiver.stop()
    assert any(w.startswith(f"notification via json://127.0.0.1:{receiver.port} failed") for w in summary.warnings)
    written = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert written["warnings"] == summary.warnings and written["verdict"] == summary.verdict
    with psycopg.connect(fresh_db) as conn:
        stored = conn.execute("SELECT verdict FROM runs WHERE run_id = %s", (summary.run_id,)).fetchone()
        tries = conn.execute("SELECT delivered FROM notifications ORDER BY id").fetchall()
    assert stored == (summary.verdict,)  # stored before the notify stage, with the same verdict
    assert tries == [(False,), (False,)]  # the first night's message, and its retry with the second night
