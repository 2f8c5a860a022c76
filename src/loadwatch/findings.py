"""What the compare stage finds, typed: the gate's comparison rows, the change points and the incidents they group
into, the thresholds, the seed's score, the attribution (statements, explanations and their candidates, the
attribution series' own rows and change points), and the verdict with its reasons (`Findings`).

The rows are TypedDicts: at run time they stay the plain dicts the statistics write, key for key and in their order
(summary.json's contract, tests/pipeline/test_record_shape.py), and `Checked[...]` validates them, where a record is
read (loadwatch.record.RunSummary: a new run, a spooled one, a stored summary of an earlier version), without
rewriting them: a value of the wrong type fails there, once, instead of deep inside the report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidatorFunctionWrapHandler, WrapValidator, with_config
from typing_extensions import TypedDict

from loadwatch.changes import OpenChange
from loadwatch.vocabulary import Verdict

__all__ = [
    "AbBlock",
    "AbRow",
    "Attribution",
    "AttributionRow",
    "Candidate",
    "ChangePointRow",
    "Checked",
    "ComparisonRow",
    "ConfirmationBlock",
    "ConfirmationOutcome",
    "ConfirmationRow",
    "Explanation",
    "Findings",
    "GateChecks",
    "Incident",
    "Score",
    "StatementOwner",
    "ThresholdRow",
]

T = TypeVar("T")
_OPEN = ConfigDict(extra="allow")  # a later version's added key is kept, never dropped


def _keep_original(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate, then keep the value as written (pydantic would rebuild a TypedDict in its declared key order and
    turn an int written into a float field into a float: both change summary.json's bytes)."""
    handler(value)
    return value


Checked = Annotated[T, WrapValidator(_keep_original)]

Number = int | float


@with_config(_OPEN)
class GateChecks(TypedDict):
    """The gate's three checks in the row's direction (METHOD.md §3): None where the interval is unknown."""

    z: bool
    floor: bool
    ci: bool | None


@with_config(_OPEN)
class ComparisonRow(TypedDict):
    """One scenario x metric judged by the same-night gate (loadwatch.stats.gate)."""

    scenario: str
    metric: str
    value: Number
    baseline: Number | None
    change: NotRequired[Number | None]
    change_unit: NotRequired[str]
    change_percent: Number | None
    ci: list[Number | None] | None
    ci_unit: str
    ci_method: NotRequired[str | None]
    robust_z: Number | None
    checks: GateChecks
    cv: NotRequired[Number | None]
    noise: NotRequired[dict[str, Number | bool] | None]  # the series' spread and smallest visible effect (gate._noise)
    outcome: str
    baseline_run_ids: NotRequired[list[str]]
    n_baseline: int
    direction: int
    floor: Number
    within: NotRequired[list[Number]]
    z_critical: NotRequired[Number]
    probe: NotRequired[dict[str, Number | bool]]  # the machine-drift fit used (gate: slope, spreads, factor, clamped)
    raw_change_percent: NotRequired[Number]
    improvable: NotRequired[bool]
    judged_as: NotRequired[str]


# the attribution series' rows, compacted (loadwatch.pipeline.attribution): the gate row's keys that explain
AttributionRow = ComparisonRow


@with_config(_OPEN)
class ChangePointRow(TypedDict):
    """A change point over a series' history (loadwatch.stats.history), where it is and how far it has been
    confirmed."""

    scenario: str
    metric: str
    run_id: str | None
    index: int
    time: NotRequired[str | datetime | None]  # an ISO string in summary.json, a datetime straight from the store
    forward_change_percent: Number | None
    magnitude: NotRequired[Number | None]
    p_value: Number | None
    mean_before: NotRequired[Number | None]
    mean_after: NotRequired[Number | None]
    std_before: NotRequired[Number | None]
    std_after: NotRequired[Number | None]
    runs_after: int
    state: str
    direction: str
    # the builds between which it happened (loadwatch.revision.build_label): the run before it, and its run
    version_before: NotRequired[str | None]
    version_after: NotRequired[str | None]


@with_config(_OPEN)
class AbRow(TypedDict):
    """One row of the nightly A/B stage (loadwatch.pipeline.ab_stage): the candidate against the baseline, measured
    the same night in alternating rounds (loadwatch.stats.paired). Percentages are B relative to A; an interval end
    the pairs cannot bound is None."""

    scenario: str
    percentile: str  # p50, p95, ... or error_rate
    verdict: str  # regression, improvement, no_change, inconclusive, not_judged
    reason: str
    pairs: int
    change_percent: Number | None
    ci_low_percent: Number | None
    ci_high_percent: Number | None
    same_night: bool  # always true: a same-night comparison, not one against earlier nights


@with_config(_OPEN)
class AbBlock(TypedDict):
    """The nightly A/B stage's result (summary.json's `ab`, the store's ab_rows)."""

    status: Literal["completed", "failed"]  # failed: the session could not run (a build did not start, ...)
    verdict: Literal["regression", "no_regression", "inconclusive"]
    reason: str | None
    baseline: str
    candidate: str
    pairs: int
    elapsed_s: Number
    warnings: list[str]
    rows: list[AbRow]


