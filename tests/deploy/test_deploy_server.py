"""Deployments against a real `prefect server start` on loopback (marked `deploy`; run alone with
`pytest tests/deploy -m deploy`), with the test session's own install (CI's strict editable one): deploy with
deploy/prefect.yaml, run it on a process worker started outside the checkout that finds the checkout through
LOADWATCH_CHECKOUT, refuse a bad parameter, and see `loadwatch serve` pick up a scheduled run. Every child process
tree is killed afterwards."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import procs
import psutil
import pytest
from procs import PREFECT, api_get, api_post, run, spawn

REPO = Path(__file__).resolve().parents[2]
FLOW, DEPLOYMENT = "loadwatch-nightly", "nightly"
LOADWATCH = [sys.executable, "-m", "loadwatch"]

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1500)]


@pytest.fixture
def server(prefect_api: procs.PrefectApi) -> tuple[str, dict[str, str], Path]:
    """The session's server (tests/deploy/conftest.py)."""
    return prefect_api.url, prefect_api.env, prefect_api.home


def _param_args(schema: dict[str, Any], **values: Any) -> list[str]:
    """`--param duration=5` when the flow takes flat parameters; `--param params={...}` while it takes one
    RunParams model (the CLI rejects keys that are not top-level flow parameters)."""
    props = schema.get("properties", {})
    if all(k in props for k in values):
        return [a for k, v in values.items() for a in ("--param", f"{k}={json.dumps(v)}")]
    assert "params" in props, props
    return ["--param", "params=" + json.dumps(values)]


def _run_logs(api: str, flow_run_id: str) -> str:
    logs = api_post(api, "/logs/filter", {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200})
    return "\n".join(f"{entry['level']} {entry['message']}" for entry in logs)[-6000:]


def _descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_deploy_with_prefect_yaml_and_run_on_a_process_worker(
    server: tuple[str, dict[str, str], Path], pg_admin_url: str, tmp_path: Path
) -> None:
    api, env, home = server
    before = _descendants()
    procs.ensure_process_pool(PREFECT, api, "loadwatch-process", env, REPO)
    procs.forget_deployment(api, FLOW, DEPLOYMENT)
    deployed = run([*PREFECT, "--no-prompt", "deploy", "--all", "--prefect-file", "deploy/prefect.yaml"], env, cwd=REPO)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    dep = api_get(api, f"/deployments/name/{FLOW}/{DEPLOYMENT}")
    assert dep["entrypoint"] == "flows/nightly.py:nightly" and dep["work_pool_name"] == "loadwatch-process"
    (sched,) = dep["schedules"]
    assert sched["schedule"]["cron"] == "0 2 * * *" and sched["schedule"]["timezone"] == "UTC" and sched["active"]
    assert "schedule" in json.dumps(sched["parameters"])  # scheduled runs record trigger=schedule
    # the pull step was recorded as written (resolved on the worker), not as this machine's cwd
    steps = json.dumps(dep["pull_steps"])
    assert "LOADWATCH_CHECKOUT" in steps and str(REPO) not in steps
    assert dep["parameter_openapi_schema"]["properties"]

    worker_env = {**env, "LOADWATCH_CHECKOUT": str(REPO), "PREFECT_WORKER_QUERY_SECONDS": "2"}
    worker_log = home / "worker.log"
    with spawn(
        [*PREFECT, "worker", "start", "--pool", "loadwatch-process", "--limit", "1"],
        worker_env,
        worker_log,
        cwd=tmp_path,
    ):
        out_dir = tmp_path / "out"
        params = _param_args(dep["parameter_openapi_schema"], **procs.light_run_params(out_dir))
        triggered = run(
            [*PREFECT, "deployment", "run", f"{FLOW}/{DEPLOYMENT}", *params, "--watch", "--watch-timeout", "900"],
            env,
            timeout=1000,
        )
        assert triggered.returncode == 0, (
            triggered.stdout + triggered.stderr + "\n--- worker log ---\n" + worker_log.read_text()[-6000:]
        )
        assert "Completed" in triggered.stdout
        summary = json.loads((out_dir / "summary.json").read_text())
        assert summary["trigger"] == "ui"  # a run by hand; only the schedule's runs say "schedule"
        assert summary["load"]["requests"] > 0 and summary["plan"]["duration"] == 3
        assert (out_dir / "report.md").is_file()
    leftovers = [p for p in _descendants() - before if psutil.pid_exists(p)]
    assert not leftovers, [psutil.Process(p).cmdline() for p in leftovers]


def test_bad_parameter_is_rejected_at_creation(server: tuple[str, dict[str, str], Path]) -> None:
    api, env, _ = server
    dep = api_get(api, f"/deployments/name/{FLOW}/{DEPLOYMENT}")
    bad = run(
        [
            *PREFECT,
            "deployment",
            "run",
            f"{FLOW}/{DEPLOYMENT}",
            *_param_args(dep["parameter_openapi_schema"], duration=-1),
        ],
        env,
    )
    assert bad.returncode == 1
    assert "duration" in bad.stdout + bad.stderr


def test_loadwatch_serve_runs_a_scheduled_run(
    server: tuple[str, dict[str, str], Path], pg_admin_url: str, tmp_path: Path
) -> None:
    """`loadwatch serve` with an every-minute cron: the server's scheduler creates a run, the serve process
    executes it. (Prefect's ephemeral mode runs no scheduler, so this needs the real server.)"""
    api, env, home = server
    before = _descendants()
    name = "serve-test"
    log = home / "serve.log"
    out_dir = tmp_path / "serve-out"
    plan = tmp_path / "light.yaml"
    plan.write_text(procs.LIGHT_PLAN)
    cmd = [
        *LOADWATCH,
        "serve",
        "--cron",
        "* * * * *",
        "--timezone",
        "UTC",
        "--name",
        name,
        "--plan",
        str(plan),
        "--duration",
        "3",
        "--out",
        str(out_dir),
    ]
    finished: dict[str, Any] | None = None
    with spawn(cmd, {**env, "PREFECT_RUNNER_POLL_FREQUENCY": "2"}, log, cwd=REPO) as proc:
        deadline = time.monotonic() + 420  # next minute boundary + the scheduler's loop + one short run
        while time.monotonic() < deadline and finished is None:
            assert proc.poll() is None, log.read_text()[-4000:]
            time.sleep(3)
            try:
                dep = api_get(api, f"/deployments/name/{FLOW}/{name}")
            except OSError:
                continue
            runs = api_post(
                api,
                "/flow_runs/filter",
                {"flow_runs": {"deployment_id": {"any_": [dep["id"]]}}, "sort": "EXPECTED_START_TIME_ASC", "limit": 10},
            )
            finished = next((r for r in runs if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED")), None)
        assert finished is not None, "no scheduled run finished in time\n" + log.read_text()[-4000:]
        assert dep["schedules"][0]["schedule"]["cron"] == "* * * * *"
        assert dep["paused"] is False
    assert finished["state_type"] == "COMPLETED", (finished["state"].get("message"), _run_logs(api, finished["id"]))
    assert finished["auto_scheduled"] is True  # created by the schedule, not by hand
    params = finished["parameters"]
    assert params.get("params", params)["trigger"] == "serve"
    # the schedule survives the serve process (pause_on_shutdown=False)
    assert api_get(api, f"/deployments/name/{FLOW}/{name}")["paused"] is False
    leftovers = [p for p in _descendants() - before if psutil.pid_exists(p)]
    assert not leftovers, [psutil.Process(p).cmdline() for p in leftovers]
