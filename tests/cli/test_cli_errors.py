"""The CLI turns every user mistake into one line and exit code 2, infrastructure into 3; no tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from loadwatch.cli import main


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run", "--duration", "-3"], "must be > 0"),
        (["run", "--duration", "abc"], "expected a float"),
        (["run", "--plan", "/nonexistent/plan.yaml"], "/nonexistent/plan.yaml: file not found"),
        (["run", "--target", "http://example.com"], "allow-list"),
        (["run", "--target", "gopher://x"], "target_url"),
        (["bogus-command"], "invalid choice"),
        (["detect", "/nonexistent.csv"], "nonexistent.csv"),
        (["triage", "12", "maybe"], "invalid choice"),
    ],
)
def test_invalid_input_exits_2(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_bad_environment_variable_exits_2_naming_it(monkeypatch, capsys):
    monkeypatch.setenv("LOADWATCH_LOCK_WAIT_S", "ten minutes")
    assert main(["run", "--duration", "1"]) == 2
    err = capsys.readouterr().err
    assert "environment: LOADWATCH_LOCK_WAIT_S" in err and "ten minutes" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_plan_file_names_file_and_field(tmp_path, capsys):
    plan = tmp_path / "p.yaml"
    plan.write_text("load: {rate: 10, duration: 5}\nscenarios:\n  - {name: a, path: nope}\n")
    assert main(["run", "--plan", str(plan)]) == 2
    err = capsys.readouterr().err
    assert f"{plan}: scenarios[0](a).path: must start with '/'" in err


def test_unreachable_database_exits_3(capsys):
    code = main(["triage", "1", "confirm", "--database-url", "postgresql://u:pw@127.0.0.1:1/none"])
    err = capsys.readouterr().err
    assert code == 3
    assert "pw" not in err and "***" in err


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "loadwatch", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for cmd in ("run", "load", "demo-target", "report", "detect", "import", "serve", "triage"):
        assert cmd in out.stdout


def test_an_internal_error_exits_70_with_the_log_path_not_1(monkeypatch, capsys, tmp_path):
    import loadwatch.commands.detect as detect

    monkeypatch.setenv("LOADWATCH_HOME", str(tmp_path))

    def broken(ns):
        raise KeyError("a bug")

    monkeypatch.setattr(detect, "run", broken)
    assert main(["detect", "x.csv"]) == 70
    err = capsys.readouterr().err
    assert "internal error: KeyError" in err and "Traceback" not in err
    log = tmp_path / "loadwatch-error.log"
    assert str(log) in err and "KeyError: 'a bug'" in log.read_text()


# --- a run's outcome -> the exit code: the verdict raises its error (vocabulary.VERDICT_ERROR), each error class
# carries its code, a crash is 70. The flow is replaced by one that ends in a given state; the rest of `loadwatch run`
# (parameters, the static preflight, the printout, main's translation) is the real one.


def _summary(verdict: str, **fields):
    from loadwatch.record import RunSummary

    return RunSummary(run_id="20260101T000000Z-abcdef", status="aborted" if verdict == "aborted" else "completed",
                      started_at="2026-01-01T00:00:00+00:00", finished_at="2026-01-01T00:00:05+00:00",
                      verdict=verdict, trigger="cli", plan={"name": "catalog", "hash": "h"}, **fields)


@pytest.fixture(scope="module", autouse=False)
def prefect_imported():
    """Prefect binds its console log handler to sys.stderr when it is first imported: that must not be a test's
    captured stream (capsys closes it, and every later Prefect log line would fail on it)."""
    import prefect.states  # noqa: F401

    import loadwatch.flows.nightly  # noqa: F401


def _run_ending_in(monkeypatch, tmp_path, state) -> int:
    import os

    import loadwatch.flows.nightly as nightly_module

    # `loadwatch run` sets Prefect's environment with setdefault; put back whatever it was after the test
    for key in ("PREFECT_SERVER_ANALYTICS_ENABLED", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS",
                "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW",
                "LOADWATCH_DATABASE_URL"):
        if key in os.environ:
            monkeypatch.setenv(key, os.environ[key])
        else:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("LOADWATCH_HOME", str(tmp_path))
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:1/api")  # never contacted: the flow is replaced
    calls = []

    def fake_nightly(**params):
        calls.append(params)
        return state

    monkeypatch.setattr(nightly_module, "nightly", fake_nightly)
    code = main(["run", "--duration", "1", "--no-capacity", "--out", str(tmp_path / "out")])
    assert len(calls) == 1 and calls[0]["duration"] == 1
    return code


@pytest.mark.parametrize(
    ("verdict", "code"),
    [("pass", 0), ("insufficient_history", 0), ("regression", 1), ("threshold_breach", 1), ("inconclusive", 3),
     ("failed", 3), ("aborted", 130)],
)
def test_the_verdict_maps_to_its_exit_code(verdict, code, prefect_imported, monkeypatch, tmp_path, capsys):
    from prefect.states import Completed, Failed

    from loadwatch.vocabulary import FAILING_VERDICTS, VERDICT_EXIT

    summary = _summary(verdict, verdict_reasons=[f"because {verdict}"],
                       load={"requests": 120, "errors": 0, "rps": 40.0, "latency_ms": {"p50": 1.5, "p95": None}})
    state = (Failed if verdict in FAILING_VERDICTS else Completed)(message=summary.message, data=summary)
    assert _run_ending_in(monkeypatch, tmp_path, state) == code == VERDICT_EXIT[verdict] == summary.exit_code
    err = capsys.readouterr().err
    assert f"verdict {verdict.upper()}" in err and f"because {verdict}" in err
    assert "120 requests" in err and "p50 1.50 ms" in err and "p95 no answers" in err
    assert f"report: {tmp_path / 'out'}/report.html" in err
    assert ("error: the run's verdict is " + verdict in err) == (code != 0)
    assert "Traceback" not in err


def test_a_state_carrying_the_summary_as_json_maps_the_same(prefect_imported, monkeypatch, tmp_path):
    from prefect.states import Failed

    summary = _summary("regression")
    assert _run_ending_in(monkeypatch, tmp_path, Failed(message="x", data=summary.to_json())) == 1


def test_an_infrastructure_error_of_the_run_exits_3(prefect_imported, monkeypatch, tmp_path, capsys):
    from prefect.states import Failed

    from loadwatch.errors import StoreUnavailable

    state = Failed(message="store", data=StoreUnavailable("the trend store failed; kept in /spool/x.json"))
    assert _run_ending_in(monkeypatch, tmp_path, state) == 3
    assert "error: the trend store failed; kept in /spool/x.json" in capsys.readouterr().err


def test_a_crash_inside_the_run_exits_70_with_the_log_path(prefect_imported, monkeypatch, tmp_path, capsys):
    from prefect.states import Failed

    try:
        {}["missing"]
    except KeyError as exc:
        crash = exc
    assert _run_ending_in(monkeypatch, tmp_path, Failed(message="crash", data=crash)) == 70
    err = capsys.readouterr().err
    log = tmp_path / "loadwatch-error.log"
    assert "internal error: the run failed: KeyError" in err and str(log) in err and "Traceback" not in err
    assert "KeyError: 'missing'" in log.read_text()  # the crash's own traceback, not only the wrapper's


def test_an_interrupt_that_ended_the_flow_exits_130(prefect_imported, monkeypatch, tmp_path, capsys):
    from prefect.states import Crashed

    assert _run_ending_in(monkeypatch, tmp_path, Crashed(message="interrupted", data=KeyboardInterrupt())) == 130
    assert "interrupted" in capsys.readouterr().err


def test_every_verdict_has_an_error_class_carrying_its_code():
    from loadwatch.errors import EXIT_OK
    from loadwatch.vocabulary import VERDICT_ERROR, VERDICT_EXIT, VERDICTS

    assert set(VERDICT_ERROR) == set(VERDICTS) == set(VERDICT_EXIT)
    for verdict, error in VERDICT_ERROR.items():
        assert VERDICT_EXIT[verdict] == (error.exit_code if error else EXIT_OK)
    assert sorted(set(VERDICT_EXIT.values())) == [0, 1, 3, 130]
