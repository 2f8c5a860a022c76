"""Counters read before and after the load, and what makes two runs comparable.

- the environment fingerprint (and its hash, which decides which history a run is compared with);
- the target's stats endpoint and version, flattened to numeric counters and diffed over the window,
  so a cache hit rate is Δhits / Δlookups of *this* run, not of the process's lifetime;
- an idle check of the target before load;
- the target database's `pg_stat_database` row and `pg_stat_statements` (snapshot and window deltas).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import platform
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
import psycopg

from loadwatch.errors import InfrastructureError, TargetUnavailable
from loadwatch.urls import redact_url

__all__ = [
    "DB_COUNTERS",
    "PACKAGES",
    "counter_deltas",
    "environment_fingerprint",
    "fetch_stats",
    "fetch_version",
    "flatten_numeric",
    "idle_check",
    "pg_database_counters",
    "pg_statement_snapshot",
    "pg_top_statements",
    "statement_deltas",
    "statement_totals",
]

log = logging.getLogger("loadwatch")

PACKAGES = ("loadwatch", "aiohttp", "httptools", "uvloop", "psycopg", "sqlalchemy", "prefect", "psutil")
# Packages on the measured path (the generator's HTTP stack): their major version is part of the hash.
HASHED_PACKAGES = ("loadwatch", "aiohttp", "httptools", "uvloop")
DB_COUNTERS = (
    "xact_commit",
    "xact_rollback",
    "blks_hit",
    "blks_read",
    "tup_returned",
    "tup_fetched",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
    "deadlocks",
    "temp_files",
    "temp_bytes",
    "conflicts",
    "blk_read_time",
    "blk_write_time",
)
MAX_BODY = 10 * 1024 * 1024  # a stats endpoint larger than this is not a stats endpoint
# long enough to reach a statement's FROM and WHERE past a long select list (attribution folds the list and shows
# those); 25 statements of a run stay under 25 KB of summary
QUERY_TEXT_CHARS = 1000
SNAPSHOT_ROWS = 5000  # pg_stat_statements.max defaults to 5000
_PG_TIMEOUT_S = 3

# Ratios derived over the window: (counter suffix, partner suffix). `blks_hit`/`blks_read` is Postgres'.
_RATIO_PAIRS = (("hits", "misses"), ("hit", "miss"), ("hit", "read"))


# ---------------------------------------------------------------- environment


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _major(version: str | None) -> str | None:
    """`1.2.3` -> `1`; `0.21.4` -> `0.21` (under 1.0 a minor bump is the breaking one)."""
    if not version:
        return None
    parts = re.findall(r"\d+", version)
    if not parts:
        return version
    return parts[0] if parts[0] != "0" or len(parts) < 2 else f"0.{parts[1]}"


def _memory_class(total_bytes: int) -> str:
    """A power-of-two size class: 23.4 and 24 GiB (same VM type, different reservations) compare."""
    gib = total_bytes / 2**30
    return f">={2 ** int(math.log2(gib))}GiB" if gib >= 1 else "<1GiB"


def environment_fingerprint(*, plan_hash: str, target_version: str | None = None) -> tuple[dict[str, Any], str]:
    """(fingerprint, hash). The fingerprint records everything about where the run happened; the hash
    covers only what changes the numbers, so runs with the same hash may be compared:

    - in the hash: CPU model, usable CPU count (affinity), memory size class (power of two), OS family,
      Python major.minor, major versions of the packages on the measured path (loadwatch, aiohttp,
      httptools, uvloop), the target's version and the plan hash.
    - recorded but not hashed: hostname (CI runners get new names for identical hardware; hashing it
      would reset the history every time a runner is replaced), kernel release and distribution patch
      levels, exact package versions, and store/orchestration packages (psycopg, sqlalchemy, prefect),
      which are not on the path that makes a request. A change there shows in the record, not as a
      new baseline.
    """
    vm = psutil.virtual_memory()
    packages = {name: _version(name) for name in PACKAGES}
    python = platform.python_version()
    fingerprint: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "cpu_usable": _usable_cpus(),
        "memory_total_mb": round(vm.total / 2**20),
        "memory_class": _memory_class(vm.total),
        "os": platform.system(),
        "os_name": _os_name(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "python": python,
        "python_implementation": platform.python_implementation(),
        "packages": packages,
        "target_version": target_version,
        "plan_hash": plan_hash,
    }
    hashed = {
        "cpu_model": fingerprint["cpu_model"],
        "cpu_usable": fingerprint["cpu_usable"],
        "memory_class": fingerprint["memory_class"],
        "os": fingerprint["os"],
        "machine": fingerprint["machine"],
        "python": ".".join(python.split(".")[:2]),
        "packages": {name: _major(packages[name]) for name in HASHED_PACKAGES},
        "target_version": target_version,
        "plan_hash": plan_hash,
    }
    digest = hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:16]
    fingerprint["hashed_fields"] = sorted(hashed)
    return fingerprint, digest


# ---------------------------------------------------------------- target endpoints


def _get(url: str, timeout: float) -> tuple[bytes, str]:
    if not url.startswith(("http://", "https://")):
        raise TargetUnavailable(f"{url}: only http:// and https:// URLs can be polled")
    # No proxies: the target is usually on loopback and an inherited http_proxy must not intercept it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "loadwatch"})
    try:
        with opener.open(req, timeout=timeout) as resp:
            body = resp.read(MAX_BODY + 1)
            ctype = resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        raise TargetUnavailable(f"GET {url}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TargetUnavailable(f"GET {url}: {reason}") from exc
    if len(body) > MAX_BODY:
        raise TargetUnavailable(f"GET {url}: answer larger than {MAX_BODY // 2**20} MiB")
    return body, ctype


def fetch_stats(url: str, *, timeout: float = 5.0) -> dict[str, Any]:
    """GET the target's stats endpoint; its JSON object. TargetUnavailable when it cannot be read."""
    body, _ = _get(url, timeout)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TargetUnavailable(f"GET {url}: the answer is not JSON") from exc
    if not isinstance(doc, dict):
        raise TargetUnavailable(f"GET {url}: expected a JSON object, got {type(doc).__name__}")
    return doc


