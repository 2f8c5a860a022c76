"""The report's input, validated once: loadwatch.record.report_input's ReportInput (a run's record, or for the trend
review a stored summary of any version with the review's findings) as one typed `ReportSource`, its summary validated
through the run record's own model (loadwatch.record.RunSummary, whose findings are loadwatch.findings' rows). The
sub-views read it without checking types again.

A key the record model does not know (a later version's, or the review's `open_regressions`) is set aside for the
view, never dropped from summary.json (loadwatch.report.render writes the summary as it was given). Input that does
not validate is refused here, in one message naming the field (InvalidInput, exit 2), before any file is written."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loadwatch.errors import InvalidInput
from loadwatch.findings import Checked, Incident
from loadwatch.load_shapes import CapacityBlock, DataUse, LoadSummary, ScenarioSummary, SessionsSummary
from loadwatch.record import HistoryRow, ReportInput, ResourceSampleRow, RunSummary, Spectrum

__all__ = ["LoadState", "ReportSource", "capacity_block", "load_state", "report_source"]

class ReportSource(BaseModel):
    """What the report renders: this run (or, in a review, the newest stored run) and its history."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["run", "review"] = "run"
    summary: RunSummary
    history: list[Checked[HistoryRow]] = Field(default_factory=list)
    timeline: list[dict[str, Any]] = Field(default_factory=list)  # per-second rows (the engine's windows)
    resource_samples: list[Checked[ResourceSampleRow]] = Field(default_factory=list)
    spectrum: Checked[Spectrum] = Field(default_factory=lambda: Spectrum(current=[], baseline=[]))
    incidents: list[Checked[Incident]] = Field(default_factory=list)


def _field(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def report_source(data: ReportInput | Mapping[str, Any] | ReportSource) -> ReportSource:
    """`data` validated (a ReportSource is returned as it is). Raises InvalidInput naming the first field that does
    not validate (and how many more do not)."""
    if isinstance(data, ReportSource):
        return data
    summary = data.get("summary") if isinstance(data, Mapping) else None
    if isinstance(summary, Mapping):  # the view reads what the record model knows; summary.json keeps the rest
        data = {**data, "summary": {k: v for k, v in summary.items() if k in RunSummary.model_fields}}
    try:
        # the record validates every block it types (the load, the capacity stage's, the findings); the totals here
        src = ReportSource.model_validate(data)
        src.summary.totals  # noqa: B018 -- the load block's totals, as a model
        return src
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        run = summary.get("run_id") if isinstance(summary, Mapping) else None
        raise InvalidInput(f"{err['msg']}{more}", source=f"report input of run {run}" if run else "report input",
                           field=_field(tuple(err["loc"])) or None) from None


def _journey_steps(load: LoadSummary) -> dict[str, ScenarioSummary]:
    """The scenarios that are steps of the run's journeys (named `journey/step`, in the order they were sent)."""
    journeys = load.get("journeys") or {}
    prefixes = tuple(f"{name}/" for name in journeys)
    if not prefixes:
        return {}
    return {name: entry for name, entry in (load.get("scenarios") or {}).items() if name.startswith(prefixes)}


class LoadState(NamedTuple):
    """What the run did with its sessions, journeys and data sources (validated by report_source): empty or None
    when the run had none, as a summary written before they existed."""

    sessions: SessionsSummary | None
    journeys: dict[str, ScenarioSummary]
    steps: dict[str, ScenarioSummary]  # the journeys' steps, `journey/step`
    data: dict[str, DataUse]


def load_state(summary: RunSummary) -> LoadState:
    load = summary.load
    return LoadState(
        sessions=load.get("sessions"),
        journeys=load.get("journeys") or {},
        steps=_journey_steps(load),
        data=load.get("data") or {},
    )


def capacity_block(summary: RunSummary) -> CapacityBlock | None:
    """The run's capacity block (validated by report_source); None when the run had no capacity stage."""
    return summary.capacity or None
