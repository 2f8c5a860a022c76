"""What the load and the capacity search measure, typed: the engine's load summary (summary.json's `load`) and the
capacity stage's block (`capacity`). On the ground floor, so that the engine and the capacity search that write them
and the run record that keeps them share one definition (tests/unit/test_layers.py).

TypedDicts: at run time the plain dicts summary.json has always held, key for key; the record validates them where a
record is read (loadwatch.findings.Checked) without rewriting them, and keeps a key a later version added
(`extra="allow"`). The load's blocks are `total=False`: a stored run may be older than a key, imported from the seed's
result files (loadwatch.commands.importer: a few totals and latencies), or a failed preflight's (`{}`); what the
engine writes today is pinned by the record-shape test (tests/pipeline/summary_shape.json)."""

from __future__ import annotations

from typing import Literal, NotRequired, Required

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

__all__ = [
    "Breach",
    "CapacityBlock",
    "CapacityOutcome",
    "DataUse",
    "ErrorKind",
    "GeneratorSummary",
    "LoadSummary",
    "RefreshUse",
    "ScenarioSummary",
    "SessionsSummary",
    "ShardShare",
    "StepRow",
    "WorkerEntry",
]

_OPEN = ConfigDict(extra="allow")


@with_config(_OPEN)
class DataUse(TypedDict):
    """What a run did with one source (per process, then summed): in the load summary's `data`."""

    strategy: str
    on_exhausted: str
    rows: int  # rows this process (or the run) could draw from
    used: int  # draws
    exhausted: bool  # a sequential/unique source ran out (then: stopped, or wrapped)
    wraps: int  # times a source started over (`wrap`, or `circular`)
    exhausted_at_s: float | None  # seconds from the start when it first ran out


@with_config(_OPEN)
class ErrorKind(TypedDict):
    count: int
    sample: str  # the first message of the kind


@with_config(_OPEN)
class ScenarioSummary(TypedDict, total=False):
    """One scenario (or journey step, journey, login step) in the load summary; every version and the seed's imported
    results have its counts and latencies."""

    requests: Required[int]
    errors: Required[int]
    rps: Required[float]
    error_rate: float
    latency_ms: Required[dict[str, float | None]]  # mean, p50, p90, p95, p99, p999, max (None: none recorded)
    latency_at_least: list[str]  # the statistics above that are lower bounds (censored or clamped values)
    service_time_ms: dict[str, float | None]
    service_time_at_least: list[str]
    censored: int
    clamped: int
    censored_min_ms: dict[str, float | None]
    errors_by_kind: dict[str, ErrorKind]
    status_classes: dict[str, int]


@with_config(_OPEN)
class GeneratorSummary(TypedDict, total=False):
    cpu_percent: float
    loop_lag_ms: dict[str, float]
    # the generator's lateness against its schedule over the latency it measured (its latest process; the
    # generator-bound rule's reading, also below the bound); summaries written before issue 22.9 have none
    schedule_late_share: float
    reasons: list[str]  # why the run was generator-bound (empty: it was not)


@with_config(_OPEN)
class RefreshUse(TypedDict):
    """What renews a session's credentials (the plan's rule) and what set each renewal's time: `by_trigger` counts
    the renewals timed by the lifetime an answer gave (`expires_in`) and those timed by the plan's period (`every`,
    also when an answer had no usable lifetime). A renewal is never triggered by a refused request."""

    every: float | None  # seconds after the login or the last renewal
    expires_in: str | None  # the extracted value holding the lifetime in seconds
    margin: float  # the share of the lifetime left when the renewal runs
    own_steps: bool  # the refresh has its own steps (else it repeats the login's)
    by_trigger: dict[str, int]


@with_config(_OPEN)
class SessionsSummary(TypedDict):
    """What the sessions did; `steps`: their login and refresh requests, timed apart from the scenarios."""

    sessions: int
    logins: int
    login_failures: int
    refreshes: int
    refresh_failures: int
    steps: dict[str, ScenarioSummary]
    refresh: NotRequired[RefreshUse]  # plans whose session renews its credentials




