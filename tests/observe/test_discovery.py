"""Finding the target's processes: by listening port, PID file, command-line pattern, children included."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psutil
import pytest

from loadwatch.errors import InvalidInput
from loadwatch.observe import discovery as disc

LISTENER = """
import socket, sys, time
family = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(60)
"""

PARENT = """
import subprocess, sys, time
kid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(kid.pid, flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("family", ["4", "6"])
def test_pids_by_port_finds_the_listener(spawn, family):
    if family == "6" and not psutil.net_if_addrs():
        pytest.skip("no network interfaces")
    proc = spawn(LISTENER, family)
    line = proc.stdout.readline().strip()
    if not line:
        pytest.skip(f"cannot listen on IPv{family} loopback here")
    port = int(line)
    assert disc.pids_by_port(port) == {proc.pid}
    assert disc.pids_by_port(port) == {proc.pid}, "the cached answer is the same"
    proc.kill()
    proc.wait(timeout=10)
    assert disc.pids_by_port(port) == set(), "a listener that exited is not reported from the cache"


def test_pids_by_port_nobody_listening():
    # port 1 is privileged and unused in the test environment
    assert disc.pids_by_port(1) == set()


@pytest.mark.parametrize("bad", [0, 65536, -5, True, "80"])
def test_pids_by_port_rejects_bad_ports(bad):
    with pytest.raises(InvalidInput, match="port"):
        disc.pids_by_port(bad)


def test_pids_from_pidfile(spawn, tmp_path: Path):
    proc = spawn("import time; time.sleep(60)")
    pidfile = tmp_path / "target.pid"
    pidfile.write_text(f"{proc.pid}\n")
    assert disc.pids_from_pidfile(pidfile) == {proc.pid}
    proc.kill()
    proc.wait(timeout=10)
    assert disc.pids_from_pidfile(pidfile) == set(), "a PID file of a dead process selects nothing"


def test_pidfile_missing_or_empty_selects_nothing(tmp_path: Path):
    assert disc.pids_from_pidfile(tmp_path / "absent.pid") == set()
    (tmp_path / "empty.pid").write_text("")
    assert disc.pids_from_pidfile(tmp_path / "empty.pid") == set()


@pytest.mark.parametrize("content", ["not-a-pid", "-3", "0", "12abc"])
def test_pidfile_garbage_is_invalid_input(tmp_path: Path, content: str):
    path = tmp_path / "bad.pid"
    path.write_text(content)
    with pytest.raises(InvalidInput) as info:
        disc.pids_from_pidfile(path)
    assert str(path) in info.value.message


def test_pids_by_pattern_matches_the_command_line(spawn):
    marker = f"lw-pattern-{uuid.uuid4().hex}"
    proc = spawn("import time, sys; time.sleep(60)", marker)
    other = spawn("import time; time.sleep(60)", "something-else")
    found = disc.pids_by_pattern(rf"lw-pattern-{marker[11:]}$")
    assert found == {proc.pid}
    assert other.pid not in found


def test_pids_by_pattern_excludes_the_monitor_itself():
    me = psutil.Process()
    own = " ".join(me.cmdline())
    assert own, "this process has a command line"
    assert os.getpid() not in disc.pids_by_pattern(".")


def test_pids_by_pattern_rejects_bad_regex():
    with pytest.raises(InvalidInput, match="regular expression"):
        disc.pids_by_pattern("(unclosed")


def test_with_children_includes_descendants(spawn):
    parent = spawn(PARENT)
    kid_pid = int(parent.stdout.readline())
    try:
        assert disc.with_children({parent.pid}) == {parent.pid, kid_pid}
        assert disc.with_children({parent.pid, 999_999_999}) == {parent.pid, kid_pid}, "dead PIDs are dropped"
        assert disc.with_children([]) == set()
    finally:
        psutil.Process(kid_pid).kill()
