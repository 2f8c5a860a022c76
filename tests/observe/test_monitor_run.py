"""Monitor.run: samples real processes by counter deltas, stops when told, ends by itself, and survives
processes that exit and a database that is not there."""

from __future__ import annotations

import os
import threading
import time

import pytest

from loadwatch.errors import InvalidInput
from loadwatch.observe import discovery as disc
from loadwatch.observe import monitor as mon

from .conftest import SLEEP, SPIN

GROUP_KEYS = {
    "t",
    "interval_s",
    "group",
    "processes",
    "cpu_percent",
    "rss_mb",
    "threads",
    "fds",
    "read_bytes_per_s",
    "write_bytes_per_s",
    "ctx_switches_per_s",
}
HOST_KEYS = {
    "mem_used_mb",
    "mem_percent",
    "net_sent_bytes_per_s",
    "net_recv_bytes_per_s",
    "disk_read_bytes_per_s",
    "disk_write_bytes_per_s",
}


def _run_in_thread(monitor: mon.Monitor, stop: threading.Event, max_duration: float) -> tuple[threading.Thread, dict]:
    out: dict = {}
    th = threading.Thread(target=lambda: out.update(r=monitor.run(stop, max_duration=max_duration)), daemon=True)
    th.start()
    return th, out


def test_busy_child_has_cpu_and_rss(spawn):
    busy = spawn(SPIN.format(seconds=20))
    stop = threading.Event()
    monitor = mon.Monitor([mon.ProcessGroup("target", lambda: disc.with_children({busy.pid}))], interval=0.25)
    th, out = _run_in_thread(monitor, stop, max_duration=30)
    stop.wait(1.6)
    stop.set()
    th.join(timeout=30)
    assert not th.is_alive()
    result: mon.MonitorResult = out["r"]
    target = [s for s in result.samples if s["group"] == "target"]
    host = [s for s in result.samples if s["group"] == "host"]
    assert len(target) >= 3 and len(host) == len(target)
    assert all(s.keys() >= GROUP_KEYS for s in target)
    assert all(s.keys() >= GROUP_KEYS | HOST_KEYS for s in host)
    assert max(s["cpu_percent"] for s in target) > 10, "a spinning process uses CPU"
    assert all(s["rss_mb"] > 0 and s["processes"] == 1 and s["threads"] >= 1 for s in target)
    assert all(s["cpu_percent"] > 0 for s in host)
    # timestamps are the wall clock of the load's windows (epoch seconds), increasing
    ts = [s["t"] for s in target]
    assert ts == sorted(ts) and abs(ts[-1] - time.time()) < 60
    summary = result.summary()
    assert summary["target"]["samples"] == len(target)
    assert summary["target"]["cpu_percent"]["max"] >= summary["target"]["cpu_percent"]["avg"] > 0
    assert summary["target"]["rss_mb"]["avg"] > 0
    assert summary["host"]["mem_used_mb"]["max"] > 0
    assert summary["database"] == {}
    assert summary["monitor_overhead_percent"] is not None and summary["monitor_overhead_percent"] >= 0
    assert result.overhead["cpu_seconds"] >= 0 and result.overhead["wall_seconds"] > 0


def test_returns_within_one_interval_after_stop():
    interval = 20.0  # long, so returning early can only be the stop, not the schedule
    stop = threading.Event()
    monitor = mon.Monitor([mon.ProcessGroup("me", lambda: {os.getpid()})], interval=interval)
    th, out = _run_in_thread(monitor, stop, max_duration=300)
    time.sleep(0.3)
    t0 = time.monotonic()
    stop.set()
    th.join(timeout=interval)
    assert not th.is_alive(), "still sampling a whole interval after stop"
    assert time.monotonic() - t0 < interval
    samples = out["r"].samples
    # the partial last interval (0.3 s of 20 s) is shorter than a quarter interval: no sample
    assert samples == []


def test_stop_before_start_returns_at_once():
    stop = threading.Event()
    stop.set()
    result = mon.Monitor([mon.ProcessGroup("me", lambda: {os.getpid()})], interval=30).run(stop, max_duration=300)
    assert result.samples == []
    assert result.overhead["wall_seconds"] < 30


def test_ends_by_itself_at_max_duration():
    stop = threading.Event()
    monitor = mon.Monitor([mon.ProcessGroup("me", lambda: {os.getpid()})], interval=0.2, host=False)
    th, out = _run_in_thread(monitor, stop, max_duration=1.0)
    th.join(timeout=60)
    assert not th.is_alive(), "max_duration bounds the monitor without a stop"
    assert not stop.is_set()
    samples = out["r"].samples
    assert 1 <= len(samples) <= 6, "one sample per interval, and none after max_duration"
    assert {s["group"] for s in samples} == {"me"}


