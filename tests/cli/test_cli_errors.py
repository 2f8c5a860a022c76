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
    import loadwatch.cli as cli

    monkeypatch.setenv("LOADWATCH_HOME", str(tmp_path))

    def broken(ns):
        raise KeyError("a bug")

    monkeypatch.setattr(cli, "cmd_detect", broken)
    assert main(["detect", "x.csv"]) == 70
    err = capsys.readouterr().err
    assert "internal error: KeyError" in err and "Traceback" not in err
    log = tmp_path / "loadwatch-error.log"
    assert str(log) in err and "KeyError: 'a bug'" in log.read_text()
