"""The report's Journeys section, from a real run (conftest.stateful_run: a journey that creates an item and updates
it with what the creation answered, against FastAPI on loopback): the journey's end-to-end latency and errors and
each step's own, in report.md and report.html equal to summary.json's `load.journeys` and the steps' scenarios;
how latency is measured said once; and a step the gate found slower marked (the view is pure: its comparison row is
given)."""

from __future__ import annotations

import copy

from loadwatch.report import render
from loadwatch.report.journeys import journeys_view
from loadwatch.report.source import load_state, report_source

from .conftest import Reported
from .tables import check_stats_row, html_sections, md_rows, md_section

STEPS = ("edit/create", "edit/update")


def test_the_run_had_a_journey(stateful_run: Reported) -> None:
    load = stateful_run.summary["load"]
    assert set(load["journeys"]) == {"edit"} and load["journeys"]["edit"]["requests"] > 0
    assert all(load["scenarios"][s]["requests"] > 0 for s in STEPS)


def test_markdown_shows_each_journey_and_its_steps(stateful_run: Reported) -> None:
    load = stateful_run.summary["load"]
    section = md_section(stateful_run.md, "Journeys")
    rows = {r[0]: r[1:] for r in md_rows(section)}
    journey = rows["**edit** (end to end)"]
    check_stats_row(journey, load["journeys"]["edit"])
    for step in STEPS:
        check_stats_row(rows[step], load["scenarios"][step])
    order = [r[0] for r in md_rows(section)]
    assert order.index("**edit** (end to end)") < order.index("edit/create") < order.index("edit/update")
    assert "from the intended send time of its first step" in section
    assert "each step's own latency runs from its own intended send" in section


def test_html_shows_each_journey_and_its_steps(stateful_run: Reported) -> None:
    load = stateful_run.summary["load"]
    rows, text = html_sections(stateful_run.html)
    by_name = {r[0]: r[1:] for r in rows["journeys"]}
    check_stats_row(by_name["edit end to end"], load["journeys"]["edit"])
    check_stats_row(by_name["1. create edit/create"], load["scenarios"]["edit/create"])
    check_stats_row(by_name["2. update edit/update"], load["scenarios"]["edit/update"])
    assert "from the intended send time of its first step" in text["journeys"]


def test_the_journeys_errors_are_shown_by_kind(stateful_run: Reported) -> None:
    """The run's failed logins leave journeys unsent (session_login on their first step): the journey's and the
    step's errors by kind are the summary's."""
    load = stateful_run.summary["load"]
    first = load["scenarios"]["edit/create"]
    assert first["errors_by_kind"]["session_login"]["count"] > 0
    rows = {r[0]: r for r in md_rows(md_section(stateful_run.md, "Journeys"))}
    assert f"session_login {first['errors_by_kind']['session_login']['count']:,}" in rows["edit/create"][-1]


def test_a_step_the_gate_found_slower_is_marked(stateful_run: Reported) -> None:
    src = report_source(stateful_run.data)
    state = load_state(src.summary)
    p95 = state.steps["edit/update"]["latency_ms"]["p95"]
    row = {"scenario": "edit/update", "metric": "p95_ms", "value": p95, "baseline": p95 / 1.5, "change_percent": 50.0,
           "ci": [30.0, 70.0], "ci_unit": "percent", "robust_z": 9.0, "checks": {"z": True, "floor": True, "ci": True},
           "outcome": "regression", "n_baseline": 12, "direction": 1, "floor": 10.0}
    view = journeys_view(state.journeys, state.steps, [row])  # type: ignore[list-item]
    steps = {st["scenario"]: st for st in view[0]["steps"]}
    assert steps["edit/update"]["slower"] and steps["edit/update"]["change"] == "+50.0%"
    assert not steps["edit/create"]["slower"] and steps["edit/create"]["change"] == "–"
    data = copy.deepcopy(stateful_run.data)
    data["summary"]["comparison"] = [row]
    md_rows_ = {r[0]: r for r in md_rows(md_section(render.render_markdown(data), "Journeys"))}
    assert md_rows_["edit/update"][6] == "+50.0% **regression**"
    assert 'class="row-regression"><td class="step">2. update' in render.render_html(data)
