"""Helpers for the end-to-end tests that drive `loadwatch run` as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil
import pytest


def cmdline(proc: psutil.Process) -> str:
    """A process's command line, "" once it has exited or become a zombie (short-lived helpers such as
    pg_ctl come and go while a run starts)."""
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def wait_for_load(proc: psutil.Process, timeout: float) -> None:
    """Until the run's generator worker processes exist (the load is running); fails the test otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any("multiprocessing" in cmdline(k) for k in proc.children(recursive=True)):
            return
        time.sleep(0.2)
    pytest.fail("the load never started")


def still_alive(procs: list[psutil.Process]) -> list[str]:
    """The command lines of those processes that still run (not exited, not zombies)."""
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(cmdline(p))
        except psutil.Error:
            continue
    return out


def interrupt(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[str, float]:
    """SIGINT to a run; its stderr and the seconds it took to exit."""
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=timeout)
    return err, time.monotonic() - sent


def kill_group(proc: subprocess.Popen[str]) -> None:
    """The run's whole process group, if it is still there (started with start_new_session)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)


def assert_no_survivors(procs: list[psutil.Process]) -> None:
    time.sleep(0.5)
    alive = still_alive(procs)
    assert not alive, alive
