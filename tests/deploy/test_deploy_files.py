"""The deployment files, checked without a server: prefect.yaml (deployment, entrypoint, schedule, pull
step), the CI workflow, and the systemd units."""

from __future__ import annotations

import configparser
import importlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_prefect_yaml_deploys_the_nightly_flow_on_a_process_pool() -> None:
    doc = load_yaml(DEPLOY / "prefect.yaml")
    assert doc["build"] is None and doc["push"] is None
    (dep,) = doc["deployments"]
    assert dep["name"] == "nightly"
    path, func = dep["entrypoint"].split(":")
    assert (REPO / path).is_file()
    # the entrypoint is the installed flow `loadwatch-nightly`
    flow = getattr(importlib.import_module("loadwatch.flows.nightly"), func)
    assert flow.name == "loadwatch-nightly"
    assert dep["work_pool"]["name"] == "loadwatch-process"
    assert dep["concurrency_limit"] == 1
    # the flow run's process imports Prefect with loadwatch's module loggers among its extra loggers
    assert dep["work_pool"]["job_variables"]["env"] == {"PREFECT_LOGGING_EXTRA_LOGGERS": "loadwatch"}
    (sched,) = dep["schedules"]
    assert sched["cron"] == "0 2 * * *" and sched["timezone"] == "UTC" and sched["active"] is True
    from zoneinfo import ZoneInfo

    ZoneInfo(sched["timezone"])  # a real IANA zone
    # scheduled runs say so; the keys are parameters the flow accepts
    params = sched["parameters"]
    assert set(params) <= set(flow.parameters.properties)


_RUN_PULL_STEPS = """
import asyncio, json, os, sys
from prefect.deployments.steps.core import run_steps

async def main():
    results = []
    for steps, checkout in json.loads(sys.argv[1]):
        os.chdir(sys.argv[2])
        os.environ.pop("LOADWATCH_CHECKOUT", None)
        if checkout is not None:
            os.environ["LOADWATCH_CHECKOUT"] = checkout
        try:
            out = await run_steps(steps)
            results.append({"directory": out["directory"], "cwd": os.getcwd()})
        except Exception as exc:
            results.append({"error": f"{exc} {exc.__cause__}"})
    print(json.dumps(results))

asyncio.run(main())
"""


