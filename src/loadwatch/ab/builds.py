"""The two builds of an A/B session: given URLs on loopback, or started from command templates (`{port}`, and for
bisection `{dir}`) on a free loopback port, waited for on the plan's health path, stopped with their process group.

Both builds inherit this process's CPU affinity, so they run on the same cores."""

from __future__ import annotations

import ipaddress
import shlex
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from loadwatch.errors import InvalidInput
from loadwatch.infra.procs import stop_group, wait_healthy

__all__ = ["Build", "check_loopback", "free_port", "render_command", "started"]


@dataclass(frozen=True)
class Build:
    """One side of the comparison: a label ("A"/"B" or a commit), its base URL and, if started, its log file."""

    label: str
    url: str
    log: Path | None = None


def check_loopback(url: str, *, source: str, field: str) -> str:
    """The URL, if it is an http(s) URL on a loopback address; InvalidInput naming the flag otherwise."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput(f"expected an http(s)://host:port URL, got {url!r}", source=source, field=field)
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise InvalidInput(f"both builds must run on loopback (127.0.0.1, ::1, localhost), got host {host!r}",
                           source=source, field=field)
    return url.rstrip("/")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def render_command(template: str, values: Mapping[str, str], *, field: str, need_port: bool = True) -> list[str]:
    """The argv of a command template: split like a shell would, then `{port}` / `{dir}` filled in each word (so a
    directory with spaces stays one argument). Unknown or missing placeholders are bad input."""
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise InvalidInput(f"cannot split the command: {exc}", source="command line", field=field) from None
    if not words:
        raise InvalidInput("the command is empty", source="command line", field=field)
    if need_port and "{port}" not in template:
        raise InvalidInput("the command must contain {port} (the loopback port the build should listen on)",
                           source="command line", field=field)
    try:
        return [w.format_map(values) for w in words]
    except (KeyError, ValueError, IndexError) as exc:
        allowed = ", ".join("{" + k + "}" for k in values)
        raise InvalidInput(f"unknown placeholder {exc} in {template!r}; allowed: {allowed}", source="command line",
                           field=field) from None


@contextmanager
def started(label: str, template: str, *, field: str, health_path: str, timeout: float,
            extra: Mapping[str, str] | None = None, cwd: Path | None = None) -> Iterator[Build]:
    """Start one build from its command template on a free loopback port; yield it once its health path answers
    200; stop its process group on exit."""
    port = free_port()
    argv = render_command(template, {"port": str(port), **(extra or {})}, field=field)
    log = Path(tempfile.mkstemp(prefix=f"loadwatch-ab-{label}-", suffix=".log")[1])
    with log.open("wb") as out:
        try:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=cwd)
        except OSError as exc:
            raise InvalidInput(f"cannot start {argv[0]!r}: {exc.strerror or exc}", source="command line",
                               field=field) from None
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, url + health_path, timeout=timeout, what=f"build {label} ({' '.join(argv)})", log_path=log)
        yield Build(label=label, url=url, log=log)
    finally:
        stop_group(proc, timeout=10.0)