@with_config(_OPEN)
class ConfirmationRow(TypedDict):
    """One series the confirmation run re-measured (loadwatch.pipeline.confirm): its change on the first and on the
    second load of the night (percent, points for the error rate), the second run's value and gate outcome."""

    scenario: str
    metric: str
    first_change: Number | None
    change: Number | None
    value: Number | None
    outcome: str  # the second run's gate outcome, or not_judged (the second run had no such row)
    reproduced: bool


ConfirmationOutcome = Literal["reproduced", "partly_reproduced", "not_reproduced", "not_judged"]


@with_config(_OPEN)
class ConfirmationBlock(TypedDict):
    """summary.json's `confirmation`: a night whose first load found a new regression loaded the target again
    (docs/METHOD.md §3.7); what it measured and what it decided."""

    series: list[str]  # "scenario metric" of each new regression the second load had to reproduce
    outcome: ConfirmationOutcome
    reason: str | None  # why a second load could not judge (then the first load's verdict stands)
    rows: list[ConfirmationRow]
    requests: int
    errors: int
    generator_bound: bool
    duration_s: Number
    metrics: dict[str, dict[str, Number]]  # the second load's metric vector (loadwatch.metrics): kept, never dropped


@with_config(_OPEN)
class Incident(TypedDict):
    """Change points of one run grouped (loadwatch.stats.history.group_incidents)."""

    run_id: str | None
    time: NotRequired[str | datetime | None]
    changes: list[ChangePointRow]
    regressions: int
    state: str


@with_config(_OPEN)
class ThresholdRow(TypedDict):
    """One of the plan's thresholds, evaluated (loadwatch.stats.thresholds)."""

    expr: str
    scenario: NotRequired[str | None]
    metric: NotRequired[str | None]
    op: NotRequired[str]
    value: Number | None
    limit: NotRequired[Number | None]
    unit: NotRequired[str]
    passed: bool
    reason: NotRequired[str]
    default: NotRequired[bool]  # a check every night makes without the plan (loadwatch.stats.safe_defaults)


@with_config(_OPEN)
class Score(TypedDict, total=False):
    """The seed's 100-point score (loadwatch.stats.score); empty for a run without a load."""

    total: Number
    p95: Number
    error_rate: Number
    throughput: Number
    consistency: Number
    band: str


@with_config(_OPEN)
class Candidate(TypedDict):
    """One thing that moved with a regression, ranked (loadwatch.pipeline.attribution)."""

    kind: str
    tier: int
    scenario: str
    queryid: NotRequired[str]
    n_plus_one: NotRequired[bool]
    metric: str
    baseline: Number | str | None  # a number, or the last good version's name
    value: Number | str | None
    share_ms_per_req: NotRequired[Number]
    score: Number
    text: str
    rank: NotRequired[int]


@with_config(_OPEN)
class Explanation(TypedDict):
    """Why one regressed scenario regressed: its ranked candidates, or that nothing measured moved."""

    scenario: str
    metrics: list[str]
    candidates: list[Candidate]
    nothing_moved: bool
    text: str
    elsewhere: NotRequired[list[str]]  # statements that moved but are another scenario's (StatementOwner)


@with_config(_OPEN)
class StatementOwner(TypedDict):
    """Whose statement a moved statement is (loadwatch.pipeline.attribution, docs/METHOD.md §9): its `owners` ([] when
    it cannot be told; several when it is shared), by which `method` ("night": its calls follow their requests second
    by second within the night; "nights": its calls per request follow one scenario's share over the baseline nights;
    "none") and why (`reason`); the night's fit: the owners' calls per request (`coefficients`), the `intervals`
    fitted and the residual variance over Poisson noise (`dispersion`)."""

    owners: list[str]
    method: str
    reason: str
    coefficients: dict[str, float]
    intervals: int
    dispersion: float | None


@with_config(_OPEN)
class Attribution(TypedDict, total=False):
    """summary.json's `attribution` block; empty when the run was not compared."""

    statements: dict[str, str]
    explanations: list[Explanation]
    missing: list[str]
    notes: list[str]
    rows: list[AttributionRow]
    change_points: list[ChangePointRow]
    owners: dict[str, StatementOwner]  # by queryid: the statements that moved in a regressed scenario's explanation


class Findings(BaseModel):
    """The compare stage's answer (loadwatch.pipeline.compare.compare_stage): what the run record carries of it."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    verdict_reasons: list[str] = Field(default_factory=list)
    baseline_run_ids: list[str] = Field(default_factory=list)
    comparison: list[Checked[ComparisonRow]] = Field(default_factory=list)
    change_points: list[Checked[ChangePointRow]] = Field(default_factory=list)
    incidents: list[Checked[Incident]] = Field(default_factory=list)
    thresholds: list[Checked[ThresholdRow]] = Field(default_factory=list)
    score: Checked[Score] = Field(default_factory=lambda: Score())
    attribution: Checked[Attribution] = Field(default_factory=lambda: Attribution())
    # every change the night followed or opened (loadwatch.pipeline.open_changes), failing or not
    open_changes: list[OpenChange] = Field(default_factory=list)
    # the night's confirmation load, when its first load found a new regression (loadwatch.pipeline.confirm)
    confirmation: Checked[ConfirmationBlock] | None = None