@with_config(_OPEN)
class ShardShare(TypedDict):
    """One shard's share of a sharded load (summary.json `load.shards`, written by tasks/shards.py)."""

    index: int
    host: str
    requests: int
    rps: float
    start_skew_s: float
    generator_bound: bool


@with_config(_OPEN)
class WorkerEntry(TypedDict, total=False):
    """One generator process in the load summary's `workers` (engine.result._worker_entry)."""

    index: int
    requests: int
    rps: float
    cpu_percent: float
    cpu_s: float  # process CPU seconds from the start barrier to the end of the drain
    pacer_wakeups: int
    loop_lag_ms: dict[str, float]
    late: int
    late_target: int
    sched_late: int  # the pacer's own lateness (issue 22.9; earlier summaries have only `late`)
    sched_late_share: float
    dropped: int
    start_skew_s: float


@with_config(_OPEN)
class LoadSummary(TypedDict, total=False):
    """The engine's load summary: `load` in summary.json (its shape is pinned by tests/pipeline)."""

    model: str
    requests: int
    errors: int
    error_rate: float
    rps: float
    dropped: int
    late: int
    late_target: int
    censored: int
    clamped: int
    protocol_errors: int
    protocol_error_sample: str
    cancelled: int
    sends: int
    late_tolerance_ms: float
    generator_bound: bool
    latency_ms: dict[str, float | None]
    latency_at_least: list[str]
    service_time_ms: dict[str, float | None]
    service_time_at_least: list[str]
    errors_by_kind: dict[str, ErrorKind]
    status_classes: dict[str, int]
    scenarios: dict[str, ScenarioSummary]
    workers: list[WorkerEntry]
    intended_rate: float | None
    achieved_rate: float
    generator: GeneratorSummary
    duration_s: float
    warmup_s: float
    measured_s: float
    stopped: bool
    start_skew_s: float
    data: dict[str, DataUse]  # plans with data sources only
    sessions: SessionsSummary  # plans with a session only
    journeys: dict[str, ScenarioSummary]  # plans with journeys only
    shards: list[ShardShare]  # a sharded run: each shard's share (tasks/shards.py)


# skipped: the stage did not load at all (its reason says why: the target's lock was lost with the trend store)
CapacityOutcome = Literal[
    "found", "max_rate", "generator_bound", "no_capacity", "budget", "interrupted", "failed", "skipped",
]


@with_config(_OPEN)
class Breach(TypedDict):
    """Why a step failed, one SLO (or the step itself: nothing completed, drops, the generator) at a time."""

    slo: str | None  # the SLO expression; None when the step itself failed
    kind: str  # errors, latency, other, dropped, generator
    value: float
    limit: float | None
    note: NotRequired[str]


@with_config(_OPEN)
class StepRow(TypedDict):
    """One step as summary.json's `capacity.steps` holds it (Step's fields)."""

    rate: float
    kind: str
    achieved: float
    offered: float
    p50: float | None
    p95: float | None
    p99: float | None
    error_rate: float
    target_cpu: float | None
    passed: bool
    breaches: list[Breach]  # worst first
    requests: int
    dropped: int
    generator_bound: bool
    generator_reasons: list[str]
    generator_blamed: bool
    retry: bool
    stopped: bool
    measured_s: float
    wall_s: float
    cooldown_s: float


@with_config(_OPEN)
class CapacityBlock(TypedDict):
    """summary.json's `capacity` block: the capacity stage's answer (CapacityResult.to_dict), what crosses from the
    stage to the run record."""

    capacity_rps: float | None
    bracket: list[float | None]
    bracket_width_percent: float | None
    binding_slo: str | None
    outcome: CapacityOutcome
    reason: str
    slos: list[str]
    budget_s: float
    elapsed_s: float
    resolution: float
    steps: list[StepRow]