def test_survives_a_process_that_exits(spawn):
    short = spawn(SLEEP.format(seconds=0.5))
    long_ = spawn(SLEEP.format(seconds=30))
    stop = threading.Event()
    groups = [
        mon.ProcessGroup("target", lambda: disc.with_children({short.pid})),
        mon.ProcessGroup("other", lambda: {long_.pid}),
    ]
    th, out = _run_in_thread(mon.Monitor(groups, interval=0.2), stop, max_duration=30)
    short.wait(timeout=30)
    stop.wait(0.8)  # a few samples after the exit
    stop.set()
    th.join(timeout=30)
    result: mon.MonitorResult = out["r"]
    target = [s for s in result.samples if s["group"] == "target"]
    assert target[-1]["processes"] == 0 and target[-1]["rss_mb"] == 0
    assert all(s["processes"] == 1 for s in result.samples if s["group"] == "other")
    summary = result.summary()
    assert summary["target"]["empty_samples"] >= 1
    assert summary["target"]["samples"] + summary["target"]["empty_samples"] == len(target)


def test_a_failing_selector_is_an_empty_group():
    def broken() -> set[int]:
        raise OSError("cannot read /proc")

    stop = threading.Event()
    th, out = _run_in_thread(mon.Monitor([mon.ProcessGroup("target", broken)], interval=0.2), stop, 30)
    stop.wait(0.7)
    stop.set()
    th.join(timeout=30)
    target = [s for s in out["r"].samples if s["group"] == "target"]
    assert target and all(s["processes"] == 0 for s in target)


def test_a_database_that_is_not_there_is_reported_not_raised():
    stop = threading.Event()
    monitor = mon.Monitor([], interval=0.2, database_url="postgresql://nobody@127.0.0.1:1/none")
    th, out = _run_in_thread(monitor, stop, max_duration=30)
    stop.wait(0.5)
    stop.set()
    th.join(timeout=60)
    db = out["r"].database
    assert db["error"] and db["top_statements"] == []
    assert "password" not in db["error"]


def test_new_process_in_group_counts_from_its_start(spawn):
    # a process that starts during an interval: all of its CPU happened in that interval
    started: dict[str, int] = {}
    stop = threading.Event()

    def select() -> set[int]:
        return {started["pid"]} if "pid" in started else set()

    th, out = _run_in_thread(mon.Monitor([mon.ProcessGroup("late", select)], interval=0.5, host=False), stop, 30)
    time.sleep(0.2)
    started["pid"] = spawn(SPIN.format(seconds=20)).pid
    stop.wait(1.5)
    stop.set()
    th.join(timeout=30)
    late = [s for s in out["r"].samples if s["processes"]]
    assert late and max(s["cpu_percent"] for s in late) > 10


@pytest.mark.parametrize("interval", [0, -1, float("nan"), float("inf")])
def test_bad_interval_is_invalid_input(interval):
    with pytest.raises(InvalidInput, match="interval"):
        mon.Monitor([], interval=interval)


def test_duplicate_or_reserved_group_names_are_invalid():
    with pytest.raises(InvalidInput):
        mon.Monitor([mon.ProcessGroup("a", set), mon.ProcessGroup("a", set)])
    with pytest.raises(InvalidInput):
        mon.Monitor([mon.ProcessGroup("host", set)])


def test_bad_max_duration_is_invalid_input():
    with pytest.raises(InvalidInput, match="max_duration"):
        mon.Monitor([]).run(threading.Event(), max_duration=0)


SHORT_CHILDREN = """
import subprocess, sys, time
time.sleep(0.5)
spin = "import time\\nend = time.time() + {spin}\\nwhile time.time() < end: pass\\n"
for _ in range({count}):
    subprocess.run([sys.executable, "-c", spin], check=True)
print("done", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize(("spin", "count"), [(0.03, 12), (0.6, 2)])
def test_children_cpu_is_counted_once(spawn, spin, count):
    """Short children (most live less than one interval) and long ones (seen across several samples, then
    reaped by the parent): the group's CPU adds up to what the parent and its children really used."""
    parent = spawn(SHORT_CHILDREN.format(spin=spin, count=count))
    import psutil

    p = psutil.Process(parent.pid)

    def used() -> float:
        t = p.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    base = used()
    stop = threading.Event()
    monitor = mon.Monitor([mon.ProcessGroup("target", lambda: disc.with_children({parent.pid}))], interval=0.25)
    th, out = _run_in_thread(monitor, stop, max_duration=60)
    assert parent.stdout.readline().strip() == "done"
    stop.wait(0.6)
    stop.set()
    th.join(timeout=60)
    real = used() - base
    counted = sum(s["cpu_percent"] * s["interval_s"] / 100 for s in out["r"].samples if s["group"] == "target")
    assert real > 0.2
    assert counted == pytest.approx(real, rel=0.25), "neither lost nor counted twice"
