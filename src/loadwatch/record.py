"""The run record: one typed model of a run's summary (summary.json) and of its stored record, built once by the
chain (loadwatch.pipeline.chain) and read by every consumer: the CLI's printout, the report, the Prometheus export,
the store, the spool and the flow's final state.

`RunSummary.to_json()` is summary.json's contract (docs/ARCHITECTURE.md, "Command line"): exactly the dict earlier
versions wrote, key for key and type for type (tests/pipeline/test_record_shape.py pins its shape). The findings
(loadwatch.findings) and what was observed (loadwatch.observations: environment, target stats, probe) are TypedDicts
validated where a record is read and never rewritten, as are the plan block, the engine's `load` and the capacity
stage's block (loadwatch.load_shapes); `RunSummary.totals` reads the load's totals as a model. `RunRecord.metrics`
carries the run's metric vector, derived once per run.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Required

from hdrh.histogram import HdrHistogram
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
    with_config,
)
from typing_extensions import TypedDict

from loadwatch import hist
from loadwatch.changes import OpenChange
from loadwatch.config import Plan
from loadwatch.errors import InvalidInput, LoadwatchError
from loadwatch.findings import (
    AbBlock,
    Attribution,
    ChangePointRow,
    Checked,
    ComparisonRow,
    ConfirmationBlock,
    Findings,
    Incident,
    Score,
    ThresholdRow,
)
from loadwatch.load_shapes import CapacityBlock, LoadSummary
from loadwatch.metrics import ALL, run_metrics
from loadwatch.observations import Environment, ProbeReading, Resources, ResourceSample, TargetStats
from loadwatch.revision import Revision
from loadwatch.urls import redact_url
from loadwatch.vocabulary import FAILING_VERDICTS, VERDICT_ERROR, VERDICT_EXIT, Verdict

__all__ = [
    "OLD_LAP_KEYS",
    "SCHEMA_VERSION",
    "HistoryRow",
    "Latency",
    "LoadTotals",
    "PlanInfo",
    "RecordContext",
    "ReportInput",
    "RunRecord",
    "RunStatus",
    "RunSummary",
    "build_record",
    "new_run_id",
    "plan_info",
    "read_summary",
    "report_input",
    "spectrum",
    "write_summary",
]

SCHEMA_VERSION = 1
SPECTRUM_PERCENTILES = (50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0)


RunStatus = Literal["completed", "aborted", "failed_preflight"]
# lap keys of `timings_s` written by earlier versions -> the stage's name they time now (loadwatch.pipeline.chain
# _Laps); renamed once, where a summary is read, so every reader sees one name per stage. (Their `capacity` or
# `compare` lap also held the after-load capture, which had no lap of its own: kept as written.)
OLD_LAP_KEYS = {"target": "open_target", "baseline": "capture_before"}


class Latency(BaseModel):
    """A latency distribution of summary.json (`latency_ms`, `service_time_ms`): None where nothing answered."""

    model_config = ConfigDict(extra="ignore")

    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    p999: float | None = None
    max: float | None = None


class LoadTotals(BaseModel):
    """The totals of a run's `load` block that consumers read (a typed view; the block itself is the engine's)."""

    model_config = ConfigDict(extra="ignore")

    requests: int = 0
    errors: int = 0
    rps: float = 0.0
    dropped: int = 0
    censored: int = 0
    protocol_errors: int = 0
    clamped: int = 0
    generator_bound: bool = False
    latency_ms: Latency = Field(default_factory=Latency)
    service_time_ms: Latency = Field(default_factory=Latency)
    errors_by_kind: dict[str, dict[str, Any]] = Field(default_factory=dict)


_OPEN = ConfigDict(extra="allow")  # a later version's added key is kept, never dropped


@with_config(_OPEN)
class PlanScenario(TypedDict, total=False):
    name: Required[str]
    weight: float
    method: str
    path: str | None  # None: a scenario that is a journey's steps


@with_config(_OPEN)
class PlanVerdict(TypedDict, total=False):
    """The plan's `verdict:` section as the run used it (config.VerdictSpec)."""

    open_changes: str
    confirm: bool
    min_history: int


@with_config(_OPEN)
class PlanInfo(TypedDict, total=False):
    """summary.json's `plan`: what the run was asked to do (plan_info), the target's URL without credentials. Every
    run writes every key; a run imported from the seed's files (loadwatch.commands.importer) has fewer."""

    name: str
    hash: str
    target_url: str
    model: str
    rate: float | None
    users: int | None
    arrival: str
    stages: list[dict[str, float]] | None  # config.Stage: duration, target
    duration: float
    warmup: float
    thresholds: list[str]
    verdict: PlanVerdict  # summaries written before the plan's `verdict:` section have none
    scenarios: list[PlanScenario]


