"""What the observation measures, typed: shared by the stages that produce it (loadwatch.observe, the capture stage)
and the run record that keeps it (summary.json's `environment`, `target_stats`, `probe`).

TypedDicts: at run time the plain dicts summary.json has always held, key for key; the record validates them where a
record is read (loadwatch.findings.Checked) without rewriting them. Keys that are data (a counter's name, a package's
name) are the keys of plain `dict[str, float]` maps."""

from __future__ import annotations

from typing import NotRequired

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

__all__ = [
    "ContentionWindow",
    "CounterWindow",
    "DatabaseCounters",
    "Environment",
    "IdleCheck",
    "ProbeReading",
    "ResourceGroup",
    "ResourceSample",
    "Resources",
    "StatementIntervals",
    "StatementRow",
    "TargetStats",
]

_OPEN = ConfigDict(extra="allow")

# the machine-drift probe (loadwatch.observe.probe): {"cpu_ms": ..., "echo_us": ...}, a part not measured left out
ProbeReading = dict[str, float]


@with_config(_OPEN)
class Environment(TypedDict, total=False):
    """The environment fingerprint (loadwatch.observe.environment), its hash, and the target's version."""

    hostname: str
    cpu_model: str
    cpu_count: int | None
    cpu_count_physical: int | None
    cpu_usable: int
    memory_total_mb: int
    memory_class: str
    os: str
    os_name: str
    kernel: str
    machine: str
    python: str
    python_implementation: str
    packages: dict[str, str | None]
    target_version: str | None
    plan_hash: str
    hashed_fields: list[str]
    hash: str


@with_config(_OPEN)
class IdleCheck(TypedDict):
    """Whether the target was busy before the load (loadwatch.observe.environment.idle_check)."""

    busy: bool
    cpu_percent: float | None
    processes: NotRequired[int]
    seconds: NotRequired[float]
    busy_cpu_percent: NotRequired[float]


@with_config(_OPEN)
class StatementRow(TypedDict, total=False):
    """One pg_stat_statements row (loadwatch.observe.postgres_stats), over a window or since the last reset."""

    queryid: str
    query: str
    calls: float
    total_exec_time_ms: float
    mean_exec_time_ms: float | None
    rows: float
    shared_blks_hit: float
    shared_blks_read: float


@with_config(_OPEN)
class StatementIntervals(TypedDict, total=False):
    """The calls of the run's top statements in every monitor interval (loadwatch.observe.monitor), column by column:
    interval i ends at wall-clock `t[i]` (epoch seconds, the clock of the load's per-second windows) and lasted
    `interval_s[i]`; `calls[queryid][i]` its calls in it. `requests[scenario][i]`: the load's requests completed in it,
    apportioned from the per-second windows by overlap (loadwatch.pipeline.ownership.align_requests), added after the
    load. `read_ms`: one reading's mean duration; `backend_cpu_s`: CPU its database backend spent over the run (None
    when the server is not on this machine); `error` when the readings stopped."""

    t: list[float]
    interval_s: list[float]
    calls: dict[str, list[int]]
    requests: dict[str, list[float]]
    reads: int
    read_ms: float | None
    backend_cpu_s: float | None
    error: str


@with_config(_OPEN)
class DatabaseCounters(TypedDict):
    """The target database read once (before or after the load): its pg_stat_database counters (None where Postgres
    has none) with `stats_reset` (an ISO time or None), and its top statements."""

    database: dict[str, float | str | None]
    statements: list[StatementRow]


@with_config(_OPEN)
class CounterWindow(TypedDict):
    """Two readings of counters and their window (loadwatch.observe.deltas.counter_deltas): a delta is None for a
    ratio with no lookups; `resets` are the counters that went down; `gauges` the levels, not diffed."""

    pre: dict[str, float]
    post: dict[str, float]
    delta: dict[str, float | None]
    resets: list[str]
    gauges: dict[str, dict[str, float]]


@with_config(_OPEN)
class ContentionWindow(TypedDict, total=False):
    """Whether other work on the machine made the target wait for a CPU over the load (observe.contention)."""

    window_s: float
    others_cores: float
    host_cores: float
    ours_cores: float
    target_cores: float
    top_others: list[dict[str, str | float]]
    target_wait_share: float | None
    target_wait_to_cpu: float | None
    others_share: float  # others' share of the CPU the target competed with
    queue_ms_per_request: float | None  # the target's queueing charged to others, per request of the window
    queue_share: float | None  # ... over the run's mean latency (busy from contention.LATENCY_FLOOR)
    busy: bool
    reason: str | None


@with_config(_OPEN)
class TargetStats(TypedDict, total=False):
    """summary.json's `target_stats`: the stats endpoint's window (its keys at the top), the target database's
    window under `database`, and the contention check; empty when nothing was read."""

    pre: dict[str, float]
    post: dict[str, float]
    delta: dict[str, float | None]
    resets: list[str]
    gauges: dict[str, dict[str, float]]
    database: CounterWindow
    contention: ContentionWindow


Figures = dict[str, float | None]  # {"avg", "max", ...} of one measure; None where nothing was sampled


@with_config(_OPEN)
class ResourceGroup(TypedDict, total=False):
    """One process group's figures over the run (loadwatch.observe.monitor): target, database, generator, host, or a
    group the plan names. The host adds its memory, network and disk; the database block adds its pg_stat_database
    window (the counters by name), `top_statements`, `statement_totals`, `statement_intervals` (their calls in every
    monitor interval) and an `error` when it could not be read."""

    samples: int
    empty_samples: int
    processes: dict[str, int]
    cpu_percent: Figures
    rss_mb: Figures
    threads: dict[str, int | None]
    fds: dict[str, int | None]
    read_mb: float | None
    write_mb: float | None
    ctx_switches_per_s: Figures
    mem_used_mb: Figures
    mem_percent: Figures
    net_sent_mb: float | None
    net_recv_mb: float | None
    disk_read_mb: float | None
    disk_write_mb: float | None
    window_s: float | None
    top_statements: list[StatementRow]
    statement_totals: dict[str, float]
    statement_intervals: StatementIntervals
    error: str


@with_config(_OPEN)
class Resources(TypedDict, total=False):
    """summary.json's `resources`: a block per process group (other group names are kept as they are) and the
    monitor's own cost in percent of one core."""

    target: ResourceGroup
    database: ResourceGroup
    generator: ResourceGroup
    host: ResourceGroup
    monitor_overhead_percent: float | None


@with_config(_OPEN)
class ResourceSample(TypedDict, total=False):
    """One sample of one process group (loadwatch.observe.monitor): rates per second over the interval before `t`.
    The host's sample adds its memory, network and disk; a process group's `threads` and `fds` are the host's None."""

    t: float
    interval_s: float
    group: str
    processes: int
    cpu_percent: float
    rss_mb: float
    threads: int | None
    fds: int | None
    read_bytes_per_s: float | None
    write_bytes_per_s: float | None
    ctx_switches_per_s: float | None
    mem_used_mb: float
    mem_percent: float
    net_sent_bytes_per_s: float | None
    net_recv_bytes_per_s: float | None
    disk_read_bytes_per_s: float | None
    disk_write_bytes_per_s: float | None
