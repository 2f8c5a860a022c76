"""The report's open changes: each with its size and interval, since when, its state, the decision, and the command
to triage it, in the HTML and the Markdown."""

from __future__ import annotations

import pytest

from loadwatch.changes import OpenChange, Triage
from loadwatch.errors import InvalidInput
from loadwatch.report import render as report


def _data() -> dict:
    open_one = OpenChange(change_id="c0a1b2c3d", scenario="search", metric="p95_ms", status="open",
                          change_percent=41.2, ci=(30.1, 52.9), first_run_id="run-15",
                          first_seen_at="2026-12-02T02:00:00+00:00", nights_open=5, failing=True,
                          version_before="1.4.0", version_after="1.5.0")
    confirmed = OpenChange(change_id="c9f8e7d6c", scenario="*", metric="error_rate", status="confirmed",
                           change_percent=2.5, unit="points", first_run_id="run-12",
                           first_seen_at="2026-11-29T02:00:00+00:00", nights_open=8, failing=False,
                           triage=Triage(decision="confirmed", by="alice", at="2026-11-30T09:12:00+00:00",
                                         note="JIRA-12"))
    summary = {"run_id": "run-19", "status": "completed", "started_at": "2026-12-07T02:00:00+00:00",
               "finished_at": "2026-12-07T02:01:00+00:00", "verdict": "regression", "verdict_reasons": [],
               "trigger": "schedule",
               "open_changes": [open_one.model_dump(mode="json"), confirmed.model_dump(mode="json")]}
    return {"summary": summary, "history": []}


def test_open_changes_are_shown_with_their_decision_and_the_triage_command() -> None:
    html = report.render_html(_data())
    md = report.render_markdown(_data())
    for text in (html, md):
        assert "c0a1b2c3d" in text and "+41.2 %" in text and "+30.1, +52.9" in text and "2026-12-02" in text
        assert "+2.5 pts" in text and "confirmed by alice at 2026-11-30 09:12: JIRA-12" in text
        assert "loadwatch triage" in text
    assert "loadwatch triage c0a1b2c3d expected|dismiss|confirm" in html
    assert "1.4.0 → 1.5.0" in html


def test_a_night_without_changes_has_no_section_and_an_odd_one_is_invalid_input() -> None:
    data = _data()
    data["summary"].pop("open_changes")
    assert "Open changes" not in report.render_html(data) and "Open changes" not in report.render_markdown(data)
    data["summary"]["open_changes"] = [{"change_id": 3}]
    with pytest.raises(InvalidInput, match="open_changes"):
        report.render_html(data)
