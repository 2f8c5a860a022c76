"""Resource monitor: the target, its database, the load generator and the host, sampled side by side
with the load.

Every `interval` each process group's selector is re-evaluated (processes come and go) and each member
is read once (`Process.oneshot()`); rates are COUNTER DELTAS between two readings divided by the
elapsed time, never `cpu_percent(interval=...)` (which sleeps inside the call and sees only part of
the time). Units:

- group `cpu_percent`: CPU seconds per wall second x 100, i.e. % of ONE core (2 busy cores = 200);
- host `cpu_percent`: busy share of ALL cores, 0-100 (as the seed and `top` report it);
- `rss_mb`, `mem_used_mb`: MiB; `*_bytes_per_s`: bytes per second; process `read/write_bytes` are
  storage I/O (`/proc/<pid>/io` read_bytes/write_bytes), not socket traffic;
- `t`: `time.time()` at the end of the sampled interval (epoch seconds, the clock of the load's
  per-second windows), `interval_s`: the interval's length.

A process that starts and exits between two samples (a short database backend, a CGI-style worker) is
still counted: when a member reaps it, its CPU shows in that member's children times, which are part of
the group's CPU (minus what was already counted while it was a member). Limits, stated: a short-lived
process's RSS, threads, fds and I/O are not seen; CPU of a child whose parent is outside the group (or
ignores SIGCHLD) is lost for its last interval; the host has no thread or fd counts (that would mean
reading every process on the machine each second).
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg

from loadwatch.errors import InvalidInput, LoadwatchError
from loadwatch.pipeline import counters

__all__ = [
    "Monitor",
    "MonitorResult",
    "ProcessGroup",
    "pids_by_pattern",
    "pids_by_port",
    "pids_from_pidfile",
    "postgres_pids",
    "with_children",
]

log = logging.getLogger("loadwatch")
MIB = 2**20
TOP_STATEMENTS = 25  # enough for every statement of a typical service; attribution judges each of them
_FINAL_SAMPLE_MIN_FRACTION = 0.25  # a last partial interval shorter than this share of `interval` is dropped
_PG_RETRY_S = 10.0  # after failing to find a database's server, wait this long before asking it again
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


# ---------------------------------------------------------------- process discovery


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
def _one_process_table() -> Iterator[None]:
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
        try:
            pid = int(Path(data_directory, "postmaster.pid").read_text().split()[0])
            if psutil.pid_exists(pid) and _is_postgres(psutil.Process(pid)):
                return pid
        except (OSError, ValueError, IndexError, psutil.Error):
            pass
    if backend:
        try:
            proc = psutil.Process(int(backend[0]))
            parent = proc.parent() if _is_postgres(proc) else None
            if parent is not None and _is_postgres(parent):
                return parent.pid
        except psutil.Error:
            pass
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
        try:
            if psutil.Process(entry.pid).create_time() == entry.create_time:
                return with_children([entry.pid])
        except psutil.Error:
            pass
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


# ---------------------------------------------------------------- sampling


@dataclass
class ProcessGroup:
    name: str  # "target" | "database" | "generator" | ...
    select: Callable[[], set[int]]  # re-evaluated at every sample


@dataclass
class _ProcReading:
    create_time: float
    cpu: float  # own user + system seconds
    reaped: float  # user + system seconds of its children that exited and were waited for
    read: int
    write: int
    ctx: int
    ppid: int


@dataclass
class _GroupState:
    procs: dict[int, psutil.Process] = field(default_factory=dict)
    last: dict[int, _ProcReading] = field(default_factory=dict)
    carry: float = 0.0  # CPU seconds subtracted for an exited member before its parent's reaped time showed it
    failed: bool = False


def _read(proc: psutil.Process) -> tuple[_ProcReading, int, int, int]:
    """(cumulative counters, rss bytes, threads, fds) of one process, in one pass over /proc/<pid>."""
    with proc.oneshot():
        ct = proc.cpu_times()
        rss = proc.memory_info().rss
        threads = proc.num_threads()
        try:
            fds = proc.num_fds() if hasattr(proc, "num_fds") else int(getattr(proc, "num_handles")())  # noqa: B009
        except psutil.AccessDenied:
            fds = 0
        try:
            io = proc.io_counters()
            rb, wb = int(io.read_bytes), int(io.write_bytes)
        except (psutil.AccessDenied, AttributeError):
            rb = wb = 0
        cs = proc.num_ctx_switches()
        reaped = getattr(ct, "children_user", 0.0) + getattr(ct, "children_system", 0.0)
        reading = _ProcReading(
            proc.create_time(), ct.user + ct.system, reaped, rb, wb, cs.voluntary + cs.involuntary, proc.ppid()
        )
    return reading, rss, threads, fds


def _rate(value: float, dt: float, digits: int = 1) -> float:
    return round(value / dt, digits) if dt > 0 else 0.0


def _select(group: ProcessGroup, state: _GroupState) -> set[int]:
    try:
        return {int(p) for p in group.select()}
    except (LoadwatchError, psutil.Error, OSError, ValueError, psycopg.Error) as exc:
        if not state.failed:  # once per group: a selector that keeps failing must not flood the log
            log.warning("monitor: cannot select the %s processes: %s", group.name, getattr(exc, "message", exc))
            state.failed = True
        return set()


_HAS_BOOTTIME = hasattr(time, "CLOCK_BOOTTIME") and os.path.isfile("/proc/self/stat")
_SLACK_S = 0.02  # process start times are counted in 10 ms clock ticks


def _start_clock() -> float:
    """Now, on the clock processes' start times can be compared with exactly. psutil's create_time is
    boot time (whole seconds) + start ticks, so against time.time() it is off by up to a second; on
    Linux compare ticks since boot with CLOCK_BOOTTIME instead."""
    return time.clock_gettime(time.CLOCK_BOOTTIME) if _HAS_BOOTTIME else time.time()


def _started_at(create_time: float) -> float:
    return create_time - psutil.boot_time() if _HAS_BOOTTIME else create_time


def _sample_group(group: ProcessGroup, state: _GroupState, prev_mark: float, dt: float) -> dict[str, Any]:
    pids = _select(group, state)
    current: dict[int, _ProcReading] = {}
    cpu = 0.0
    rss = threads = fds = rbytes = wbytes = ctx = 0
    for pid in sorted(pids):
        proc = state.procs.get(pid)
        try:
            if proc is None:
                proc = state.procs[pid] = psutil.Process(pid)
            reading, p_rss, p_threads, p_fds = _read(proc)
        except psutil.Error:  # gone (or never readable): it simply stops counting
            state.procs.pop(pid, None)
            continue
        before = state.last.get(pid)
        if before is None or before.create_time != reading.create_time or reading.cpu < before.cpu:
            # New to the group: if it started during this interval, all of its counters happened in it;
            # if it existed before but was not selected, what it did before is unknown: count from here.
            started_now = _started_at(reading.create_time) >= prev_mark - _SLACK_S
            before = _ProcReading(reading.create_time, 0.0, 0.0, 0, 0, 0, reading.ppid) if started_now else reading
        current[pid] = reading
        cpu += (reading.cpu - before.cpu) + max(reading.reaped - before.reaped, 0.0)
        rbytes += max(reading.read - before.read, 0)
        wbytes += max(reading.write - before.write, 0)
        ctx += max(reading.ctx - before.ctx, 0)
        rss += p_rss
        threads += p_threads
        fds += p_fds
    for pid in set(state.procs) - set(current):
        del state.procs[pid]
    # A member that exited and was reaped by another member shows up, whole, in that parent's reaped time;
    # take out what was already counted while it lived, so only its unseen last moments remain. This is
    # also how a process that lived less than one interval (a short database backend) is counted at all.
    for pid, gone in state.last.items():
        if pid not in current and gone.ppid in current:
            cpu -= gone.cpu + gone.reaped
    # We may have read the parent just before it reaped: settle at the next sample, then forget (a parent
    # that ignores SIGCHLD never accrues its children's time; the error stays within two samples).
    carried, state.carry = state.carry, 0.0
    cpu += carried
    if cpu < 0:
        state.carry = cpu if carried == 0.0 else 0.0
        cpu = 0.0
    state.last = current
    return {
        "group": group.name,
        "processes": len(current),
        "cpu_percent": round(100.0 * cpu / dt, 2) if dt > 0 else 0.0,
        "rss_mb": round(rss / MIB, 2),
        "threads": threads,
        "fds": fds,
        "read_bytes_per_s": _rate(rbytes, dt),
        "write_bytes_per_s": _rate(wbytes, dt),
        "ctx_switches_per_s": _rate(ctx, dt),
    }


@dataclass
class _HostReading:
    busy: float
    total: float
    net_sent: int
    net_recv: int
    disk_read: int | None
    disk_write: int | None
    ctx: int


def _host_reading() -> _HostReading:
    ct = psutil.cpu_times()
    total = sum(ct)
    idle = ct.idle + getattr(ct, "iowait", 0.0)
    net = psutil.net_io_counters(nowrap=True)
    try:
        disk = psutil.disk_io_counters(nowrap=True)
    except (OSError, RuntimeError):  # containers without /proc/diskstats
        disk = None
    return _HostReading(
        busy=total - idle,
        total=total,
        net_sent=int(net.bytes_sent) if net else 0,
        net_recv=int(net.bytes_recv) if net else 0,
        disk_read=int(disk.read_bytes) if disk else None,
        disk_write=int(disk.write_bytes) if disk else None,
        ctx=int(psutil.cpu_stats().ctx_switches),
    )


def _sample_host(prev: _HostReading, cur: _HostReading, dt: float) -> dict[str, Any]:
    vm = psutil.virtual_memory()
    dtotal = cur.total - prev.total

    def disk(a: int | None, b: int | None) -> float | None:
        return _rate(max(b - a, 0), dt) if a is not None and b is not None else None

    d_read, d_write = disk(prev.disk_read, cur.disk_read), disk(prev.disk_write, cur.disk_write)
    used_mb = round((vm.total - vm.available) / MIB, 1)
    return {
        "group": "host",
        "processes": len(psutil.pids()),
        "cpu_percent": round(100.0 * max(cur.busy - prev.busy, 0.0) / dtotal, 2) if dtotal > 0 else 0.0,
        "rss_mb": used_mb,  # the host's resident memory in use (total - available)
        "threads": None,
        "fds": None,
        "read_bytes_per_s": d_read,
        "write_bytes_per_s": d_write,
        "ctx_switches_per_s": _rate(max(cur.ctx - prev.ctx, 0), dt),
        "mem_used_mb": used_mb,
        "mem_percent": round(vm.percent, 2),
        "net_sent_bytes_per_s": _rate(max(cur.net_sent - prev.net_sent, 0), dt),
        "net_recv_bytes_per_s": _rate(max(cur.net_recv - prev.net_recv, 0), dt),
        "disk_read_bytes_per_s": d_read,
        "disk_write_bytes_per_s": d_write,
    }


# ---------------------------------------------------------------- result


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"avg": None, "max": None}
    return {"avg": round(sum(values) / len(values), 2), "max": round(max(values), 2)}


def _weighted_avg(rows: list[dict[str, Any]], key: str) -> float | None:
    """Time-weighted mean of a rate (the last partial interval weighs what it lasted)."""
    pairs = [(float(r[key]), float(r.get("interval_s") or 0.0)) for r in rows if r.get(key) is not None]
    total = sum(w for _, w in pairs)
    if not pairs or total <= 0:
        return None
    return round(sum(v * w for v, w in pairs) / total, 2)


def _integral_mb(rows: list[dict[str, Any]], key: str) -> float | None:
    pairs = [(float(r[key]), float(r.get("interval_s") or 0.0)) for r in rows if r.get(key) is not None]
    if not pairs:
        return None
    return round(sum(v * w for v, w in pairs) / MIB, 3)


@dataclass
class MonitorResult:
    samples: list[dict[str, Any]] = field(default_factory=list)
    database: dict[str, Any] = field(default_factory=dict)
    overhead: dict[str, Any] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The summary.json `resources` object. Averages and maxima use only the samples in which the group
        had processes (a target that died mid-run is not averaged with zeros); `empty_samples` counts the
        others. cpu_percent avg and ctx_switches_per_s avg are time-weighted. `database` holds both the
        database group's process figures (when there is such a group) and the pg_stat_database window
        deltas + `top_statements`."""
        out: dict[str, Any] = {}
        names = list(dict.fromkeys([*self.groups, *(str(s["group"]) for s in self.samples)]))
        for name in names:
            rows = [s for s in self.samples if s["group"] == name]
            live = [s for s in rows if s.get("processes")] if name != "host" else rows
            block: dict[str, Any] = {
                "samples": len(live),
                "empty_samples": len(rows) - len(live),
                "processes": {"max": max((int(s.get("processes") or 0) for s in rows), default=0)},
                "cpu_percent": {
                    "avg": _weighted_avg(live, "cpu_percent"),
                    "max": _stats([float(s["cpu_percent"]) for s in live])["max"],
                },
                "rss_mb": _stats([float(s["rss_mb"]) for s in live if s.get("rss_mb") is not None]),
                "threads": {
                    "max": max((int(s["threads"]) for s in live if s.get("threads") is not None), default=None)
                },
                "fds": {"max": max((int(s["fds"]) for s in live if s.get("fds") is not None), default=None)},
                "read_mb": _integral_mb(live, "read_bytes_per_s"),
                "write_mb": _integral_mb(live, "write_bytes_per_s"),
                "ctx_switches_per_s": {"avg": _weighted_avg(live, "ctx_switches_per_s")},
            }
            if name == "host":
                block.update(
                    {
                        "mem_used_mb": _stats([float(s["mem_used_mb"]) for s in live]),
                        "mem_percent": _stats([float(s["mem_percent"]) for s in live]),
                        "net_sent_mb": _integral_mb(live, "net_sent_bytes_per_s"),
                        "net_recv_mb": _integral_mb(live, "net_recv_bytes_per_s"),
                        "disk_read_mb": _integral_mb(live, "disk_read_bytes_per_s"),
                        "disk_write_mb": _integral_mb(live, "disk_write_bytes_per_s"),
                    }
                )
            out[name] = block
        # The database's processes (group "database") and its counters share one block: the keys differ.
        out["database"] = {**out.get("database", {}), **self.database}
        out["monitor_overhead_percent"] = self.overhead.get("percent_of_core")
        return out


