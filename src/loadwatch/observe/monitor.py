"""Resource monitor: the target, its database, the load generator and the host, sampled side by side
with the load. Which processes make up each group is discovery.py's answer (a selector per group).

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

With a target database that has pg_stat_statements, every sample also reads the calls of its statements (one query
over one connection kept for the run, `queryid, calls` only, at most postgres_stats.INTERVAL_ROWS rows): the top
statements' calls in every interval (`statement_intervals`), from which the attribution tells whose statement is
whose within one night (docs/METHOD.md §9). That connection's backend is left out of the process groups; its CPU is
reported (`backend_cpu_s`) beside the mean duration of a reading (`read_ms`).

A process that starts and exits between two samples (a short database backend, a CGI-style worker) is
still counted: when a member reaps it, its CPU shows in that member's children times, which are part of
the group's CPU (minus what was already counted while it was a member). Limits, stated: a short-lived
process's RSS, threads, fds and I/O are not seen; CPU of a child whose parent is outside the group (or
ignores SIGCHLD) is lost for its last interval; the host has no thread or fd counts (that would mean
reading every process on the machine each second).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import psutil
import psycopg

from loadwatch.errors import InvalidInput, LoadwatchError
from loadwatch.observations import Resources, ResourceSample, StatementIntervals
from loadwatch.observe import postgres_stats
from loadwatch.observe.deltas import counter_deltas
from loadwatch.observe.discovery import one_process_table
from loadwatch.statements import is_own_statement

__all__ = ["Monitor", "MonitorResult", "ProcessGroup"]

log = logging.getLogger("loadwatch")
MIB = 2**20
TOP_STATEMENTS = 25  # enough for every statement of a typical service; attribution judges each of them
_FINAL_SAMPLE_MIN_FRACTION = 0.25  # a last partial interval shorter than this share of `interval` is dropped


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


def _select(group: ProcessGroup, state: _GroupState, exclude: frozenset[int] = frozenset()) -> set[int]:
    try:
        return {int(p) for p in group.select()} - exclude
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


def _sample_group(group: ProcessGroup, state: _GroupState, prev_mark: float, dt: float,
                  exclude: frozenset[int] = frozenset()) -> dict[str, Any]:
    """`exclude`: loadwatch's own processes (the backend of its per-interval statement reading)."""
    pids = _select(group, state, exclude)
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


def _local_postgres(pid: int | None) -> psutil.Process | None:
    """The server process `pid` names, when it runs on this machine (a remote server's PID may be any process here)."""
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        return proc if "postgres" in proc.name().lower() else None
    except psutil.Error:
        return None


@dataclass
class _CallReadings:
    """The target's statement calls in every monitor interval (METHOD.md §9, whose statement is it): each reading of
    StatementCalls diffed with the one before, kept as (interval end, its length, calls per queryid that ran)."""

    source: postgres_stats.StatementCalls
    last: dict[str, int] | None = None
    last_at: float = 0.0
    rows: list[tuple[float, float, dict[str, int]]] = field(default_factory=list)
    reads: int = 0
    read_s: float = 0.0
    backend_cpu_s: float | None = None

    @property
    def own_pids(self) -> frozenset[int]:
        proc = _local_postgres(self.source.backend_pid)
        return frozenset({proc.pid}) if proc is not None else frozenset()

    def read(self) -> None:
        t0 = time.time()
        cur = self.source.read()
        t1 = time.time()
        if cur is None:
            return
        self.reads += 1
        self.read_s += t1 - t0
        at = (t0 + t1) / 2  # the counters were read in between
        if self.last is not None:
            # a statement the previous reading did not hold is new when that reading held every statement; else it
            # was beyond the bounded rows and its calls before are unknown: counted from here
            complete = len(self.last) < postgres_stats.INTERVAL_ROWS
            calls: dict[str, int] = {}
            for qid, n in cur.items():
                before = self.last.get(qid)
                d = (n - before if n >= before else n) if before is not None else n if complete else 0
                if d > 0:
                    calls[qid] = d
            self.rows.append((round(at, 3), round(at - self.last_at, 4), calls))
        self.last, self.last_at = cur, at

    def finish(self) -> None:
        proc = _local_postgres(self.source.backend_pid)
        if proc is not None:
            # a backend gone or not ours to read leaves backend_cpu_s None: its cost is then unknown, never 0
            with contextlib.suppress(psutil.Error):
                ct = proc.cpu_times()
                self.backend_cpu_s = round(ct.user + ct.system, 3)
        self.source.close()

    def block(self, qids: Sequence[str]) -> StatementIntervals:
        """The columns of the statements `qids` (the window's top statements, loadwatch's own left out)."""
        out: StatementIntervals = {
            "t": [r[0] for r in self.rows],
            "interval_s": [r[1] for r in self.rows],
            "calls": {q: [r[2].get(q, 0) for r in self.rows] for q in qids},
            "reads": self.reads,
            "read_ms": round(1000.0 * self.read_s / self.reads, 3) if self.reads else None,
            "backend_cpu_s": self.backend_cpu_s,
        }
        if self.source.error:
            out["error"] = self.source.error
        return out


# ---------------------------------------------------------------- result


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"avg": None, "max": None}
    return {"avg": round(sum(values) / len(values), 2), "max": round(max(values), 2)}


def _weighted_avg(rows: Sequence[Mapping[str, Any]], key: str) -> float | None:
    """Time-weighted mean of a rate (the last partial interval weighs what it lasted)."""
    pairs = [(float(r[key]), float(r.get("interval_s") or 0.0)) for r in rows if r.get(key) is not None]
    total = sum(w for _, w in pairs)
    if not pairs or total <= 0:
        return None
    return round(sum(v * w for v, w in pairs) / total, 2)