class RunSummary(BaseModel):
    """One run's summary.json. Field order is the JSON's key order; `capacity` is written only when the run had a
    capacity stage (as before), `revision` only by runs since it exists (issue 25)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    run_id: str
    status: RunStatus
    started_at: str | None
    finished_at: str | None
    verdict: Verdict
    verdict_reasons: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    baseline_run_ids: list[str] = Field(default_factory=list)
    trigger: str
    flow_run_id: str | None = None
    plan: Checked[PlanInfo] = Field(default_factory=lambda: PlanInfo())
    environment: Checked[Environment] = Field(default_factory=lambda: Environment())
    # the build measured: version, commit, branch and where each came from (loadwatch.revision); every run since
    # issue 25 writes it, summaries written before have none (and are written back without one)
    revision: Checked[Revision] | None = None
    # the engine's summary (engine.result.combine_parts); {} for a run that never loaded (a failed preflight)
    load: Checked[LoadSummary] = Field(default_factory=lambda: LoadSummary())
    resources: Checked[Resources] = Field(default_factory=lambda: Resources())  # per process group (observe.monitor)
    target_stats: Checked[TargetStats] = Field(default_factory=lambda: TargetStats())  # the target's counters
    probe: Checked[ProbeReading] | None = None  # the machine-drift probe of this run (loadwatch.observe.probe)
    comparison: list[Checked[ComparisonRow]] = Field(default_factory=list)
    change_points: list[Checked[ChangePointRow]] = Field(default_factory=list)
    incidents: list[Checked[Incident]] = Field(default_factory=list)
    thresholds: list[Checked[ThresholdRow]] = Field(default_factory=list)
    score: Checked[Score] = Field(default_factory=lambda: Score())
    attribution: Checked[Attribution] = Field(default_factory=lambda: Attribution())
    timings_s: dict[str, float] = Field(default_factory=dict)
    notes: str | None = None
    tags: list[str] = Field(default_factory=list)
    capacity: Checked[CapacityBlock] | None = None  # the capacity stage's result (capacity.search), when it ran
    ab: Checked[AbBlock] | None = None  # the same-night A/B stage's result (pipeline.ab_stage), when it ran
    # every change the night followed or opened (loadwatch.pipeline.open_changes), failing or not
    open_changes: list[OpenChange] = Field(default_factory=list)
    # a second load of the night that had to reproduce a new regression (docs/METHOD.md §3.7), when one ran
    confirmation: Checked[ConfirmationBlock] | None = None

    @field_validator("timings_s", mode="before")
    @classmethod
    def _current_lap_keys(cls, timings: Any) -> Any:
        """A summary of an earlier version names some laps differently (OLD_LAP_KEYS): renamed, in their order."""
        if isinstance(timings, Mapping):
            return {OLD_LAP_KEYS.get(k, k): v for k, v in timings.items()}
        return timings

    def to_json(self) -> dict[str, Any]:
        """summary.json as a dict (what is written, stored, spooled and rendered)."""
        absent = {name for name in ("capacity", "revision", "ab", "confirmation") if getattr(self, name) is None}
        return self.model_dump(exclude=absent or None)

    @property
    def totals(self) -> LoadTotals:
        return LoadTotals.model_validate(self.load)

    @property
    def exit_code(self) -> int:
        """The exit code of `loadwatch run` for this verdict (loadwatch.vocabulary.VERDICT_EXIT)."""
        return VERDICT_EXIT[self.verdict]

    @property
    def failing(self) -> bool:
        """Whether the flow run ends Failed (a regression, a breach, an inconclusive or aborted run, a failed
        preflight)."""
        return self.verdict in FAILING_VERDICTS

    def raise_for_verdict(self) -> None:
        """Raise the error a failing verdict ends `loadwatch run` with (loadwatch.vocabulary.VERDICT_ERROR); its
        class carries the exit code."""
        error = VERDICT_ERROR[self.verdict]
        if error is not None:
            raise error(f"the run's verdict is {self.verdict}")

    @property
    def message(self) -> str:
        """The verdict and its first five reasons: the flow state's message."""
        return f"{self.verdict}: " + "; ".join(self.verdict_reasons[:5]) if self.verdict_reasons else self.verdict