_VERSION_KEYS = ("version", "git_sha", "commit", "sha", "revision", "build")


def fetch_version(url: str, *, timeout: float = 5.0) -> str | None:
    """The target's version: a JSON answer's `version`/`git_sha`/`commit`/... field, or the first line of
    a text answer (at most 100 characters). None (with a warning) when it cannot be read."""
    try:
        body, _ = _get(url, timeout)
    except TargetUnavailable as exc:
        log.warning("target version unavailable: %s", exc.message)
        return None
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        for key in _VERSION_KEYS:
            value = doc.get(key)
            if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip():
                return str(value).strip()[:100]
        log.warning("target version: %s has none of the fields %s", url, ", ".join(_VERSION_KEYS))
        return None
    if isinstance(doc, str):
        text = doc
    line = text.splitlines()[0].strip() if text else ""
    return line[:100] or None


# ---------------------------------------------------------------- counters over a window


def flatten_numeric(doc: Mapping[str, Any], prefix: str = "", *, _depth: int = 0) -> dict[str, float]:
    """Dotted keys of the numeric leaves: {"a": {"b": 1}} -> {"a.b": 1.0}. Booleans, strings, lists and
    non-finite numbers are left out (a list has no stable key to diff by)."""
    out: dict[str, float] = {}
    if _depth > 32:  # a stats document is never this deep; stop rather than recurse without bound
        return out
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            if math.isfinite(value):
                out[name] = float(value)
        elif isinstance(value, Mapping):
            out.update(flatten_numeric(value, f"{name}.", _depth=_depth + 1))
    return out


def _ratio_pairs(keys: Iterable[str]) -> list[tuple[str, str, str]]:
    """(hit key, partner key, derived name) for every X.hits/X.misses, X_hit/X_miss, blks_hit/blks_read."""
    present = set(keys)
    pairs = []
    for key in sorted(present):
        for hit, other in _RATIO_PAIRS:
            if not key.endswith(hit):
                continue
            base = key[: -len(hit)]
            if base and base[-1] not in "._":
                continue
            partner = base + other
            if partner in present:
                pairs.append((key, partner, base + "hit_rate_window"))
                break
    return pairs


# Fields that are levels, not counts (a ratio, a size, a percentile): diffing them means nothing, so they
# are reported as {pre, post} under "gauges". Matched on the last dotted segment, as a whole word.
_GAUGE = re.compile(
    r"(?:^|_)(?:ratio|rate|percent|pct|avg|average|mean|median|p\d+|size|current|active|idle|available"
    r"|min|max|utilization|usage|gauge|level)$",
    re.IGNORECASE,
)


def _is_gauge(key: str) -> bool:
    return bool(_GAUGE.search(key.rsplit(".", 1)[-1]))


