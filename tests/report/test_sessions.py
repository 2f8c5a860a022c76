"""The report's Sessions section, from a real run (conftest.stateful_run: FastAPI's OAuth2 password flow on loopback,
two sessions whose logins fail): logins and their failures, renewals and what timed them, each login step's own
latency and errors, and the scenario requests not sent for want of a login, in report.md and report.html equal to
summary.json's `load.sessions`. Summaries without sessions (earlier ones, tests/pipeline/summaries) have no section."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import pytest

from loadwatch.errors import InvalidInput
from loadwatch.report import render

from .conftest import Reported
from .tables import check_stats_row, html_sections, md_rows, md_section, num

SUMMARIES = sorted((Path(__file__).parents[1] / "pipeline" / "summaries").glob("*.json.gz"))


def test_the_run_had_what_the_section_must_show(stateful_run: Reported) -> None:
    s = stateful_run.summary["load"]["sessions"]
    assert s["sessions"] == 4 and s["login_failures"] >= 2 and s["logins"] > s["login_failures"]
    assert s["refreshes"] > 0  # (a renewal still in flight when the run ends is abandoned: a failure)
    # the engine says what renews the credentials and what timed each renewal
    assert s["refresh"] == {"every": None, "expires_in": "expires_in", "margin": 0.25, "own_steps": False,
                            "by_trigger": {"expires_in": s["refreshes"]}}
    assert "login/token" not in stateful_run.summary["load"]["scenarios"]  # timed apart


def test_markdown_shows_the_sessions_numbers(stateful_run: Reported) -> None:
    load = stateful_run.summary["load"]
    s = load["sessions"]
    section = md_section(stateful_run.md, "Sessions")
    head = next(line for line in section.splitlines() if line.startswith(f"{s['sessions']} sessions"))
    renewals_failed = f"**{s['refresh_failures']} failed**" if s["refresh_failures"] else "0 failed"
    assert head == (f"{s['sessions']} sessions · logins {s['logins']:,}, **{s['login_failures']:,} failed** · "
                    f"renewals {s['refreshes']:,}, {renewals_failed}")
    assert f"this run's renewals were timed {s['refreshes']:,} by the lifetime the answer gave (expires_in)" in section
    assert "by logging in again when 25% of the lifetime the login's answer gives (its expires_in) is left" in section
    assert "outside the measured scenarios" in section
    rows = md_rows(section)
    step = next(r for r in rows if r[0] == "login/token")
    check_stats_row(step[1:], s["steps"]["login/token"])
    # the session errors by kind: the failed logins' own answers, and the scenario requests that were not sent
    errors = {(r[0], r[1]): int(num(r[2])) for r in rows if r[1] in ("http_4xx", "session_login")}
    assert errors[("login/token", "http_4xx")] == s["steps"]["login/token"]["errors_by_kind"]["http_4xx"]["count"]
    not_sent = ("scenario requests not sent (its session could not log in)", "session_login")
    assert errors[not_sent] == load["errors_by_kind"]["session_login"]["count"] > 0
    assert s["steps"]["login/token"]["errors"] == s["login_failures"]  # one request per login: each failure is one


def test_html_shows_the_sessions_numbers(stateful_run: Reported) -> None:
    s = stateful_run.summary["load"]["sessions"]
    rows, text = html_sections(stateful_run.html)
    assert (f"sessions {s['sessions']} logins {s['logins']:,} logins failed {s['login_failures']:,} "
            f"renewals {s['refreshes']:,} renewals failed {s['refresh_failures']:,}") in text["sessions"]
    assert f"timed {s['refreshes']:,} by the lifetime the answer gave (expires_in)" in text["sessions"]
    assert "outside the measured scenarios" in text["sessions"]
    step = next(r for r in rows["sessions"] if r[0] == "login/token")
    check_stats_row(step[1:], s["steps"]["login/token"])
    assert 'class="kpi bad"' in stateful_run.html  # the failed logins stand out
    # in the report's order: after the scenarios, the journeys, then the sessions and the data sources
    html = stateful_run.html
    assert html.index('id="scenarios"') < html.index('id="journeys"') < html.index('id="sessions"') < html.index(
        'id="data-sources"') < html.index('id="charts"')


def test_the_nights_warning_names_the_failed_logins(stateful_run: Reported) -> None:
    s = stateful_run.summary["load"]["sessions"]
    warning = (f"sessions: {s['login_failures']} of {s['logins']} logins and {s['refresh_failures']} of "
               f"{s['refreshes']} renewals failed")
    assert any(w.startswith(warning) for w in stateful_run.summary["warnings"])
    assert warning in stateful_run.md


def test_a_sessions_block_written_before_the_refresh_rule_renders_without_it(stateful_run: Reported) -> None:
    data = copy.deepcopy(stateful_run.data)
    del data["summary"]["load"]["sessions"]["refresh"]
    md = render.render_markdown(data)
    section = md_section(md, "Sessions")
    assert f"renewals {data['summary']['load']['sessions']['refreshes']}," in section
    assert "Credentials renewed" not in section and "this run's renewals were" not in section


@pytest.mark.parametrize("path", SUMMARIES, ids=lambda p: p.name.split(".")[0])
def test_a_summary_without_sessions_journeys_or_data_has_no_such_sections(path: Path, tmp_path: Path) -> None:
    summary = json.loads(gzip.decompress(path.read_bytes()))
    assert not {"sessions", "journeys", "data"} & set(summary["load"])
    paths = render.write_report({"summary": summary}, tmp_path)
    md, html = paths["md"].read_text(), paths["html"].read_text()
    for title in ("Sessions", "Journeys", "Data sources"):
        assert f"### {title}" not in md and f"<h2>{title}</h2>" not in html
    assert not {"sessions", "journeys", "data-sources"} & set(html_sections(html)[0])


@pytest.mark.parametrize(
    ("block", "change", "field"),
    [
        ("sessions", lambda s: s.update(logins="many"), "summary.load.sessions.logins"),
        ("sessions", lambda s: s["steps"]["login/token"].pop("latency_ms"),
         "summary.load.sessions.steps.login/token.latency_ms"),
        ("journeys", lambda j: j["edit"].update(requests=None), "summary.load.journeys.edit.requests"),
        ("data", lambda d: d["notes"].update(wraps="often"), "summary.load.data.notes.wraps"),
    ],
)
def test_a_block_that_does_not_validate_is_refused_naming_the_field(stateful_run: Reported, block, change, field,
                                                                     tmp_path: Path) -> None:
    data = copy.deepcopy(stateful_run.data)
    change(data["summary"]["load"][block])
    with pytest.raises(InvalidInput) as err:
        render.write_report(data, tmp_path / "out")
    assert err.value.field == field and err.value.exit_code == 2
    assert not (tmp_path / "out").exists()
