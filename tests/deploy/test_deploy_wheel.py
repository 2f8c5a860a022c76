"""`loadwatch deploy` from a built wheel, with no checkout anywhere (marked `deploy`; run alone with
`pytest tests/deploy -m deploy`).

The wheel is installed into a fresh venv outside the checkout; from that venv `loadwatch deploy` registers the
nightly deployment with a real `prefect server` on loopback, and a process worker started in an empty
directory (no LOADWATCH_CHECKOUT, no PYTHONPATH) runs it to Completed. Every child process tree is killed
afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from procs import (
    api_get,
    checkout_copy,
    install_into_fresh_venv,
    leaves_no_children,
    light_run_params,
    outside_env,
    prefect_server,
    run,
    run_deployment,
    spawn,
)

REPO = Path(__file__).resolve().parents[2]
FLOW, DEPLOYMENT, POOL = "loadwatch-nightly", "nightly", "loadwatch-process"
ENTRYPOINT = "loadwatch.flows.nightly.nightly"

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1800)]


def _install_wheel(tmp: Path) -> Path:
    """Build the wheel (no deps) from a copy of the checkout and install it with its dependencies into a new
    venv; returns the venv."""
    wheels = tmp / "wheels"
    src = checkout_copy(REPO, tmp / "src")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "-w", str(wheels), "--no-deps", "-q"],
        env=outside_env(os.environ), capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("loadwatch-*.whl")
    return install_into_fresh_venv(tmp / "venv", str(wheel), cwd=tmp)


def test_wheel_deploy_runs_on_a_worker_without_a_checkout(
    tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, fresh_db: str
) -> None:
    tmp = tmp_path_factory.mktemp("wheel")
    with leaves_no_children(), ThreadPoolExecutor(1) as pool:
        # the install (minutes) and the server's start (seconds) overlap
        install = pool.submit(_install_wheel, tmp)
        with prefect_server(tmp_path_factory.mktemp("prefect-home")) as (api, server_env):
            venv = install.result(timeout=1800)
            bin_dir = venv / "bin"
            nowhere = tmp_path_factory.mktemp("not-a-checkout")  # every command below runs here
            env = outside_env(server_env, venv)

            where = run([str(bin_dir / "python"), "-c", "import loadwatch.flows.nightly as m; print(m.__file__)"],
                        env, cwd=nowhere, timeout=120)
            assert where.returncode == 0 and where.stdout.strip().startswith(str(venv)), where.stdout + where.stderr

            deployed = run([str(bin_dir / "loadwatch"), "deploy"], env, cwd=nowhere, timeout=300)
            assert deployed.returncode == 0, deployed.stdout + deployed.stderr
            dep = api_get(api, f"/deployments/name/{FLOW}/{DEPLOYMENT}")
            # a module entrypoint and nothing to fetch: the worker imports the flow from its installed package
            assert dep["entrypoint"] == ENTRYPOINT
            assert not dep["pull_steps"] and not dep["path"]
            assert dep["work_pool_name"] == POOL and dep["work_queue_name"] == "default"
            assert api_get(api, f"/work_pools/{POOL}")["type"] == "process"  # created by `loadwatch deploy`
            # the server reports a deployment's concurrency limit as a global limit (`concurrency_limit` is kept null)
            assert dep["global_concurrency_limit"]["limit"] == 1 and dep["enforce_parameter_schema"] is True
            assert set(dep["tags"]) == {"loadwatch", "nightly"}
            (sched,) = dep["schedules"]
            assert sched["schedule"]["cron"] == "0 2 * * *" and sched["schedule"]["timezone"] == "UTC"
            assert sched["active"] and sched["parameters"] == {"trigger": "schedule"}
            assert dep["parameter_openapi_schema"]["properties"]["duration"]

            # deploying again with another schedule updates the one schedule (same slug), never adds one
            again = run([str(bin_dir / "loadwatch"), "deploy", "--cron", "30 3 * * *", "--timezone", "Europe/Berlin"],
                        env, cwd=nowhere, timeout=300)
            assert again.returncode == 0, again.stdout + again.stderr
            redeployed = api_get(api, f"/deployments/name/{FLOW}/{DEPLOYMENT}")
            assert redeployed["id"] == dep["id"]
            (sched,) = redeployed["schedules"]
            assert sched["schedule"]["cron"] == "30 3 * * *" and sched["schedule"]["timezone"] == "Europe/Berlin"

            worker_env = {
                **env,
                "PREFECT_WORKER_QUERY_SECONDS": "2",
                # the session's embedded Postgres (already running under the session's LOADWATCH_HOME) serves
                # the demo target; the trend store is a database of its own, dropped afterwards
                "LOADWATCH_DATABASE_URL": fresh_db,
            }
            worker_log = tmp / "worker.log"
            with spawn([str(bin_dir / "prefect"), "worker", "start", "--pool", POOL, "--limit", "1"],
                       worker_env, worker_log, cwd=nowhere):
                out_dir = tmp / "out"
                run_deployment([str(bin_dir / "prefect")], api, f"{FLOW}/{DEPLOYMENT}", light_run_params(out_dir),
                               env, nowhere, worker_log)
            summary = json.loads((out_dir / "summary.json").read_text())
            assert summary["load"]["requests"] > 0 and summary["plan"]["duration"] == 3
            assert summary["trigger"] == "ui"