def counter_deltas(pre: Mapping[str, Any], post: Mapping[str, Any]) -> dict[str, Any]:
    """{"pre", "post", "delta", "resets", "gauges"} of two readings (nested or already flat).

    delta[key] = post - pre for keys present in both (a key in only one reading has no delta); a counter
    that went down was reset during the window, so everything it counts happened since: delta = post, and
    its key is listed in `resets`. A field whose name says it is a level (…ratio, …_size, avg, p95, …) is
    not diffed: it is in `gauges` as {pre, post}. Derived ratios over the window go into delta too:
    `X.hit_rate_window` = 100 * Δhits / (Δhits + Δmisses), None when there were no lookups (the same for
    `_hit`/`_miss` and Postgres' `blks_hit`/`blks_read`).
    """
    flat_pre, flat_post = flatten_numeric(pre), flatten_numeric(post)
    delta: dict[str, float | None] = {}
    resets: list[str] = []
    gauges: dict[str, dict[str, float]] = {}
    for key in sorted(flat_pre.keys() & flat_post.keys()):
        if _is_gauge(key):
            gauges[key] = {"pre": flat_pre[key], "post": flat_post[key]}
            continue
        d = flat_post[key] - flat_pre[key]
        if d < 0:
            resets.append(key)
            d = flat_post[key]
        delta[key] = d
    for hit, other, name in _ratio_pairs(list(delta)):
        h, m = delta[hit], delta[other]
        assert h is not None and m is not None
        delta[name] = round(100.0 * h / (h + m), 4) if h + m > 0 else None
    return {"pre": flat_pre, "post": flat_post, "delta": delta, "resets": resets, "gauges": gauges}


# ---------------------------------------------------------------- idle check


def _cpu_seconds(procs: Mapping[int, psutil.Process]) -> dict[int, float]:
    out: dict[int, float] = {}
    for pid, proc in procs.items():
        try:
            t = proc.cpu_times()
            out[pid] = t.user + t.system
        except psutil.Error:
            continue
    return out


def idle_check(pids: set[int], *, seconds: float = 1.0, busy_cpu_percent: float = 20.0) -> dict[str, Any]:
    """Is the target busy before load? CPU of `pids` over `seconds` (counter deltas, % of one core)."""
    procs: dict[int, psutil.Process] = {}
    for pid in pids:
        try:
            procs[pid] = psutil.Process(pid)
        except psutil.Error:
            continue
    if not procs:
        return {"busy": False, "cpu_percent": None, "processes": 0, "seconds": 0.0}
    t0, before = time.monotonic(), _cpu_seconds(procs)
    time.sleep(max(seconds, 0.05))
    after, elapsed = _cpu_seconds(procs), time.monotonic() - t0
    used = sum(max(after[p] - before[p], 0.0) for p in after.keys() & before.keys())
    cpu = 100.0 * used / elapsed
    return {
        "busy": cpu >= busy_cpu_percent,
        "cpu_percent": round(cpu, 2),
        "processes": len(after),
        "seconds": round(elapsed, 3),
        "busy_cpu_percent": busy_cpu_percent,
    }


# ---------------------------------------------------------------- Postgres


def _connect(database_url: str) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(database_url, autocommit=True, connect_timeout=_PG_TIMEOUT_S)
        conn.execute(f"SET statement_timeout = {_PG_TIMEOUT_S * 1000}")
        return conn
    except psycopg.Error as exc:
        raise InfrastructureError(f"database {redact_url(database_url)}: {str(exc).strip()}") from exc


def pg_database_counters(database_url: str) -> dict[str, Any]:
    """The `pg_stat_database` row of the URL's database: the counters in DB_COUNTERS (numbers) and
    `stats_reset` (a timestamp, kept for the record). Gauges such as numbackends are left out so that
    every number here can be diffed with counter_deltas."""
    cols = ", ".join(DB_COUNTERS)
    with _connect(database_url) as conn:
        try:
            cur = conn.execute(f"SELECT {cols}, stats_reset FROM pg_stat_database WHERE datname = current_database()")
            row = cur.fetchone()
        except psycopg.Error as exc:
            raise InfrastructureError(f"database {redact_url(database_url)}: {str(exc).strip()}") from exc
    if row is None:
        return {}
    names = [*DB_COUNTERS, "stats_reset"]
    out: dict[str, Any] = {}
    for name, value in zip(names, row, strict=True):
        if name == "stats_reset":
            out[name] = value.isoformat() if value is not None else None
        else:
            out[name] = float(value) if value is not None else None
    return out


