"""Fault knobs: validation, per-endpoint overrides, the stall window, the seeded error RNG, the admin gate,
and the command-line options that build them."""

from __future__ import annotations

import argparse
import random

import pytest

from loadwatch.demo.faults import Faults, FaultState, is_loopback_peer
from loadwatch.demo.server import add_target_arguments, faults_from_args
from loadwatch.errors import InvalidInput


def _ns(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_target_arguments(p)
    return p.parse_args(list(argv))


def test_endpoint_overrides_fall_back_to_global() -> None:
    f = Faults.from_dict({"delay_ms": 3, "cache": True, "endpoints": {"get_tool": {"cache": False, "delay_ms": 0}}})
    assert f.knobs("get_tool").cache is False
    assert f.knobs("get_tool").delay_ms == 0
    assert f.knobs("search").delay_ms == 3 and f.knobs("search").cache is True


def test_round_trip_through_dict() -> None:
    f = Faults.from_dict({"slowdown": 0.3, "seed": 9, "endpoints": {"list_tools": {"error_rate": 0.5}}})
    assert Faults.from_dict(f.to_dict()) == f
    assert f.to_dict()["endpoints"] == {"list_tools": {"error_rate": 0.5}}


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ([], "JSON object"),
        ({"delay": 1}, "unknown key"),
        ({"delay_ms": -1}, "delay_ms"),
        ({"delay_ms": "5"}, "delay_ms"),
        ({"delay_ms": float("nan")}, "delay_ms"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"cache": "no"}, "cache"),
        ({"endpoints": {"get_tool": {"miss_ms": -2}}}, "endpoints.get_tool.miss_ms"),
        ({"seed": 1.5}, "seed"),
        ({"endpoints": {"nope": {}}}, "unknown endpoint"),
        ({"endpoints": {"search": {"speed": 1}}}, "unknown knob"),
        ({"endpoints": {"search": 5}}, "endpoints.search"),
        ({"endpoints": []}, "endpoints"),
    ],
)
def test_bad_faults_raise_invalid_input(data: object, needle: str) -> None:
    with pytest.raises(InvalidInput) as err:
        Faults.from_dict(data, source="test")
    assert needle in str(err.value)
    assert err.value.exit_code == 2


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_stall_window_counts_from_when_faults_took_effect() -> None:
    clock = Clock()
    state = FaultState(Faults(stall_at=2, stall_for=3), clock=clock)
    k = state.knobs("list_tools")
    assert state.stall_remaining(k) == 0
    clock.now += 2.5
    assert state.stall_remaining(k) == pytest.approx(2.5)
    clock.now += 2.5
    assert state.stall_remaining(k) == 0
    state.set(Faults(stall_at=0, stall_for=1))  # a runtime change restarts the clock
    assert state.stall_remaining(state.knobs("search")) == pytest.approx(1.0)


def test_error_draws_are_reproducible_for_a_seed() -> None:
    state = FaultState(Faults(error_rate=0.3, seed=42))
    k = state.knobs("search")
    got = [state.should_fail(k) for _ in range(200)]
    rng = random.Random(42)
    assert got == [rng.random() < 0.3 for _ in range(200)]
    assert 0 < sum(got) < 200
    assert state.knobs("get_tool") == k  # an endpoint without overrides uses the global rate
    none = FaultState(Faults())
    assert not any(none.should_fail(none.knobs("search")) for _ in range(100))


@pytest.mark.parametrize(
    ("peer", "ok"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("192.168.1.1", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1%eth0", False),
        ("", False),
        (None, False),
        ("localhost", False),  # a name, not a peer address
    ],
)
def test_admin_gate_accepts_only_loopback(peer: str | None, ok: bool) -> None:
    assert is_loopback_peer(peer) is ok


def test_faults_from_command_line() -> None:
    ns = _ns(
        "--delay-ms", "5", "--error-rate", "0.1", "--stall-at", "10", "--stall-for", "2", "--no-cache",
        "--slowdown", "0.3", "--endpoint-fault", "list_tools:delay_ms=7", "--endpoint-fault", "get_tool:cache=on",
        "--endpoint-fault", "get_tool:miss_ms=3",
    )  # fmt: skip
    f = faults_from_args(ns)
    assert (f.delay_ms, f.error_rate, f.stall_at, f.stall_for, f.cache, f.slowdown) == (5, 0.1, 10, 2, False, 0.3)
    assert f.knobs("list_tools").delay_ms == 7
    assert f.knobs("get_tool").cache is True and f.knobs("get_tool").miss_ms == 3
    assert f.knobs("search").miss_ms == 0
    assert faults_from_args(_ns()) == Faults()


def test_faults_json_option_and_flags_combine() -> None:
    f = faults_from_args(_ns("--faults-json", '{"endpoints": {"search": {"slowdown": 1}}}', "--delay-ms", "2"))
    assert f.delay_ms == 2 and f.knobs("search").slowdown == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["--endpoint-fault", "list_tools"],
        ["--endpoint-fault", "nope:delay_ms=1"],
        ["--endpoint-fault", "search:delay_ms=fast"],
        ["--endpoint-fault", "get_tool:cache=maybe"],
        ["--stall-for", "3"],
        ["--faults-json", "{not json"],
        ["--faults-json", "[1]"],
    ],
)
def test_bad_fault_options_raise_invalid_input(argv: list[str]) -> None:
    with pytest.raises(InvalidInput):
        faults_from_args(_ns(*argv))


@pytest.mark.parametrize("argv", [["--error-rate", "2"], ["--delay-ms", "-1"], ["--port", "70000"]])
def test_out_of_range_options_are_argparse_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as err:
        _ns(*argv)
    assert err.value.code == 2
