"""The generator processes come from a fork server started once per process (loadwatch.engine._context), yet each
load's generators run as the parent is at that load's start: its environment, working directory, CPU affinity and
priority (loadwatch.engine.proc.Inherited), not as the server was when it started. Real loads over loopback."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from loadwatch.config import parse_plan
from loadwatch.engine import run_load

from .loopback import serving


@pytest.fixture
def header_server() -> Iterator[tuple[str, list[bytes]]]:
    """A keep-alive loopback server recording each request's head."""
    heads: list[bytes] = []

    def answer(head: bytes) -> bytes:
        heads.append(head)
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"

    with serving(answer) as url:
        yield url, heads


def _plan(url: str, duration: float = 1.0):  # type: ignore[no-untyped-def]
    return parse_plan({
        "target": {"url": url},
        "load": {"rate": 50, "duration": duration, "warmup": 0, "workers": 1},
        "scenarios": [{"name": "s", "path": "/", "headers": {"X-Night": "${LW_PROC_TEST_TOKEN}"}}],
    })


def _generators() -> list[psutil.Process]:
    """This process's grandchildren: the fork server's children (the server itself is a child)."""
    me = psutil.Process()
    return [p for c in me.children() for p in c.children()]


def test_a_generator_runs_as_the_parent_is_now_not_as_the_fork_server_was(header_server, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    url, heads = header_server
    monkeypatch.setenv("LW_PROC_TEST_TOKEN", "first")
    run_load(_plan(url))  # the fork server is up from here on, with this environment and this process's cores
    assert heads and all(b"X-Night: first" in h for h in heads)

    heads.clear()
    monkeypatch.setenv("LW_PROC_TEST_TOKEN", "second")  # a header's variable set after the server started
    monkeypatch.chdir(tmp_path)
    cores = os.sched_getaffinity(0)
    one = {min(cores)}
    seen: dict[int, tuple[set[int], int, str]] = {}  # the last look at each generator (a moment after its fork it
    # is still the server's copy)
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for p in _generators():
                try:
                    seen[p.pid] = (set(p.cpu_affinity()), p.nice(), p.cwd())
                except psutil.Error:
                    continue
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    nice = os.getpriority(os.PRIO_PROCESS, 0)
    os.sched_setaffinity(0, one)  # a generator pinned beside its target (BENCHMARKING.md), after the server started
    os.setpriority(os.PRIO_PROCESS, 0, nice + 1)  # lowering one's priority needs no privilege
    try:
        watcher.start()
        result = run_load(_plan(url, duration=2.0))
    finally:
        done.set()
        watcher.join(5)
        os.sched_setaffinity(0, cores)
        with contextlib.suppress(PermissionError):  # back up needs CAP_SYS_NICE; else the session stays one nicer
            os.setpriority(os.PRIO_PROCESS, 0, nice)

    assert result.summary["errors"] == 0 and result.summary["requests"] > 0
    assert heads and all(b"X-Night: second" in h for h in heads), heads[:1]
    assert seen, "no generator process was seen during a 2 s load"
    if len(cores) >= 2:
        assert {frozenset(a) for a, _, _ in seen.values()} == {frozenset(one)}
    assert {n for _, n, _ in seen.values()} == {nice + 1}
    assert {c for _, _, c in seen.values()} == {str(tmp_path)}
