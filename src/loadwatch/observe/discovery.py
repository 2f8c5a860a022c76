"""Process discovery: which processes belong to the target and its database, found again at every monitor sample
(processes come and go). By listening port (/proc/net/tcp{,6} and the fds that hold the socket), PID file,
command-line pattern, descendants (`with_children`), and a local Postgres server's postmaster and backends
(`postgres_pids`). The monitor (monitor.py) samples what these return; targets.py picks the selectors for a run.

Both the port and the postmaster lookups are cached (the monitor asks every second, and a full look grows with
the number of connections, or opens a database connection of its own); each cache says when it looks again."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg

from loadwatch.errors import InvalidInput

__all__ = [
    "database_backends",
    "one_process_table",
    "pids_by_pattern",
    "pids_by_port",
    "pids_from_pidfile",
    "postgres_pids",
    "with_children",
]

log = logging.getLogger("loadwatch")
_PG_RETRY_S = 10.0  # after failing to find a database's server, wait this long before asking it again
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


def _listening_inodes(port: int) -> set[int] | None:
    """Inodes of TCP sockets listening on `port` (Linux /proc/net/tcp{,6}); None when not readable."""
    inodes: set[int] = set()
    found_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        found_table = True
        for line in lines:
            parts = line.split()
            if len(parts) < 10 or parts[3] != _LISTEN:
                continue
            if int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(int(parts[9]))
    return inodes if found_table else None


def _pids_holding(inodes: set[int]) -> dict[int, str]:
    """{pid: the /proc fd path through which it holds one of these socket inodes} (scans every fd)."""
    wanted = {f"socket:[{i}]" for i in inodes}
    found: dict[int, str] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fds = os.scandir(f"/proc/{entry.name}/fd")
        except OSError:
            continue
        with fds:
            for fd in fds:
                try:
                    if os.readlink(fd.path) in wanted:
                        found[int(entry.name)] = fd.path
                        break
                except OSError:
                    continue
    return found


@dataclass
class _PortEntry:
    at: float
    holders: dict[int, tuple[str, str]]  # pid -> (/proc fd path, "socket:[inode]")


_PORT_REFRESH_S = 10.0  # a full look, so a listener added next to a cached one is found within this time
_port_cache: dict[int, _PortEntry] = {}
_port_lock = threading.Lock()


def _still_holding(entry: _PortEntry) -> bool:
    for path, link in entry.holders.values():
        try:
            if os.readlink(path) != link:
                return False
        except OSError:
            return False
    return True


def pids_by_port(port: int) -> set[int]:
    """Processes listening on TCP `port` (any address, IPv4 or IPv6).

    On Linux: the listening sockets' inodes from /proc/net/tcp{,6}, then the processes holding them. The
    monitor asks every second, and both reads grow with the number of connections, so the answer is
    kept while every holder still has the same socket on the same fd (one readlink each), refreshed
    fully every _PORT_REFRESH_S."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidInput("a TCP port between 1 and 65535", field="port")
    now = time.monotonic()
    with _port_lock:
        cached = _port_cache.get(port)
    if cached is not None and now - cached.at < _PORT_REFRESH_S and cached.holders and _still_holding(cached):
        return set(cached.holders)
    inodes = _listening_inodes(port)
    if inodes is None:  # not Linux (or /proc hidden): psutil's portable, slower way
        try:
            conns = psutil.net_connections(kind="tcp")
        except (psutil.Error, OSError):
            return set()
        return {c.pid for c in conns if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid}
    found = _pids_holding(inodes) if inodes else {}
    holders: dict[int, tuple[str, str]] = {}
    for pid, path in found.items():
        try:
            holders[pid] = (path, os.readlink(path))
        except OSError:
            continue
    with _port_lock:
        _port_cache[port] = _PortEntry(now, holders)
    return set(holders)


def pids_from_pidfile(path: Path) -> set[int]:
    """The PID in `path` (first token), if that process is alive. A missing or empty file is an empty
    set (the target may not have written it yet); content that is not a PID is InvalidInput."""
    try:
        text = Path(path).read_text(errors="replace").strip()
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise InvalidInput(f"a readable PID file ({exc.strerror})", source=str(path)) from exc
    if not text:
        return set()
    token = text.split()[0]
    if not token.isdigit() or int(token) <= 0:
        raise InvalidInput(f"a process ID (a positive integer) as the first word, got {token[:40]!r}", source=str(path))
    pid = int(token)
    return {pid} if psutil.pid_exists(pid) else set()


def pids_by_pattern(pattern: str) -> set[int]:
    """Processes whose command line (arguments joined by spaces) matches the regular expression
    `pattern` (re.search), excluding this process. Processes without a command line (kernel threads,
    zombies) match on their name."""
    try:
        rx = re.compile(pattern)
    except (re.error, TypeError) as exc:
        raise InvalidInput(f"a valid regular expression ({exc})", field="process_pattern") from exc
    me = os.getpid()
    found: set[int] = set()
    for proc in psutil.process_iter(["cmdline", "name"]):
        if proc.pid == me:
            continue
        cmd = " ".join(proc.info.get("cmdline") or []) or (proc.info.get("name") or "")
        if cmd and rx.search(cmd):
            found.add(proc.pid)
    return found