def _pull(cases: list[tuple[list[dict[str, Any]], str | None]], cwd: Path) -> list[dict[str, str]]:
    """Each case's pull steps (with its $LOADWATCH_CHECKOUT, or none) run by Prefect's own step runner, as a flow
    run runs them, in one fresh process (under no worker) that starts in `cwd`; what each returned or raised."""
    env = {k: v for k, v in os.environ.items() if k != "LOADWATCH_CHECKOUT"}
    proc = subprocess.run([sys.executable, "-c", _RUN_PULL_STEPS, json.dumps(cases), str(cwd)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results: list[dict[str, str]] = json.loads(proc.stdout.splitlines()[-1])
    return results


def test_prefect_yaml_pull_step_finds_the_checkout_at_run_time(tmp_path: Path) -> None:
    """The explicit pull step (loadwatch's locate_checkout, then set_working_directory on its output), run as a
    worker's flow run runs it. With no worker above it, $LOADWATCH_CHECKOUT is the first place; a directory that is
    not a checkout, and a missing default, fail the run with a message naming every place looked at. (The worker's
    own directory coming first is proven with a real worker: tests/deploy/test_deploy_install.py.)"""
    doc = load_yaml(DEPLOY / "prefect.yaml")
    locate, chdir = doc["pull"]
    step = locate["loadwatch.prefect_adapter.steps.locate_checkout"]
    assert step == {"id": "locate-checkout", "env_var": "LOADWATCH_CHECKOUT", "default": "/opt/loadwatch"}
    assert chdir["prefect.deployments.steps.set_working_directory"]["directory"] == "{{ locate-checkout.directory }}"
    as_written = json.loads(json.dumps(doc["pull"]))
    step["default"] = str(tmp_path / "no-such-checkout")  # this machine may have a real /opt/loadwatch

    ok, bad, unset = _pull([(as_written, str(REPO)), (doc["pull"], str(tmp_path)), (doc["pull"], None)], tmp_path)
    assert ok == {"directory": str(REPO.resolve()), "cwd": str(REPO.resolve())}
    for named in ("worker's working directory: not known", f"$LOADWATCH_CHECKOUT {tmp_path}: no flows/nightly.py",
                  f"the default {tmp_path / 'no-such-checkout'}: no flows/nightly.py", "set LOADWATCH_CHECKOUT"):
        assert named in bad.get("error", ""), bad
    assert "$LOADWATCH_CHECKOUT: not known" in unset.get("error", ""), unset


def test_ci_workflow_structure() -> None:
    wf = load_yaml(DEPLOY / "github" / "loadwatch.yml")
    on = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads a bare `on` as True
    assert "pull_request" in on and on["push"]["branches"] == ["main"]
    jobs = wf["jobs"]
    pr = jobs["pr-load-test"]
    runs = [s.get("run", "") for s in pr["steps"]]
    assert any("loadwatch run --duration 8 --out out" in r for r in runs)
    summary = next(s for s in pr["steps"] if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert summary["if"] == "always()" and "out/report.md" in summary["run"]
    upload = next(s for s in pr["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "out/"
    # the run's exit code is kept, so the summary, the comment and the upload happen whatever it is ...
    run = next(s for s in pr["steps"] if "loadwatch run" in s.get("run", ""))
    assert run["id"] == "run" and "set +e" in run["run"] and 'echo "code=$?" >> "$GITHUB_OUTPUT"' in run["run"]
    # ... one PR comment, found by its marker and updated in place (PATCH), created only when missing (POST)
    comment = next(s for s in pr["steps"] if "gh api" in s.get("run", ""))
    assert comment["if"].startswith("always()") and "out/report.md" in comment["run"]
    assert "<!-- loadwatch-report -->" in comment["run"] and "--method PATCH" in comment["run"]
    assert comment["run"].count("--method POST") == 1 and pr["permissions"]["pull-requests"] == "write"
    # ... and the last step sets the check from the exit code
    verdict = pr["steps"][-1]
    assert verdict["if"] == "always()" and verdict["env"]["CODE"] == "${{ steps.run.outputs.code }}"
    assert 'exit "$CODE"' in verdict["run"]
    main = jobs["deploy-and-run"]
    main_runs = "\n".join(s.get("run", "") for s in main["steps"])
    # deployed from the installed package (module entrypoint), so the worker needs no checkout
    assert "loadwatch deploy" in main_runs and "prefect.yaml" not in main_runs
    assert "pip install ." in main_runs and "-e ." not in main_runs
    assert "prefect deployment run 'loadwatch-nightly/nightly'" in main_runs and "--watch" in main_runs
    assert "--watch-timeout" in main_runs
    for secret in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING", "PREFECT_API_KEY"):
        assert main["env"][secret] == f"${{{{ secrets.{secret} }}}}"
    assert all(job.get("timeout-minutes") for job in jobs.values())


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint not installed")
def test_actionlint_accepts_the_workflow() -> None:
    proc = subprocess.run(
        ["actionlint", str(DEPLOY / "github" / "loadwatch.yml")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("unit", ["loadwatch-worker", "loadwatch-serve", "loadwatch-server"])
def test_systemd_units(unit: str) -> None:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    cp.read_string((DEPLOY / "systemd" / f"{unit}.service").read_text())
    assert set(cp.sections()) == {"Unit", "Service", "Install"}
    svc = cp["Service"]
    assert svc["Restart"] == "always" and svc["User"] == "loadwatch"
    assert svc["ExecStart"].startswith("/")  # systemd needs an absolute path
    assert cp["Install"]["WantedBy"] == "multi-user.target"
    if unit == "loadwatch-worker":
        assert "worker start --pool loadwatch-process" in svc["ExecStart"] and "--limit 1" in svc["ExecStart"]
        assert svc["EnvironmentFile"] == "/etc/loadwatch/loadwatch.env"
    if unit == "loadwatch-serve":
        assert svc["ExecStart"].endswith("loadwatch serve")
    if unit == "loadwatch-server":
        assert "loadwatch server" in svc["ExecStart"]


def test_the_watchdog_timer_runs_the_watchdog_hourly() -> None:
    def read(name: str) -> configparser.ConfigParser:
        cp = configparser.ConfigParser(strict=False, interpolation=None)
        cp.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
        cp.read_string((DEPLOY / "systemd" / name).read_text())
        return cp

    svc, timer = read("loadwatch-watchdog.service"), read("loadwatch-watchdog.timer")
    assert svc["Service"]["Type"] == "oneshot" and svc["Service"]["User"] == "loadwatch"
    argv = shlex.split(svc["Service"]["ExecStart"])
    assert argv[0].startswith("/") and argv[1:3] == ["watchdog", "--plan"]
    assert svc["Service"]["SuccessExitStatus"] == "1"  # a missed night told is the check's finding
    assert timer["Timer"]["Unit"] == "loadwatch-watchdog.service" and timer["Timer"]["OnCalendar"] == "hourly"
    assert timer["Install"]["WantedBy"] == "timers.target"
    from loadwatch.cli import build_parser

    ns = build_parser("watchdog").parse_args(argv[1:])  # the unit's arguments are the command's
    assert ns.plan == ["/etc/loadwatch/plan.yaml"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit", ["loadwatch-worker", "loadwatch-serve", "loadwatch-server"])
def test_systemd_analyze_verify(unit: str) -> None:
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(DEPLOY / "systemd" / f"{unit}.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [
        line for line in (proc.stdout + proc.stderr).splitlines() if line.strip() and "is not executable" not in line
    ]  # /opt/loadwatch is not installed here
    assert not problems, problems


def test_deploy_module_entrypoint_loads_the_installed_flow() -> None:
    """`loadwatch deploy`'s entrypoint is a module path in Prefect's sense (no colon: no storage, no sys.path
    change on the worker) and names the flow object itself."""
    from prefect.flows import load_flow_from_entrypoint

    from loadwatch.prefect_adapter.deployments import NIGHTLY_ENTRYPOINT

    assert ":" not in NIGHTLY_ENTRYPOINT
    flow = load_flow_from_entrypoint(NIGHTLY_ENTRYPOINT, use_placeholder_flow=False)
    assert flow is importlib.import_module("loadwatch.flows.nightly").nightly
    assert flow.name == "loadwatch-nightly"


@pytest.mark.parametrize(
    ("args", "api", "message"),
    [
        ([], None, "PREFECT_API_URL"),  # Prefect's temporary API would vanish with the command
        (["--timezone", "Mars/Olympus"], "http://127.0.0.1:9/api", "--timezone"),
        (["--cron", "61 * * * *"], "http://127.0.0.1:9/api", "--cron"),
    ],
)
def test_deploy_refuses_without_a_server_or_with_bad_input(
    args: list[str], api: str | None, message: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(tmp_path)  # no profile with an API URL
    if api:
        env["PREFECT_API_URL"] = api  # never contacted: the input is checked first
    proc = subprocess.run([sys.executable, "-m", "loadwatch", "deploy", *args], env=env, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
