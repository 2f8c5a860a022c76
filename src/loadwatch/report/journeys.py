"""The report's "Journeys" section (the load summary's `journeys`, loadwatch.engine.session): per journey its
end-to-end latency and errors, and per step (a scenario `journey/step`) its own latency and errors, with the gate's
p95 change of the step against its baseline, so a reader sees which step of a journey got slower."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict

from loadwatch.findings import ComparisonRow
from loadwatch.load_shapes import ScenarioSummary
from loadwatch.report.charts import as_float
from loadwatch.report.format import fmt_change, fmt_num, fmt_pct
from loadwatch.report.sessions import latency_cells

__all__ = ["LATENCY_NOTE", "JourneyView", "journeys_view"]

LATENCY_NOTE = (
    "A journey's latency runs from the intended send time of its first step (a late arrival is late for the whole "
    "journey) to its last step's answer; each step's own latency runs from its own intended send, which for a later "
    "step is the moment the previous step's answer completed (a step waits for the previous answer, with no think "
    "time between steps). A step that fails ends its journey: the steps after it are not sent, and the journey is "
    "an error of the failed step's kind."
)


class StepRow(TypedDict):
    name: str  # the step's name within its journey
    scenario: str  # journey/step, as in the scenario table
    requests: str
    errors: str
    kinds: str  # its errors by kind, "kind count, ..."
    p50: str
    p95: str
    p99: str
    change: str  # the gate's p95 change against the baseline ("–": not judged)
    outcome: str  # the gate's outcome of the step's p95 ("–": not judged)
    slower: bool  # the gate found the step's p95 regressed or suspect


class JourneyView(TypedDict):
    name: str
    requests: str
    errors: str
    error_rate: str
    kinds: str
    p50: str
    p95: str
    p99: str
    steps: list[StepRow]


def _kinds(entry: ScenarioSummary) -> str:
    kinds = sorted(entry["errors_by_kind"].items(), key=lambda kv: -kv[1]["count"])
    return ", ".join(f"{kind} {fmt_num(e['count'])}" for kind, e in kinds)


def _step(name: str, scenario: str, entry: ScenarioSummary, p95: ComparisonRow | None) -> StepRow:
    lat = latency_cells(entry)
    outcome = (p95["outcome"] or "ok") if p95 is not None else "–"
    return StepRow(name=name, scenario=scenario, requests=fmt_num(entry["requests"]), errors=fmt_num(entry["errors"]),
                   kinds=_kinds(entry), p50=lat["p50"], p95=lat["p95"], p99=lat["p99"],
                   change=fmt_change(p95) if p95 is not None else "–", outcome=outcome,
                   slower=outcome in ("regression", "suspect"))


def journeys_view(journeys: Mapping[str, ScenarioSummary], steps: Mapping[str, ScenarioSummary],
                  comparison: Sequence[ComparisonRow]) -> list[JourneyView]:
    """One entry per journey, its steps in their order; empty when the run had no journey."""
    p95 = {c["scenario"]: c for c in comparison if c["metric"] == "p95_ms"}
    out: list[JourneyView] = []
    for name, j in journeys.items():
        lat = latency_cells(j)
        rate = as_float(j["error_rate"])
        out.append(JourneyView(
            name=name,
            requests=fmt_num(j["requests"]),
            errors=fmt_num(j["errors"]),
            error_rate=fmt_pct(100 * rate, signed=False) if j["requests"] and rate is not None else "–",
            kinds=_kinds(j),
            p50=lat["p50"], p95=lat["p95"], p99=lat["p99"],
            steps=[_step(scenario.partition("/")[2], scenario, e, p95.get(scenario))
                   for scenario, e in steps.items() if scenario.partition("/")[0] == name],
        ))
    return out
