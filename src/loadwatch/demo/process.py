"""`DemoTarget`: the demo service as a child process the flow starts, talks to and stops.

The child runs `python -m loadwatch.demo` in its own session (a terminal's Ctrl-C reaches the parent,
which decides when the target stops), reports its bound port through a ready file, and exits on its own
if the parent dies. `stop()` terminates, then kills, and always reaps: no zombies, no orphans."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import Any

from loadwatch.demo.faults import Faults
from loadwatch.demo.server import DATABASE_ENV, demo_database_url
from loadwatch.errors import InvalidInput, TargetUnavailable

__all__ = ["DemoTarget"]

_LIVE: weakref.WeakSet[DemoTarget] = weakref.WeakSet()
_LOG_TAIL = 2000


class DemoTarget:
    """A running demo target. Use `DemoTarget.start()`, or `with DemoTarget.start() as t:`."""

    def __init__(self, proc: subprocess.Popen[bytes], workdir: Path, url: str, database_url: str) -> None:
        self._proc = proc
        self._workdir = workdir
        self.url = url
        self.pid = proc.pid
        self.database_url = database_url

    @classmethod
    def start(
        cls,
        *,
        database_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        startup_timeout: float = 30.0,
    ) -> DemoTarget:
        """Start the service and wait (at most `startup_timeout` s) until it listens; port 0 = a free port."""
        db_url = database_url or demo_database_url()
        workdir = Path(tempfile.mkdtemp(prefix="lw-target-"))
        ready = workdir / "ready.json"
        log_path = workdir / "target.log"
        cmd = [
            sys.executable,
            "-m",
            "loadwatch.demo",
            "--host",
            host,
            "--port",
            str(port),
            "--ready-file",
            str(ready),
            "--exit-with-parent",
            str(os.getpid()),
        ]
        if faults is not None:
            cmd += ["--faults-json", json.dumps(faults.to_dict())]
        env = {**os.environ, DATABASE_ENV: db_url}
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        deadline = time.monotonic() + startup_timeout
        while True:
            if ready.exists():
                info = json.loads(ready.read_text())
                target = cls(proc, workdir, str(info["url"]), db_url)
                _LIVE.add(target)
                return target
            code = proc.poll()
            if code is not None or time.monotonic() >= deadline:
                why = f"exited with code {code}" if code is not None else f"did not listen within {startup_timeout:g} s"
                _reap(proc, 2.0)
                tail = _tail(log_path)
                shutil.rmtree(workdir, ignore_errors=True)
                raise TargetUnavailable(f"the demo target {why}; its log ends with:\n{tail}")
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code once stopped (0 = a clean exit on SIGTERM), None while running."""
        return self._proc.poll()

    def faults(self) -> dict[str, Any]:
        return self._admin("GET", None)

    def set_faults(self, faults: Faults | dict[str, Any]) -> None:
        """Replace the faults in force (validated here first, then by the service)."""
        f = faults if isinstance(faults, Faults) else Faults.from_dict(faults, source="set_faults")
        self._admin("PUT", f.to_dict())

    def _admin(self, method: str, body: dict[str, Any] | None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + "/admin/faults", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                out: dict[str, Any] = json.loads(resp.read())
                return out
        except urllib.error.HTTPError as exc:
            message = exc.read().decode(errors="replace")[:500]
            if exc.code == 400:
                raise InvalidInput(message, source="/admin/faults") from None
            raise TargetUnavailable(f"{method} {self.url}/admin/faults answered {exc.code}: {message}") from None
        except (OSError, ValueError) as exc:
            raise TargetUnavailable(f"{method} {self.url}/admin/faults failed: {exc}") from None

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate (SIGTERM), kill after `timeout` s, reap. Idempotent."""
        _reap(self._proc, timeout)
        _LIVE.discard(self)
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> DemoTarget:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"DemoTarget(url={self.url!r}, pid={self.pid}, running={self.running})"


def _reap(proc: subprocess.Popen[bytes], timeout: float) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
    else:
        proc.wait()


def _tail(path: Path, chars: int = _LOG_TAIL) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return text[-chars:].strip() or "(empty log)"


@atexit.register
def _stop_all() -> None:
    # a parent that forgot stop() (or raised past it) still leaves no process behind
    for target in list(_LIVE):
        target.stop(timeout=2.0)
