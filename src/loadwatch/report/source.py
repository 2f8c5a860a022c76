"""The report's input, validated once: loadwatch.record.report_input's ReportInput (a run's record, or for the trend
review a stored summary of any version with the review's findings) as one typed `ReportSource`, its summary validated
through the run record's own model (loadwatch.record.RunSummary, whose findings are loadwatch.findings' rows). The
sub-views read it without checking types again.

A key the record model does not know (a later version's, or the review's `open_regressions`) is set aside for the
view, never dropped from summary.json (loadwatch.report.render writes the summary as it was given). Input that does
not validate is refused here, in one message naming the field (InvalidInput, exit 2), before any file is written."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NamedTuple, cast

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from loadwatch.capacity.search import CapacityBlock
from loadwatch.engine.data import DataUse
from loadwatch.engine.result import ScenarioSummary, SessionsSummary
from loadwatch.errors import InvalidInput
from loadwatch.findings import Checked, Incident
from loadwatch.record import HistoryRow, ReportInput, ResourceSampleRow, RunSummary, Spectrum

__all__ = ["LoadState", "ReportSource", "capacity_block", "load_state", "report_source"]

# the record keeps the capacity block as a mapping (the record sits below the capacity package); validated here
_CAPACITY: TypeAdapter[CapacityBlock] = TypeAdapter(CapacityBlock)
# the load block is the engine's summary, kept as a mapping too; its sessions, journeys (with their steps, which are
# scenarios `journey/step`) and data sources are validated here, against the engine's own types, when the run had them
_SESSIONS: TypeAdapter[SessionsSummary] = TypeAdapter(SessionsSummary)
_NAMED: TypeAdapter[dict[str, ScenarioSummary]] = TypeAdapter(dict[str, ScenarioSummary])
_DATA: TypeAdapter[dict[str, DataUse]] = TypeAdapter(dict[str, DataUse])
_STATE_BLOCKS: tuple[tuple[str, TypeAdapter[Any]], ...] = (("sessions", _SESSIONS), ("journeys", _NAMED),
                                                         ("data", _DATA))


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
    prefix: tuple[int | str, ...] = ()
    try:
        src = ReportSource.model_validate(data)
        prefix = ("summary", "load")
        src.summary.totals  # noqa: B018 -- the load block's totals, validated here once too
        if src.summary.capacity:
            prefix = ("summary", "capacity")
            _CAPACITY.validate_python(src.summary.capacity)
        load = src.summary.load
        for key, adapter in _STATE_BLOCKS:
            if key in load:
                prefix = ("summary", "load", key)
                adapter.validate_python(load[key])
        prefix = ("summary", "load", "scenarios")
        _NAMED.validate_python(_journey_steps(load))
        return src
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        run = summary.get("run_id") if isinstance(summary, Mapping) else None
        raise InvalidInput(f"{err['msg']}{more}", source=f"report input of run {run}" if run else "report input",
                           field=_field(prefix + tuple(err["loc"])) or None) from None


def _journey_steps(load: Mapping[str, Any]) -> dict[str, Any]:
    """The scenarios that are steps of the run's journeys (named `journey/step`, in the order they were sent)."""
    journeys = load.get("journeys")
    scenarios = load.get("scenarios")
    if not isinstance(journeys, Mapping) or not isinstance(scenarios, Mapping):
        return {}
    prefixes = tuple(f"{name}/" for name in journeys)
    return {name: entry for name, entry in scenarios.items() if isinstance(name, str) and name.startswith(prefixes)}


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
        sessions=cast(SessionsSummary, load["sessions"]) if load.get("sessions") is not None else None,
        journeys=cast(dict[str, ScenarioSummary], load.get("journeys") or {}),
        steps=cast(dict[str, ScenarioSummary], _journey_steps(load)),
        data=cast(dict[str, DataUse], load.get("data") or {}),
    )


def capacity_block(summary: RunSummary) -> CapacityBlock | None:
    """The run's capacity block (validated by report_source); None when the run had no capacity stage."""
    return cast(CapacityBlock, summary.capacity) if summary.capacity else None