def read_summary(data: object, *, source: str, error: type[LoadwatchError] = InvalidInput) -> RunSummary:
    """A summary of any version read once through the record model (earlier lap keys renamed, every verdict ever
    written known). One that does not validate raises `error` naming `source`, the first field and what is allowed:
    InvalidInput (exit 2) for a person's file, InfrastructureError (exit 3) for what the trend store holds."""
    try:
        return RunSummary.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise error(f"{source}: {field or 'summary'}: {err['msg']}{more}") from None


class RunRecord(BaseModel):
    """Everything a run keeps: the summary plus the bulk data the store and the report read (histograms, per-second
    windows, the timeline, the resource samples). `to_json()` is what the store and the spool take."""

    model_config = ConfigDict(extra="forbid")

    summary: RunSummary
    status: RunStatus
    trigger: str
    flow_run_id: str | None = None
    notes: str | None = None
    tags: list[str] = Field(default_factory=list)
    histograms: dict[str, dict[str, str]] = Field(default_factory=dict)
    windows: list[dict[str, Any]] = Field(default_factory=list)
    timeline: list[dict[str, Any]] = Field(default_factory=list)
    resource_samples: list[Checked[ResourceSample]] = Field(default_factory=list)
    # the run's metric vector (loadwatch.metrics.run_metrics): derived once, for the comparison, and carried here to
    # the store and the report; a record spooled or imported without it gets it derived when it is read
    metrics: dict[str, dict[str, float]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _derive_metrics(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "metrics" not in data:
            summary = data.get("summary")
            if isinstance(summary, RunSummary):
                summary = summary.to_json()
            if isinstance(summary, Mapping):
                return {**data, "metrics": run_metrics(summary)}
        return data

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary.to_json(), **self.model_dump(exclude={"summary"})}


@dataclass(frozen=True)
class RecordContext:
    """Who started a run and what they said about it."""

    trigger: str
    flow_run_id: str | None = None
    notes: str | None = None
    tags: Sequence[str] = ()
    revision: Revision | None = None  # the build measured (loadwatch.revision.resolve_revision)


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def plan_info(plan: Plan) -> PlanInfo:
    load = plan.load
    return {
        "name": plan.name,
        "hash": plan.plan_hash(),
        "target_url": redact_url(plan.target.url),
        "model": load.model,
        "rate": load.rate,
        "users": load.users,
        "arrival": load.arrival,
        "stages": [{"duration": s.duration, "target": s.target} for s in load.stages] if load.stages else None,
        "duration": load.total_duration,
        "warmup": load.warmup,
        "thresholds": list(plan.thresholds),
        "verdict": {"open_changes": plan.verdict.open_changes, "confirm": plan.verdict.confirm,
                    "min_history": plan.verdict.min_history},
        "scenarios": [{"name": s.name, "weight": s.weight, "method": s.method, "path": s.path} for s in plan.scenarios],
    }


def _iso(ts: float | datetime | None) -> str | None:
    if ts is None:
        return None
    if isinstance(ts, datetime):
        return ts.isoformat()
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def build_record(
    *,
    run_id: str,
    started_at: datetime,
    finished_at: datetime,
    status: str,
    plan: Plan,
    environment: Environment,
    load: Any | None,  # engine LoadResult
    monitor: Any | None,  # monitor MonitorResult
    target_stats: TargetStats,
    findings: Findings,
    context: RecordContext,
    timings: Mapping[str, float],
    warnings: Sequence[str] = (),
    capacity: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Mapping[str, float]] | None = None,
    probe: ProbeReading | None = None,
    ab: AbBlock | None = None,
) -> RunRecord:
    """The complete result of one run: what is stored, spooled, and rendered. `metrics` is the run's metric vector
    as the chain derived it for the comparison (derived here from the summary when not given)."""
    trigger, flow_run_id, notes, tags = context.trigger, context.flow_run_id, context.notes, context.tags
    summary = RunSummary.model_validate({
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "status": status,
        "started_at": _iso(started_at),
        "finished_at": _iso(finished_at),
        "verdict": findings.verdict,
        "verdict_reasons": list(findings.verdict_reasons),
        "warnings": list(warnings),
        "baseline_run_ids": list(findings.baseline_run_ids),
        "trigger": trigger,
        "flow_run_id": flow_run_id,
        "plan": plan_info(plan),
        "environment": dict(environment),
        "revision": dict(context.revision) if context.revision is not None else {
            "version": environment.get("target_version"), "commit": None, "branch": None,
            "source": {"version": "target"} if environment.get("target_version") else {}},
        "load": dict(load.summary) if load is not None else {},
        "resources": monitor.summary() if monitor is not None else {},
        "target_stats": dict(target_stats),
        "probe": probe,  # the machine-drift probe of this run (loadwatch.observe.probe)
        "comparison": list(findings.comparison),
        "change_points": list(findings.change_points),
        "incidents": list(findings.incidents),
        "thresholds": list(findings.thresholds),
        "score": dict(findings.score),
        "attribution": dict(findings.attribution),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "notes": notes,
        "tags": list(tags),
        # measures.run_metrics makes capacity_rps a metric of the run
        "capacity": dict(capacity) if capacity is not None else None,
        "ab": ab,
        "open_changes": list(findings.open_changes),
        "confirmation": findings.confirmation,
    })
    return RunRecord(
        summary=summary,
        status=summary.status,
        trigger=trigger,
        flow_run_id=flow_run_id,
        notes=notes,
        tags=list(tags),
        histograms=dict(load.histograms) if load is not None else {},
        windows=list(load.windows) if load is not None else [],
        timeline=list(load.timeline) if load is not None else [],
        resource_samples=list(monitor.samples) if monitor is not None else [],
        metrics=({sc: dict(ms) for sc, ms in metrics.items()} if metrics is not None
                 else run_metrics(summary.to_json())),
    )


