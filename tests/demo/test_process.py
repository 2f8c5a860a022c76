"""DemoTarget as a real child process: start on a free port, faults at start and at runtime, clean stop,
no zombie or orphan (also when the parent dies), and a clear error when it cannot come up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from loadwatch.demo import DemoTarget, Faults
from loadwatch.errors import InvalidInput, TargetUnavailable

from .conftest import http


def _gone(pid: int) -> bool:
    """Exited and reaped (no zombie left)."""
    return not psutil.pid_exists(pid)


def _exited(pid: int) -> bool:
    """Exited; an orphan's reaping is its new parent's (init's) job, so a zombie counts."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _target_children() -> list[psutil.Process]:
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "loadwatch.demo" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.Error:
            continue
    return out


def _wait_exited(pid: int, limit: float = 20.0) -> bool:
    deadline = time.monotonic() + limit  # bounded: the child polls its parent every 0.5 s
    while time.monotonic() < deadline:
        if _exited(pid):
            return True
        time.sleep(0.1)
    return _exited(pid)


def test_start_serves_then_stop_leaves_nothing(catalog_db: str) -> None:
    t = DemoTarget.start(database_url=catalog_db)
    try:
        assert t.running and t.url.startswith("http://127.0.0.1:")
        assert t.database_url == catalog_db
        assert psutil.Process(t.pid).is_running()
        assert catalog_db not in " ".join(psutil.Process(t.pid).cmdline())  # the URL travels in the env
        r = http(t.url + "/api/v1/tools?page_size=3")
        assert r.status == 200 and len(r.body["tools"]) == 3
        assert http(t.url + "/api/v1/tools/health").body["status"] == "ok"
    finally:
        t.stop()
    assert not t.running and t.returncode == 0  # SIGTERM -> clean exit
    assert _gone(t.pid)
    assert _target_children() == []
    t.stop()  # idempotent


def test_faults_at_start_and_at_runtime(catalog_db: str) -> None:
    with DemoTarget.start(database_url=catalog_db, faults=Faults(cache=False, delay_ms=1)) as t:
        assert t.faults()["cache"] is False and t.faults()["delay_ms"] == 1
        r = http(t.url + "/health")
        assert r.headers.get("X-Injected-Fault") == "delay=1ms;no-cache"
        t.set_faults({"endpoints": {"list_tools": {"error_rate": 1.0}}})
        assert http(t.url + "/api/v1/tools").status == 500
        assert http(t.url + "/health").status == 200
        with pytest.raises(InvalidInput):
            t.set_faults({"error_rate": 3})
        t.set_faults(Faults())
        assert http(t.url + "/api/v1/tools").status == 200
    assert _gone(t.pid)


def test_two_targets_get_distinct_free_ports(catalog_db: str) -> None:
    with DemoTarget.start(database_url=catalog_db) as a, DemoTarget.start(database_url=catalog_db) as b:
        assert a.url != b.url
        assert http(a.url + "/health").status == http(b.url + "/health").status == 200
    assert _gone(a.pid) and _gone(b.pid)


def test_unreachable_database_fails_fast_with_the_log_tail() -> None:
    with pytest.raises(TargetUnavailable) as err:
        DemoTarget.start(database_url="postgresql://loadwatch:secret@127.0.0.1:1/nope", startup_timeout=60)
    msg = str(err.value)
    assert "exited with code 3" in msg and "127.0.0.1:1" in msg
    assert "secret" not in msg  # the password is redacted in the child's message
    assert _target_children() == []


def test_port_in_use_is_reported(catalog_db: str) -> None:
    with DemoTarget.start(database_url=catalog_db) as a:
        port = int(a.url.rsplit(":", 1)[1])
        with pytest.raises(TargetUnavailable) as err:
            DemoTarget.start(database_url=catalog_db, port=port)
        assert "cannot listen" in str(err.value)
    assert _target_children() == []


def test_target_exits_when_its_parent_dies(catalog_db: str) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from loadwatch.demo import DemoTarget
        t = DemoTarget.start(database_url=sys.argv[1])
        print(t.pid, flush=True)
        time.sleep(120)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script, catalog_db], stdout=subprocess.PIPE, text=True,
                              env={**os.environ})  # fmt: skip
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        child = int(line)
        assert psutil.Process(child).is_running()
        os.kill(parent.pid, signal.SIGKILL)  # no atexit, no stop(): only the child's own watch can save us
        parent.wait(timeout=10)
        assert _wait_exited(child)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_module_entry_point_exits_cleanly_on_sigterm(catalog_db: str, tmp_path: object) -> None:
    from pathlib import Path

    ready = Path(str(tmp_path)) / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadwatch.demo", "--port", "0", "--ready-file", str(ready), "--no-cache"],
        env={**os.environ, "LOADWATCH_TARGET_DATABASE_URL": catalog_db},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        import json

        info = json.loads(ready.read_text())
        assert http(info["url"] + "/admin/faults").body["cache"] is False
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "listening on" in out and "stopping" in out
