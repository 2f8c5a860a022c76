"""Open changes: a regression (a gate row or a confirmed change point) that stays visible until a person triages it.

The typed record every part shares (the verdict, the store, the report, the notifications); the lifecycle rules
live with the comparison (docs/METHOD.md, "Open changes"). A change is keyed by its plan, scenario and metric and
the run that opened it; `status` is where it stands tonight."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["ChangeStatus", "OpenChange", "Triage", "TriageDecision"]

TriageDecision = Literal["expected", "dismissed", "confirmed"]
# open: nobody has decided yet; confirmed: a known regression being worked on (nights at its level pass but stay
# listed, further worsening fails); expected: accepted, the baseline restarts at it; dismissed: a false alarm, its
# nights rejoin the baseline; recovered: the series came back to its baseline without a decision.
ChangeStatus = Literal["open", "confirmed", "expected", "dismissed", "recovered"]


class Triage(BaseModel):
    """A person's decision on a change: what, who, when (ISO 8601, UTC) and why."""

    model_config = ConfigDict(extra="forbid")

    decision: TriageDecision
    by: str
    at: str
    note: str | None = None


class OpenChange(BaseModel):
    """One change as a night sees it: what moved, by how much (with its interval), since when, and whether it fails
    tonight."""

    model_config = ConfigDict(extra="forbid")

    change_id: str
    scenario: str
    metric: str
    status: ChangeStatus
    change_percent: float | None  # the size against the baseline before it; points for error_rate (see `unit`)
    unit: Literal["percent", "points"] = "percent"
    ci: tuple[float, float] | None = None  # the interval of that size, same unit
    first_run_id: str
    first_seen_at: str  # ISO 8601 start of the night that opened it
    nights_open: int  # nights since it opened, that night included
    version_before: str | None = None  # the target's version/commit on the last baseline night, when known
    version_after: str | None = None  # ... and on the night that opened it
    failing: bool  # whether it fails tonight's run (per the plan's `verdict.open_changes`)
    triage: Triage | None = None
    source: Literal["gate", "change_point"] = "gate"  # a gate row, or a change point this run confirmed
    baseline: float | None = None  # the series' baseline value when it opened (the metric's own unit)
    level: float | None = None  # its value on the night that opened it: a confirmed change fails only beyond it
    held: bool = False  # tonight's value belongs to the change, so it is kept out of later baselines
    seen_tonight: bool = False  # tonight shows the change: the night that opened it, or a later one whose row is a
    # regression itself (not merely held by a bad check); the notifications wait for a later such night
    reason: str | None = None  # one line for the verdict and the report ("p95 +41 % since 2026-12-02, open 5 nights")

    @property
    def triage_command(self) -> str:
        """What a person runs to decide on it."""
        return f"loadwatch triage {self.change_id} expected|dismiss|confirm --note '...'"