def _statements_ready(conn: psycopg.Connection[Any]) -> bool:
    """pg_stat_statements is usable here: installed, or preloaded so it can be created (then it is)."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'").fetchone():
        return True
    preload = conn.execute("SELECT current_setting('shared_preload_libraries', true)").fetchone()
    if not preload or "pg_stat_statements" not in (preload[0] or ""):
        return False
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    except psycopg.Error as exc:  # no privilege: the statements are simply not reported
        log.info("pg_stat_statements not created: %s", str(exc).strip())
        return False
    return True


def _short(query: str | None) -> str:
    text = " ".join((query or "").split())
    return text if len(text) <= QUERY_TEXT_CHARS else text[: QUERY_TEXT_CHARS - 1] + "…"


def pg_statement_snapshot(database_url: str) -> dict[str, dict[str, Any]] | None:
    """Cumulative pg_stat_statements rows of this database, keyed by `userid:queryid:toplevel`; None when
    the extension is not available."""
    with _connect(database_url) as conn:
        try:
            if not _statements_ready(conn):
                return None
            cur = conn.execute(
                "SELECT s.userid, s.queryid, s.toplevel, s.query, s.calls, s.total_exec_time, s.rows,"
                " s.shared_blks_hit, s.shared_blks_read"
                " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
                " WHERE d.datname = current_database() AND s.queryid IS NOT NULL"
                " ORDER BY s.total_exec_time DESC LIMIT %s",
                (SNAPSHOT_ROWS,),
            )
            rows = cur.fetchall()
        except psycopg.Error as exc:
            log.info("pg_stat_statements unreadable: %s", str(exc).strip())
            return None
    snap: dict[str, dict[str, Any]] = {}
    for userid, queryid, toplevel, query, calls, total, nrows, hit, read in rows:
        snap[f"{userid}:{queryid}:{toplevel}"] = {
            "queryid": str(queryid),
            "query": _short(query),
            "calls": int(calls),
            "total_exec_time_ms": float(total),
            "rows": int(nrows),
            "shared_blks_hit": int(hit),
            "shared_blks_read": int(read),
        }
    return snap


def _statement_row(row: Mapping[str, Any]) -> dict[str, Any]:
    calls = row["calls"]
    return {**row, "mean_exec_time_ms": round(row["total_exec_time_ms"] / calls, 4) if calls else None}


def pg_top_statements(database_url: str, *, limit: int = 10) -> list[dict[str, Any]]:
    """Top `limit` statements of this database by total execution time since the statistics were last
    reset (lifetime); [] when pg_stat_statements is absent. For a window, use statement_deltas."""
    snap = pg_statement_snapshot(database_url)
    if not snap:
        return []
    rows = sorted(snap.values(), key=lambda r: r["total_exec_time_ms"], reverse=True)[: max(limit, 0)]
    return [_statement_row(r) for r in rows]


def statement_totals(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Sums over window delta rows (statement_deltas with no limit): what the database did for the target."""
    keys = ("calls", "total_exec_time_ms", "rows", "shared_blks_hit", "shared_blks_read")
    out = {k: 0.0 for k in keys}
    n = 0
    for r in rows:
        n += 1
        for k in keys:
            out[k] += float(r.get(k) or 0)
    out["total_exec_time_ms"] = round(out["total_exec_time_ms"], 4)
    out["statements"] = float(n)
    return out


def statement_deltas(
    pre: Mapping[str, Mapping[str, Any]], post: Mapping[str, Mapping[str, Any]], *, limit: int = 10
) -> list[dict[str, Any]]:
    """Top `limit` statements by total execution time *over the window* between two snapshots. A statement
    new in `post` (or whose counters went down: evicted and re-added, or reset) counts from zero."""
    out = []
    for key, b in post.items():
        a = pre.get(key)
        if a is None or b["calls"] < a["calls"] or b["total_exec_time_ms"] < a["total_exec_time_ms"]:
            a = {"calls": 0, "total_exec_time_ms": 0.0, "rows": 0, "shared_blks_hit": 0, "shared_blks_read": 0}
        calls = b["calls"] - a["calls"]
        if calls <= 0:
            continue
        row = {
            "queryid": b["queryid"],
            "query": b["query"],
            "calls": calls,
            "total_exec_time_ms": round(b["total_exec_time_ms"] - a["total_exec_time_ms"], 4),
            "rows": b["rows"] - a["rows"],
            "shared_blks_hit": b["shared_blks_hit"] - a["shared_blks_hit"],
            "shared_blks_read": b["shared_blks_read"] - a["shared_blks_read"],
        }
        out.append(_statement_row(row))
    out.sort(key=lambda r: r["total_exec_time_ms"], reverse=True)
    return out[: max(limit, 0)]