_pass = threading.local()  # within one sample, every group's with_children shares one process-table scan


@contextmanager
def one_process_table() -> Iterator[None]:
    """Within the block (one monitor sample), every `with_children` call shares one scan of the process table."""
    _pass.active, _pass.table = True, None
    try:
        yield
    finally:
        _pass.active, _pass.table = False, None


def _children_map_for_call() -> dict[int, list[int]]:
    if not getattr(_pass, "active", False):
        return _children_map()
    if _pass.table is None:
        _pass.table = _children_map()
    table: dict[int, list[int]] = _pass.table
    return table


def _children_map() -> dict[int, list[int]]:
    """parent PID -> child PIDs. On Linux straight from /proc/<pid>/stat: about 5x cheaper than
    psutil.process_iter, and the monitor needs it for every group every second."""
    kids: dict[int, list[int]] = {}
    if os.path.isfile("/proc/self/stat"):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
                # the command name (field 2) may contain spaces and parentheses: parse after the last ')'
                ppid = int(stat[stat.rindex(b")") + 2 :].split(None, 2)[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(entry.name))
        return kids
    for proc in psutil.process_iter(["ppid"]):
        parent = proc.info.get("ppid")
        if parent is not None:
            kids.setdefault(parent, []).append(proc.pid)
    return kids


def with_children(pids: Iterable[int]) -> set[int]:
    """`pids` that are alive plus all their descendants (one pass over the process table; inside a
    monitor sample, one pass shared by all the groups)."""
    roots = {p for p in pids if psutil.pid_exists(p)}
    if not roots:
        return set()
    kids = _children_map_for_call()
    out, todo = set(roots), list(roots)
    while todo:
        for child in kids.get(todo.pop(), ()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _is_postgres(proc: psutil.Process) -> bool:
    try:
        name = proc.name().lower()
        return "postgres" in name or "postmaster" in name
    except psutil.Error:
        return False


def _find_postmaster(database_url: str) -> int | None:
    """The local postmaster's PID: from data_directory/postmaster.pid (needs superuser or
    pg_read_all_settings), else the parent of our own backend. None for a server on another host or
    in another PID namespace (the PID found there is not a postgres process here)."""
    with psycopg.connect(database_url, autocommit=True, connect_timeout=3) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()
        try:
            row = conn.execute("SELECT current_setting('data_directory')").fetchone()
            data_directory = row[0] if row else None
        except psycopg.Error:
            data_directory = None
    if data_directory:
        with suppress(OSError, ValueError, IndexError, psutil.Error):
            pid = int(Path(data_directory, "postmaster.pid").read_text().split()[0])
            if psutil.pid_exists(pid) and _is_postgres(psutil.Process(pid)):
                return pid
    if backend:
        with suppress(psutil.Error):
            proc = psutil.Process(int(backend[0]))
            parent = proc.parent() if _is_postgres(proc) else None
            if parent is not None and _is_postgres(parent):
                return parent.pid
    return None


@dataclass
class _PostmasterEntry:
    pid: int | None
    create_time: float | None
    checked: float


_pg_cache: dict[str, _PostmasterEntry] = {}
_pg_lock = threading.Lock()


def postgres_pids(database_url: str) -> set[int]:
    """The server's postmaster and all its children (backends, checkpointer, walwriter, ...), when the
    server runs on this machine; an empty set otherwise or when it cannot be reached.

    The postmaster is found once per URL and kept while it lives (the monitor asks every second; a
    connection per second would itself show up in the database group). A failed lookup is retried
    after _PG_RETRY_S, so a database that went away costs nothing per sample."""
    now = time.monotonic()
    with _pg_lock:
        entry = _pg_cache.get(database_url)
    if entry is not None and entry.pid is not None:
        with suppress(psutil.Error):
            if psutil.Process(entry.pid).create_time() == entry.create_time:
                return with_children([entry.pid])
        entry = None
    if entry is not None and now - entry.checked < _PG_RETRY_S:
        return set()
    try:
        pid = _find_postmaster(database_url)
        created = psutil.Process(pid).create_time() if pid else None
    except (psycopg.Error, psutil.Error, OSError) as exc:
        log.debug("postgres processes not found: %s", exc)
        pid, created = None, None
    with _pg_lock:
        _pg_cache[database_url] = _PostmasterEntry(pid, created, now)
    return with_children([pid]) if pid else set()


def database_backends(database_url: str) -> set[int]:
    """The backends connected to this URL's database, when its server runs on this machine: the processes that
    serve the target's requests, without the server's background workers and the backends of its other databases
    (which wait for a CPU too, on a busy machine, without delaying a request). Empty when the server is elsewhere
    or cannot be reached."""
    server = postgres_pids(database_url)
    if not server:
        return set()
    try:
        with psycopg.connect(database_url, autocommit=True, connect_timeout=3) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                " AND pid <> pg_backend_pid()").fetchall()
    except psycopg.Error as exc:
        log.debug("database backends not found: %s", exc)
        return set()
    return {int(r[0]) for r in rows} & server
