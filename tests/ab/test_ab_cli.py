"""`loadwatch ab` end to end: two real builds of a small stdlib service started by their command templates on
loopback ports, the plan's load against them in alternating rounds, the verdict as the exit code.

The slowdown is ×2 (3 → 6 ms of service time), far beyond what a busy shared machine moves a median by, so the
regression test cannot pass or fail by chance; the A/A pair uses a 15 % floor for the same reason."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from loadwatch.cli import main

SERVER = Path(__file__).with_name("ab_server.py")


def _cmd(delay_ms: float) -> str:
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(SERVER))} --port {{port}} --delay-ms {delay_ms:g}"


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    p = tmp_path / "ab_plan.yaml"
    p.write_text(
        "name: ab_test\n"
        "target: {health_path: /health, startup_timeout: 30}\n"
        "load: {model: open, rate: 80, duration: 10, timeout: {connect: 2, total: 5}}\n"
        "scenarios:\n"
        "  - {name: items, path: /items}\n"
    )
    return p


def test_known_slowdown_is_a_regression(plan, tmp_path, capsys):
    out = tmp_path / "ab.json"
    html = tmp_path / "ab.html"
    code = main(["ab", "--plan", str(plan), "--baseline-cmd", _cmd(3), "--candidate-cmd", _cmd(6),
                 "--percentiles", "p50", "--alpha", "0.05", "--looks", "1", "--max-pairs", "7", "--round", "1.5",
                 "--budget", "300", "--json", str(out), "--html", str(html), "--quiet"])
    assert code == 1
    doc = json.loads(out.read_text())
    assert doc["verdict"] == "regression" and doc["exit_code"] == 1
    # 7 usable pairs judged; more were run only if a generator-bound pair had to be replaced
    replaced = {r["index"] // 2 for r in doc["rounds"] if r["generator_bound"]}
    assert doc["pairs"] == 7 + len(replaced)
    row = next(r for r in doc["rows"] if r["scenario"] == "*" and r["percentile"] == "p50")
    assert row["verdict"] == "regression"
    assert 50.0 < row["paired"]["percent_low"] <= row["paired"]["percent"] <= row["paired"]["percent_high"] < 200.0
    assert row["pairs"] == len(row["ms_a"]) == len(row["ms_b"]) == 7
    assert [r["build"] for r in doc["rounds"][:4]] == ["A", "B", "B", "A"]
    assert all(r["histograms"]["*"] for r in doc["rounds"])  # every round's histogram is kept
    page = html.read_text()
    assert page.count('class="a"') >= 7 and page.count('class="b"') >= 7 and "regression" in page
    assert "**REGRESSION**" in capsys.readouterr().out


def test_a_build_that_fails_fast_is_a_regression_not_an_improvement(plan, tmp_path):
    out = tmp_path / "fail.json"
    code = main(["ab", "--plan", str(plan), "--baseline-cmd", _cmd(3), "--candidate-cmd", _cmd(3) + " --fail",
                 "--percentiles", "p50", "--alpha", "0.05", "--looks", "1", "--max-pairs", "2", "--round", "1.5",
                 "--budget", "300", "--json", str(out), "--quiet"])
    doc = json.loads(out.read_text())
    assert code == 1
    rows = {r["percentile"]: r for r in doc["rows"] if r["scenario"] == "*"}
    assert rows["error_rate"]["verdict"] == "regression" and "→ 100.00 %" in rows["error_rate"]["reason"]
    assert any("build B answered" in w for w in doc["warnings"])


def test_aa_same_build_twice_is_no_regression(plan, tmp_path):
    out = tmp_path / "aa.json"
    code = main(["ab", "--plan", str(plan), "--baseline-cmd", _cmd(5), "--aa", "--percentiles", "p50",
                 "--floor", "p50=15", "--alpha", "0.05", "--looks", "1", "--max-pairs", "8", "--round", "1.5",
                 "--budget", "400", "--json", str(out), "--quiet"])
    doc = json.loads(out.read_text())
    assert code == 0, doc["rows"]
    assert doc["mode"] == "aa" and doc["verdict"] == "no_regression"
    assert doc["false_alarms"]["rows_flagged"] == []
    assert doc["false_alarms"]["rows_judged"] == 2  # one scenario: the whole run's p50 and its error rate
    assert doc["baseline"] != doc["candidate"]  # two instances of the same build
    assert {r["verdict"] for r in doc["rows"]} == {"no_change"}


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ([], "--baseline URL or --baseline-cmd"),
        (["--baseline", "http://127.0.0.1:9"], "--candidate URL or --candidate-cmd"),
        (["--baseline", "http://127.0.0.1:9", "--candidate", "http://127.0.0.1:9", "--aa"], "--aa compares"),
        (["--baseline", "http://example.com:80", "--aa"], "loopback"),
        (["--baseline", "ftp://127.0.0.1:9", "--aa"], "http(s)://host:port"),
        (["--baseline-cmd", "server --listen 8080", "--aa"], "must contain {port}"),
        (["--baseline-cmd", "server --port {port} --dir {checkout}", "--aa"], "unknown placeholder"),
        (["--baseline-cmd", "server 'unterminated {port}", "--aa"], "cannot split"),
        (["--baseline", "http://127.0.0.1:9", "--aa", "--floor", "p50"], "--floor"),
        (["--baseline", "http://127.0.0.1:9", "--aa", "--floor", "p42=3"], "--floor"),
        (["--baseline", "http://127.0.0.1:9", "--aa", "--percentiles", "p50,median"], "median"),
        (["--baseline", "http://127.0.0.1:9", "--aa", "--alpha", "0.7"], "--alpha"),
        (["--baseline", "http://127.0.0.1:9", "--aa", "--budget", "3", "--round", "2"], "--budget"),
        (["--baseline", "http://127.0.0.1:9", "--aa", "--json", "/nonexistent/dir/x.json"], "does not exist"),
        (["--baseline", "http://127.0.0.1:9", "--aa", "--budget", "-1"], "must be > 0"),
    ],
)
def test_bad_input_exits_2_with_one_line(plan, extra, needle, capsys):
    assert main(["ab", "--plan", str(plan), *extra]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_plan_names_the_file(capsys):
    assert main(["ab", "--plan", "/nonexistent/plan.yaml", "--baseline", "http://127.0.0.1:9", "--aa"]) == 2
    assert "/nonexistent/plan.yaml: file not found" in capsys.readouterr().err


def test_unreachable_baseline_is_infrastructure(plan, capsys):
    from loadwatch.ab.builds import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert main(["ab", "--plan", str(plan), "--baseline", url, "--aa", "--quiet"]) == 3
    assert "cannot connect" in capsys.readouterr().err


def test_build_that_dies_at_start_is_infrastructure(plan, capsys):
    dying = f"{shlex.quote(sys.executable)} -c 'import sys; sys.exit(4)' {{port}}"
    assert main(["ab", "--plan", str(plan), "--baseline-cmd", dying, "--candidate-cmd", _cmd(3), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "build A" in err and "exited with code 4" in err and ".log" in err