def spectrum(h: HdrHistogram) -> list[list[float]]:
    """[[percentile, ms], ...] of a latency histogram (microseconds); [] when it is empty."""
    if h.get_total_count() == 0:
        return []
    return [[q, hist.percentile_us(h, q) / 1000.0] for q in SPECTRUM_PERCENTILES]


class HistoryRow(TypedDict):
    """One run of the report's trend charts."""

    run_id: str
    started_at: str | None
    verdict: str | None
    metrics: dict[str, dict[str, float]]


class ResourceSampleRow(TypedDict):
    t: Any
    group: str | None
    cpu_percent: float | None
    rss_mb: float | None


class Spectrum(TypedDict):
    """[[percentile, ms], ...] of tonight's latency and of its baseline runs' merged."""

    current: list[list[float]]
    baseline: list[list[float]]


class ReportInput(TypedDict):
    """What the report renders (loadwatch.report.view): `summary` is summary.json as written (a stored one in a trend
    review, of any version, with the review's own verdict); the rest typed here."""

    mode: str
    summary: dict[str, Any]
    history: list[HistoryRow]
    timeline: list[dict[str, Any]]
    resource_samples: list[ResourceSampleRow]
    spectrum: Spectrum
    incidents: list[Incident]


def report_input(
    record: RunRecord | Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    *,
    mode: str = "run",
) -> ReportInput:
    """The data the report renders: this run plus its comparable history (oldest first). A run's record is the typed
    one; the trend review (pipeline.review) passes a stored summary of any version as a mapping."""
    if isinstance(record, RunRecord):
        record = record.to_json()
    s = record["summary"]
    metrics = record.get("metrics")  # the run's own vector, carried by its record
    baseline_ids = set(s.get("baseline_run_ids") or [])
    hist_rows: list[HistoryRow] = [
        {
            "run_id": h["run_id"],
            "started_at": _iso(h["started_at"]),
            "verdict": h.get("verdict"),
            "metrics": h.get("metrics") or {},
        }
        for h in history
    ]
    if mode == "run" and s.get("status") == "completed":
        hist_rows.append(
            {"run_id": s["run_id"], "started_at": s["started_at"], "verdict": s["verdict"],
             "metrics": metrics if metrics is not None else run_metrics(s)}
        )
    current = (record.get("histograms") or {}).get(ALL, {}).get("latency")
    base = hist.merge_encoded(h["histograms"][ALL] for h in history if h["run_id"] in baseline_ids
                              and (h.get("histograms") or {}).get(ALL))
    return {
        "mode": mode,
        "summary": s,
        "history": hist_rows,
        "timeline": list(record.get("timeline") or []),
        "resource_samples": [
            {"t": smp.get("t"), "group": smp.get("group"), "cpu_percent": smp.get("cpu_percent"),
             "rss_mb": smp.get("rss_mb")}
            for smp in record.get("resource_samples") or []
        ],
        "spectrum": {"current": spectrum(hist.decode(current or "")), "baseline": spectrum(base)},
        "incidents": list(s.get("incidents") or []),
    }


def write_summary(summary: RunSummary | Mapping[str, Any], out_dir: Path) -> Path:
    """summary.json in `out_dir` (created), replaced atomically."""
    if isinstance(summary, RunSummary):
        summary = summary.to_json()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "summary.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, default=str))
    tmp.replace(path)
    return path