# ---------------------------------------------------------------- the monitor


class Monitor:
    """Samples `groups` (and the host) every `interval` seconds until stopped; see the module docstring."""

    def __init__(
        self,
        groups: Sequence[ProcessGroup],
        *,
        interval: float = 1.0,
        database_url: str | None = None,
        host: bool = True,
    ) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not math.isfinite(interval):
            raise InvalidInput("a number of seconds", field="monitor.interval")
        if interval <= 0:
            raise InvalidInput("an interval greater than 0 seconds", field="monitor.interval")
        names = [g.name for g in groups]
        if len(set(names)) != len(names) or (host and "host" in names):
            raise InvalidInput("distinct process group names (and not 'host', which is the machine)", field="groups")
        self.groups = list(groups)
        self.interval = float(interval)
        self.database_url = database_url
        self.host = host

    def _db_read(self) -> dict[str, Any] | None:
        if not self.database_url:
            return None
        try:
            return {
                "counters": counters.pg_database_counters(self.database_url),
                "statements": counters.pg_statement_snapshot(self.database_url),
                "at": time.time(),
            }
        except (LoadwatchError, psycopg.Error, OSError) as exc:
            log.warning("monitor: database counters unavailable: %s", getattr(exc, "message", exc))
            return {"error": str(getattr(exc, "message", exc))}

    @staticmethod
    def _db_window(pre: dict[str, Any] | None, post: dict[str, Any] | None) -> dict[str, Any]:
        if pre is None and post is None:
            return {}
        if not pre or not post or "error" in pre or "error" in post:
            err = (pre or {}).get("error") or (post or {}).get("error") or "not read"
            return {"error": err, "top_statements": []}
        d = counters.counter_deltas(pre["counters"], post["counters"])
        out: dict[str, Any] = {k: d["delta"].get(k) for k in counters.DB_COUNTERS}
        out["blks_hit_rate_window"] = d["delta"].get("blks_hit_rate_window")
        out["window_s"] = round(post["at"] - pre["at"], 3)
        if d["resets"]:
            out["resets"] = d["resets"]
        s_pre, s_post = pre.get("statements"), post.get("statements")
        if s_post is None:
            out["top_statements"] = []
            return out
        # loadwatch's own reads (these snapshots, the counters) are left out: they are not the target's work
        rows = [r for r in counters.statement_deltas(s_pre or {}, s_post, limit=counters.SNAPSHOT_ROWS)
                if not counters.is_own_statement(r.get("query"))]
        out["top_statements"] = rows[:TOP_STATEMENTS]
        out["statement_totals"] = counters.statement_totals(rows)  # all of them: database time per request
        return out

    def run(self, stop: threading.Event, *, max_duration: float) -> MonitorResult:
        """Sample until `stop` is set (returns within one interval, after a last partial sample and the
        closing database read) or until `max_duration` seconds have passed. Never raises for processes
        that vanish or a database that goes away."""
        if isinstance(max_duration, bool) or not isinstance(max_duration, int | float) or not max_duration > 0:
            raise InvalidInput("a positive number of seconds", field="max_duration")
        cpu0, mono0 = time.thread_time(), time.monotonic()
        result = MonitorResult(groups=[*(g.name for g in self.groups), *(["host"] if self.host else [])])
        deadline = mono0 + float(max_duration)
        db_pre = self._db_read()
        states = {g.name: _GroupState() for g in self.groups}
        host_prev = _host_reading() if self.host else None
        last_mono, last_mark = time.monotonic(), _start_clock()
        with _one_process_table():  # prime: the first sample's deltas start here
            for g in self.groups:
                _sample_group(g, states[g.name], last_mark, 0.0)
        next_at = last_mono + self.interval

        def sample(now_mono: float) -> None:
            nonlocal host_prev, last_mono, last_mark
            dt = now_mono - last_mono
            wall, mark = time.time(), _start_clock()
            meta = {"t": round(wall, 3), "interval_s": round(dt, 4)}
            with _one_process_table():
                for g in self.groups:
                    result.samples.append({**meta, **_sample_group(g, states[g.name], last_mark, dt)})
            if host_prev is not None:
                cur = _host_reading()
                result.samples.append({**meta, **_sample_host(host_prev, cur, dt)})
                host_prev = cur
            last_mono, last_mark = now_mono, mark

        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if stop.wait(min(next_at, deadline) - now):
                break
            now = time.monotonic()
            if now >= next_at:
                sample(now)
                # A late tick (machine busy) is not made up by a burst: the schedule moves on.
                next_at += self.interval * max(1, math.ceil((now - next_at) / self.interval))
        now = time.monotonic()
        if now - last_mono >= _FINAL_SAMPLE_MIN_FRACTION * self.interval:
            sample(now)
        result.database = self._db_window(db_pre, self._db_read())
        cpu, wall = time.thread_time() - cpu0, time.monotonic() - mono0
        result.overhead = {
            "cpu_seconds": round(cpu, 4),
            "wall_seconds": round(wall, 3),
            "percent_of_core": round(100.0 * cpu / wall, 3) if wall > 0 else None,
            "interval_s": self.interval,
        }
        return result
