"""The report renders realistic, empty and hostile input: HTML self-contained and escaped, Markdown short and
naming what changed, the Prefect table rows plain JSON."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from loadwatch.errors import InvalidInput
from loadwatch.report import render as report
from loadwatch.report.markdown import md_escape
from loadwatch.report.view import build_view, scenario_table

from .synthetic import HOSTILE, failed_summary, make_data

STEP_SCENARIO = "search_tools"
MAX_BYTES = 2 * 1024 * 1024
# anything that would make a browser fetch: scripts/styles/images by URL, CSS url() and @import of a remote
FETCH_PATTERNS = [
    r"<script[^>]*\bsrc\s*=",
    r"<link[^>]*\bhref\s*=",
    r"<(img|iframe|embed|object|source|video|audio)\b[^>]*\b(src|data)\s*=\s*[\"']?(https?:)?//",
    r"url\(\s*[\"']?\s*(https?:)?//",
    r"@import",
    r"(xlink:)?href\s*=\s*[\"'](https?:)?//",
]


@pytest.fixture(scope="module")
def step30() -> dict:
    return make_data(30, step_at=20, step_scenario=STEP_SCENARIO)


@pytest.fixture(scope="module")
def regression30() -> dict:
    return make_data(30, step_at=30, step_scenario=STEP_SCENARIO)


def _charts(html: str) -> list[str]:
    return re.findall(r'<figure id="(chart-[a-z]+)"', html)


def assert_self_contained(html: str) -> None:
    for pat in FETCH_PATTERNS:
        m = re.search(pat, html, flags=re.I)
        assert m is None, f"external fetch {m.group(0)!r}"
    assert len(html.encode()) <= MAX_BYTES


def test_first_run_without_history_renders(tmp_path: Path) -> None:
    data = make_data(1)
    paths = report.write_report(data, tmp_path / "out")
    assert set(paths) == {"html", "md", "summary"}
    html = paths["html"].read_text()
    md = paths["md"].read_text()
    assert "First run of this plan" in html and "First run of this plan" in md
    assert "NOT ENOUGH HISTORY YET" in html
    # no history: no trend charts, but this run's own series and spectrum are drawn
    assert _charts(html) == ["chart-timeline", "chart-spectrum"]
    assert "Trend charts appear from the second stored run on" in html
    assert_self_contained(html)


@pytest.mark.parametrize(
    "data",
    [
        {"summary": failed_summary()},
        {"mode": "review", "summary": failed_summary()},
        {"summary": failed_summary(), "history": [{"run_id": "a", "started_at": None, "verdict": None,
                                                   "metrics": {"*": {"p95_ms": 5.0}}}],
         "timeline": [], "resource_samples": [], "spectrum": {"current": [], "baseline": []}, "incidents": []},
        # imported seed runs have host samples only; a generator-only series has nothing to draw
        {"summary": failed_summary(),
         "resource_samples": [{"t": 1.0, "group": "generator", "cpu_percent": 5, "rss_mb": None}]},
        {"summary": failed_summary(),
         "resource_samples": [{"t": float(i), "group": "host", "cpu_percent": 5, "rss_mb": None} for i in range(5)]},
        # an aborted run whose load had nothing answered yet
        {"summary": failed_summary(status="aborted", verdict="aborted", load={
            "requests": 0, "errors": 0, "rps": 0.0, "scenarios": {},
            "latency_ms": {"p50": None, "p95": None, "p99": None, "max": None}})},
    ],
)
def test_missing_parts_render(data: dict, tmp_path: Path) -> None:
    paths = report.write_report(data, tmp_path)
    html = paths["html"].read_text()
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert paths["md"].read_text().startswith("## loadwatch:")
    assert json.loads(paths["summary"].read_text()) == data["summary"]
    # no gate: the Prefect table has the whole run's row when there was a load or a history, else none
    latest = data["history"][-1]["metrics"]["*"]["p95_ms"] if data.get("history") else None  # else: nothing answered
    whole_run = {"scenario": "all scenarios", "latest_p95_ms": latest, "baseline_median_p95_ms": None,
                 "change_percent": None, "interval": "–", "outcome": "–"}
    assert scenario_table(data) == ([whole_run] if data["summary"].get("load") or data.get("history") else [])


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "summary"),
        ({"mode": "review"}, "summary"),
        ({"summary": {"verdict": "failed", "verdict_reasons": ["target unreachable"]}}, "summary.run_id"),
        ({"summary": "junk"}, "summary"),
        ({"summary": failed_summary(), "history": [1, None]}, "history[0]"),
        ({"summary": failed_summary(), "timeline": [None]}, "timeline[0]"),
        ({"summary": failed_summary(), "spectrum": {"current": [[1], "x"]}}, "spectrum.current[1]"),
        ({"summary": failed_summary(), "incidents": [{"changes": "none"}]}, "incidents[0].run_id"),
        ({"summary": failed_summary(verdict="unknown")}, "summary.verdict"),
        ({"summary": failed_summary(comparison=[{"outcome": "regression"}])}, "summary.comparison[0].scenario"),
        ({"summary": failed_summary(thresholds=[{"passed": False}])}, "summary.thresholds[0].expr"),
        ({"summary": failed_summary(change_points=[{"run_id": None}])}, "summary.change_points[0].scenario"),
        ({"summary": failed_summary(load={"requests": 3, "latency_ms": None})}, "summary.load.latency_ms"),
        ({"summary": failed_summary(capacity={"capacity_rps": 1.0})}, "summary.capacity.bracket"),
    ],
)
def test_input_that_does_not_validate_is_refused_naming_the_field(data: dict, field: str, tmp_path: Path) -> None:
    """The report input is validated once, through the run record's model: what does not validate is refused in
    one message (exit 2) before any file is written, instead of rendering a report of junk."""
    with pytest.raises(InvalidInput) as err:
        report.write_report(data, tmp_path / "out")
    assert err.value.field == field and err.value.exit_code == 2
    assert not (tmp_path / "out").exists()
    with pytest.raises(InvalidInput):
        scenario_table(data)


def test_keys_the_record_model_does_not_know_stay_in_summary_json(tmp_path: Path) -> None:
    # the trend review adds `open_regressions`; a later version may add its own keys
    summary = failed_summary(open_regressions=["list_tools p95_ms +40.0% since 2026-01-20"], future={"x": 1})
    paths = report.write_report({"mode": "review", "summary": summary}, tmp_path)
    assert json.loads(paths["summary"].read_text()) == summary


def test_failed_run_says_so() -> None:
    data = {"summary": failed_summary()}
    html = report.render_html(data)
    assert "RUN FAILED" in html and "target unreachable: connection refused" in html
    assert "RUN FAILED" in report.render_markdown(data)


def test_step_at_night_20_is_an_incident_with_its_first_bad_run(step30: dict) -> None:
    html = report.render_html(step30)
    md = report.render_markdown(step30)
    night20 = step30["history"][19]["run_id"]
    assert {c["run_id"] for c in step30["summary"]["change_points"]} == {night20}
    # incidents come before the scenario table and the charts, and name the first bad run
    assert html.index('id="incidents"') < html.index('id="scenarios"') < html.index('id="charts"')
    incidents_html = html[html.index('id="incidents"') : html.index('id="scenarios"')]
    assert f'first bad run <span class="mono">{night20}</span>' in incidents_html
    assert STEP_SCENARIO in incidents_html and "+40." in incidents_html
    assert _charts(html) == ["chart-trend", "chart-throughput", "chart-timeline", "chart-spectrum"]
    # the trend chart marks the change point: a dashed red vertical line
    trend = html[html.index('id="chart-trend"') : html.index('id="chart-throughput"')]
    assert "#cb181d" in trend and "stroke-dasharray" in trend
    incidents_md = md[md.index("### Incidents") : md.index("### Scenarios")]
    assert STEP_SCENARIO in incidents_md and night20 in incidents_md


def test_regression_banner_findings_and_markdown(regression30: dict, tmp_path: Path) -> None:
    assert regression30["summary"]["verdict"] == "regression"
    paths = report.write_report(regression30, tmp_path)
    html, md = paths["html"].read_text(), paths["md"].read_text()
    assert 'class="banner v-bad"' in html and ">REGRESSION<" in html
    view = build_view(regression30)
    top = view["findings"][0]
    assert top["outcome"] == "regression" and top["metric_label"].startswith("p")
    assert {f["scenario"] for f in view["findings"]} == {"*", STEP_SCENARIO}
    assert top["change"].startswith("+4") and top["interval"] != "–" and top["n_baseline"] == 20
    # the interval of the change is printed next to it, in both outputs
    assert top["interval"] in html and top["interval"] in md
    assert md.startswith("## loadwatch: REGRESSION")
    row = next(line for line in md.splitlines() if line.startswith(f"| **{STEP_SCENARIO}** | p95 |"))
    assert "regression" in row and top["first_bad"] in row
    assert len(md) < 6000  # short enough for a PR comment
    assert "http://" not in md and "https://" not in md and "](" not in md  # link-free


def test_scenario_table_rows_for_the_prefect_artifact(regression30: dict) -> None:
    rows = scenario_table(regression30)
    assert [r["scenario"] for r in rows][:2] == ["all scenarios", STEP_SCENARIO]  # flagged first
    assert set(rows[0]) == {
        "scenario",
        "latest_p95_ms",
        "baseline_median_p95_ms",
        "change_percent",
        "interval",
        "outcome",
    }
    step = rows[1]
    assert step["outcome"] == "regression" and step["change_percent"] > 30
    assert step["latest_p95_ms"] > step["baseline_median_p95_ms"]
    json.dumps(rows)  # plain JSON for create_table_artifact


def test_hostile_strings_are_escaped(tmp_path: Path) -> None:
    data = make_data(12, step_at=12, step_scenario=HOSTILE, scenarios=[HOSTILE, "list_tools"])
    s = data["summary"]
    s["run_id"] = '"><script>alert(2)</script>'
    s["verdict_reasons"].append("<img src=x onerror=alert(3)>")
    s["warnings"] = ["</style><script>alert(4)</script>"]
    s["plan"]["name"] = "<b>plan</b> | `x` *y*"
    s["plan"]["target_url"] = 'http://evil.example/"><script>alert(5)</script>'
    s["load"]["errors_by_kind"] = {
        HOSTILE: {"count": 2, "sample": "<iframe src=//evil.example></iframe> [x](http://e)"}
    }
    s["thresholds"].append(
        {"expr": "p95 < 1ms <script>", "scenario": HOSTILE, "value": 5, "limit": 1, "unit": "ms", "passed": False}
    )
    paths = report.write_report(data, tmp_path)
    html, md = paths["html"].read_text(), paths["md"].read_text()
    assert HOSTILE in json.dumps(s["comparison"])  # the hostile scenario really went through the gate
    assert "<script" not in html.lower()  # the report has no scripts at all, and none got in
    assert "<img" not in html and "<iframe" not in html and "onerror=alert(3)>" not in html.replace("&gt;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown, as text
    assert "</style><script>" not in html
    assert_self_contained(html)
    # in the charts too: matplotlib writes it as XML text
    charts_part = html[html.index('id="charts"') :]
    assert "&lt;script&gt;" in charts_part
    # Markdown: no raw tags, no links, no broken table rows
    # (a code span shows its content literally, so the only raw "<" allowed is inside one)
    outside_code = re.sub(r"`[^`]*`", "", md)
    assert "<" not in outside_code and "](" not in md
    for line in md.splitlines():
        if line.startswith("| ") and "---" not in line:
            cells = re.split(r"(?<!\\)\|", line)
            assert len(cells) in (9, 10), line  # 7 or 8 columns plus the two outer edges


def test_markdown_escaping() -> None:
    assert md_escape("a|b") == "a\\|b"
    assert md_escape("<script>") == "&lt;script&gt;"
    assert md_escape("*bold* [l](u) `c` @team ~~s~~") == "\\*bold\\* \\[l\\](u) \\`c\\` \\@team \\~\\~s\\~\\~"
    assert md_escape("search_tools") == "search_tools"  # intraword underscores stay readable
    assert md_escape("_x_") == "\\_x\\_"
    assert md_escape("two\nlines") == "two lines"


def test_generator_bound_run_says_so_loudly() -> None:
    data = make_data(3, generator_bound=True, gate=False)
    html = report.render_html(data)
    assert 'id="generator-bound"' in html and "never used as a baseline" in html and "--workers" in html
    assert html.index('id="generator-bound"') < html.index('id="incidents"')
    assert "INCONCLUSIVE (generator-bound)" in report.render_markdown(data)


def test_datetimes_and_review_mode(step30: dict) -> None:
    # review passes change points straight from the detector: their times are datetime objects
    data = json.loads(json.dumps(step30))
    data["mode"] = "review"
    for cp in data["summary"]["change_points"]:
        cp["time"] = datetime.fromisoformat(cp["time"])
    data["incidents"] = []
    # (history rows carry ISO strings: loadwatch.record.report_input writes them so for a review too)
    html = report.render_html(data)
    assert "trend review (no new run)" in html and "newest run" in html
    assert "2026-01-20 02:00 UTC" in html  # incident grouped from the change points, time formatted
    assert "trend review, no new run" in report.render_markdown(data)


def test_year_of_history_stays_small(tmp_path: Path) -> None:
    scenarios = [f"scenario_{i:02d}" for i in range(10)]
    data = make_data(365, scenarios=scenarios, step_at=300, step_scenario="scenario_03", seconds=300, gate=False)
    paths = report.write_report(data, tmp_path)
    html = paths["html"].read_text()
    assert_self_contained(html)
    # the trend chart has one panel per scenario and "all"; every table row has its sparkline
    assert html.count('<svg class="spark"') == 11
    assert len(_charts(html)) == 4


def test_charts_without_labelled_lines_stay_silent(recwarn: pytest.WarningsRecorder) -> None:
    # a timeline whose rows carry no rps (e.g. a stored review run) used to make matplotlib warn about an empty
    # legend on the user's terminal
    from loadwatch.report import charts

    rows = [{"t": 1_700_000_000 + i, "requests": 10, "errors": 0, "p95_ms": 5.0} for i in range(30)]
    svg = charts.run_timeline_chart(rows, [])
    assert svg is not None and svg.startswith("<svg")
    assert not [w for w in recwarn if "legend" in str(w.message)]


def test_review_charts_drawn_in_worker_processes_equal_the_serial_ones(step30: dict) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    serial = build_view(step30)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        parallel = build_view(step30, pool)
    assert parallel == serial