def _integral_mb(rows: Sequence[Mapping[str, Any]], key: str) -> float | None:
    pairs = [(float(r[key]), float(r.get("interval_s") or 0.0)) for r in rows if r.get(key) is not None]
    if not pairs:
        return None
    return round(sum(v * w for v, w in pairs) / MIB, 3)


@dataclass
class MonitorResult:
    samples: list[ResourceSample] = field(default_factory=list)
    database: dict[str, Any] = field(default_factory=dict)
    overhead: dict[str, Any] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    # the top statements' calls in every interval (None without a database or pg_stat_statements); the chain adds
    # the load's requests in the same intervals (loadwatch.pipeline.ownership.align_requests)
    statement_intervals: StatementIntervals | None = None

    def summary(self) -> Resources:
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
                    "max": max((int(n) for s in live if (n := s.get("threads")) is not None), default=None)
                },
                "fds": {"max": max((int(n) for s in live if (n := s.get("fds")) is not None), default=None)},
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
        if self.statement_intervals is not None:
            out["database"]["statement_intervals"] = self.statement_intervals
        out["monitor_overhead_percent"] = self.overhead.get("percent_of_core")
        return cast(Resources, out)


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
                "counters": postgres_stats.pg_database_counters(self.database_url),
                "statements": postgres_stats.pg_statement_snapshot(self.database_url),
                "at": time.time(),
            }
        except (LoadwatchError, psycopg.Error, OSError) as exc:
            log.warning("monitor: database counters unavailable: %s", getattr(exc, "message", exc))
            return {"error": str(getattr(exc, "message", exc))}

    def _first_wait(self) -> float:
        """Seconds to the first sample: on a whole multiple of the interval of wall-clock time (with 1 s, on the whole
        seconds where the nightly load's windows begin: engine.run_load `whole_second`), at least half an interval
        away. Later samples keep that phase."""
        now = time.time()
        wait = math.ceil(now / self.interval) * self.interval - now
        return wait + self.interval if wait < 0.5 * self.interval else wait

    def _call_readings(self, pre: dict[str, Any] | None) -> _CallReadings | None:
        """The per-interval statement calls, when the opening snapshot found pg_stat_statements."""
        if not self.database_url or not pre or pre.get("statements") is None:
            return None
        source = postgres_stats.StatementCalls(self.database_url)
        return _CallReadings(source) if source.open() else None

    @staticmethod
    def _db_window(pre: dict[str, Any] | None, post: dict[str, Any] | None) -> dict[str, Any]:
        if pre is None and post is None:
            return {}
        if not pre or not post or "error" in pre or "error" in post:
            err = (pre or {}).get("error") or (post or {}).get("error") or "not read"
            return {"error": err, "top_statements": []}
        d = counter_deltas(pre["counters"], post["counters"])
        out: dict[str, Any] = {k: d["delta"].get(k) for k in postgres_stats.DB_COUNTERS}
        out["blks_hit_rate_window"] = d["delta"].get("blks_hit_rate_window")
        out["window_s"] = round(post["at"] - pre["at"], 3)
        if d["resets"]:
            out["resets"] = d["resets"]
        s_pre, s_post = pre.get("statements"), post.get("statements")
        if s_post is None:
            out["top_statements"] = []
            return out
        # loadwatch's own reads (these snapshots, the counters) are left out: they are not the target's work
        rows = [r for r in postgres_stats.statement_deltas(s_pre or {}, s_post, limit=postgres_stats.SNAPSHOT_ROWS)
                if not is_own_statement(r.get("query"))]
        out["top_statements"] = rows[:TOP_STATEMENTS]
        out["statement_totals"] = postgres_stats.statement_totals(rows)  # all of them: database time per request
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
        calls = self._call_readings(db_pre)
        own = calls.own_pids if calls is not None else frozenset()
        states = {g.name: _GroupState() for g in self.groups}
        host_prev = _host_reading() if self.host else None
        last_mono, last_mark = time.monotonic(), _start_clock()
        with one_process_table():  # prime: the first sample's deltas start here
            for g in self.groups:
                _sample_group(g, states[g.name], last_mark, 0.0, own)
        if calls is not None:
            calls.read()
        next_at = time.monotonic() + self._first_wait()

        def sample(now_mono: float) -> None:
            nonlocal host_prev, last_mono, last_mark
            if calls is not None:  # first, at the tick: where the load's seconds end
                calls.read()
            dt = now_mono - last_mono
            wall, mark = time.time(), _start_clock()
            meta = {"t": round(wall, 3), "interval_s": round(dt, 4)}
            with one_process_table():
                for g in self.groups:
                    result.samples.append(cast(ResourceSample, {**meta, **_sample_group(g, states[g.name],
                                                                                           last_mark, dt, own)}))
            if host_prev is not None:
                cur = _host_reading()
                result.samples.append(cast(ResourceSample, {**meta, **_sample_host(host_prev, cur, dt)}))
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
        if calls is not None:
            calls.finish()
        result.database = self._db_window(db_pre, self._db_read())
        if calls is not None and "top_statements" in result.database:
            result.statement_intervals = calls.block([str(r["queryid"]) for r in result.database["top_statements"]])
        cpu, wall = time.thread_time() - cpu0, time.monotonic() - mono0
        result.overhead = {
            "cpu_seconds": round(cpu, 4),
            "wall_seconds": round(wall, 3),
            "percent_of_core": round(100.0 * cpu / wall, 3) if wall > 0 else None,
            "interval_s": self.interval,
        }
        return result
