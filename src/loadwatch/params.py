"""The nightly run's parameters: one typed model shared by the CLI, the flow and the Prefect UI form.

Titles, descriptions and bounds become the form Prefect renders for a deployment's "Run" button; the
constraints are JSON-schema so the UI checks them before a run is created."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loadwatch.config import NotifySpec, Plan, TargetSpec, check_channel, load_plan
from loadwatch.errors import InvalidInput

__all__ = ["RunParams", "resolve_plan"]


class RunParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: str | None = Field(
        None,
        title="Plan",
        description="Path of a YAML load plan; empty = the bundled Tool Catalog plan (plans/tool_catalog.yaml)",
        max_length=4096,
        json_schema_extra={"position": 0},
    )
    duration: float | None = Field(
        None, title="Duration (s)", description="Overrides the plan's load duration", gt=0, le=86_400,
        json_schema_extra={"position": 1},
    )
    rate: float | None = Field(
        None, title="Rate (req/s)", description="Open model: overrides the plan's arrival rate", gt=0, le=1_000_000,
        json_schema_extra={"position": 2},
    )
    users: int | None = Field(
        None, title="Users", description="Closed model: overrides the plan's virtual users", ge=1, le=100_000,
        json_schema_extra={"position": 3},
    )
    warmup: float | None = Field(
        None, title="Warm-up (s)", description="Seconds excluded from the statistics", ge=0, le=86_400,
        json_schema_extra={"position": 4},
    )
    target_url: str | None = Field(
        None, title="Target URL", description="Overrides the plan's target: `demo` or http(s)://host:port",
        max_length=2048, json_schema_extra={"position": 5},
    )
    thresholds: list[str] | None = Field(
        None, title="Thresholds", description='Replace the plan\'s thresholds, e.g. ["p95 < 50ms", "error_rate < 1%"]',
        json_schema_extra={"position": 6},
    )
    workers: int | None = Field(
        None, title="Generator processes", description="Default: one per 5,000 req/s of the rate, at most one per core",
        ge=1, le=256,
        json_schema_extra={"position": 7},
    )
    shards: int = Field(
        1, title="Shards", description="Split the load over this many Prefect tasks (Dask task runner when > 1)",
        ge=1, le=64, json_schema_extra={"position": 8},
    )
    out_dir: str | None = Field(
        None, title="Output directory", description="Where report.html, report.md and summary.json go",
        max_length=4096, json_schema_extra={"position": 9},
    )
    notes: str | None = Field(None, title="Notes", description="Free text stored with the run", max_length=2000,
                              json_schema_extra={"position": 10})
    tags: list[str] = Field(default_factory=list, title="Tags", description="Tags stored with the run",
                            json_schema_extra={"position": 11})
    trigger: Literal["cli", "schedule", "ui", "ci", "serve"] = Field(
        "ui", title="Trigger", description="Who started the run (recorded with it)", json_schema_extra={"position": 12}
    )
    capacity: bool = Field(
        True, title="Capacity stage", description="Run the plan's capacity: section after the load (false skips it)",
        json_schema_extra={"position": 13},
    )
    notify: list[str] = Field(
        default_factory=list, title="Notify",
        description="Channels added to the plan's notify: section: Apprise URLs (slack://, workflows:// for Teams, "
        "mailto://, pagerduty://, json://...) or block:<block type>/<name> for a Prefect notification block",
        json_schema_extra={"position": 14},
    )
    version: str | None = Field(
        None, title="Target version", description="The build measured (default: the target's version endpoint)",
        max_length=200, json_schema_extra={"position": 15},
    )
    commit: str | None = Field(
        None, title="Target commit", description="Its commit (default: GITHUB_SHA or CI_COMMIT_SHA)", max_length=200,
        json_schema_extra={"position": 16},
    )
    branch: str | None = Field(
        None, title="Target branch",
        description="Its branch (default: GITHUB_HEAD_REF, GITHUB_REF_NAME or CI_COMMIT_REF_NAME)",
        max_length=200, json_schema_extra={"position": 17},
    )
    main_branch: str = Field(
        "main", title="Main branch",
        description="The branch whose runs are the baseline: a run of another branch is judged against them",
        min_length=1, max_length=200, json_schema_extra={"position": 18},
    )


def resolve_plan(params: RunParams) -> Plan:
    """The plan file (or the bundled one) with the run's overrides applied, validated."""
    plan = load_plan(params.plan or None)
    source = params.plan or "plans/tool_catalog.yaml"
    if any(v is not None for v in (params.duration, params.rate, params.users, params.warmup, params.workers)):
        plan = plan.with_load(
            source=source,
            duration=params.duration,
            rate=params.rate,
            users=params.users,
            warmup=params.warmup,
            workers=params.workers,
        )
    if not params.capacity and plan.capacity is not None:
        plan = plan.model_copy(update={"capacity": None})
    if params.target_url:
        try:
            target = TargetSpec.model_validate({**plan.target.model_dump(), "url": params.target_url})
        except ValidationError as exc:
            raise InvalidInput(exc.errors()[0]["msg"].removeprefix("Value error, "), source="parameters",
                               field="target_url") from None
        plan = plan.model_copy(update={"target": target})
    if params.thresholds is not None:
        plan = plan.model_copy(update={"thresholds": list(params.thresholds)})
    if params.notify:
        plan = plan.model_copy(update={"notify": _with_channels(plan.notify, params.notify)})
    return plan


def _with_channels(spec: NotifySpec, refs: list[str]) -> NotifySpec:
    """The plan's notify: section with `--notify` channels added (each checked: an Apprise URL or block:...)."""
    urls, blocks = list(spec.urls), list(spec.blocks)
    for ref in refs:
        try:
            check_channel(ref)
        except ValueError as exc:
            raise InvalidInput(str(exc), source="parameters", field="notify") from None
        if ref.startswith("block:"):
            blocks.append(ref.removeprefix("block:"))
        else:
            urls.append(ref)
    return spec.model_copy(update={"urls": urls, "blocks": blocks})
