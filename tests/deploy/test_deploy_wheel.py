"""A built wheel, with no checkout anywhere (marked `deploy`; run alone with `pytest tests/deploy -m deploy`).

The wheel is installed into a venv outside the checkout (the session's, tests/deploy/conftest.py); from there, in an
empty directory, `loadwatch run` runs the nightly flow once, and `loadwatch deploy` registers the nightly deployment
with a real `prefect server` on loopback, which a process worker started in an empty directory (no
LOADWATCH_CHECKOUT, no PYTHONPATH) runs to Completed. Every child process tree is killed afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import procs
import pytest

FLOW, DEPLOYMENT, POOL = "loadwatch-nightly", "nightly", "loadwatch-process"
ENTRYPOINT = "loadwatch.flows.nightly.nightly"

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1800)]


def test_wheel_runs_and_deploys_to_a_worker_without_a_checkout(
    installs: procs.Installs, prefect_api: procs.PrefectApi, tmp_path: Path, pg_admin_url: str, fresh_db: str
) -> None:
    api = prefect_api.url
    with procs.leaves_no_children():
        installs.install(str(installs.wheel))
        bin_dir = installs.venv / "bin"
        nowhere = tmp_path / "not-a-checkout"  # every command below runs here
        nowhere.mkdir()
        env = procs.outside_env(prefect_api.env, installs.venv)
        module_file, editable = procs.installed_loadwatch(str(bin_dir / "python"), env, nowhere)
        assert module_file.startswith(str(installs.venv)) and not editable, module_file
        procs.loadwatch_run(str(bin_dir / "loadwatch"), {**env, "LOADWATCH_DATABASE_URL": fresh_db}, nowhere,
                            tmp_path / "run")

        procs.forget_deployment(api, FLOW, DEPLOYMENT)
        deployed = procs.run([str(bin_dir / "loadwatch"), "deploy"], env, cwd=nowhere, timeout=300)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        dep = procs.api_get(api, f"/deployments/name/{FLOW}/{DEPLOYMENT}")
        # a module entrypoint and nothing to fetch: the worker imports the flow from its installed package
        assert dep["entrypoint"] == ENTRYPOINT
        assert not dep["pull_steps"] and not dep["path"]
        assert dep["work_pool_name"] == POOL and dep["work_queue_name"] == "default"
        assert procs.api_get(api, f"/work_pools/{POOL}")["type"] == "process"  # created if missing
        # the server reports a deployment's concurrency limit as a global limit (`concurrency_limit` is kept null)
        assert dep["global_concurrency_limit"]["limit"] == 1 and dep["enforce_parameter_schema"] is True
        assert set(dep["tags"]) == {"loadwatch", "nightly"}
        (sched,) = dep["schedules"]
        assert sched["schedule"]["cron"] == "0 2 * * *" and sched["schedule"]["timezone"] == "UTC"
        assert sched["active"] and sched["parameters"] == {"trigger": "schedule"}
        assert dep["parameter_openapi_schema"]["properties"]["duration"]
        # the stages' module loggers reach the run's logs (checked on the run below)
        assert dep["job_variables"]["env"] == {"PREFECT_LOGGING_EXTRA_LOGGERS": "loadwatch"}

        # deploying again with another schedule updates the one schedule (same slug), never adds one
        again = procs.run([str(bin_dir / "loadwatch"), "deploy", "--cron", "30 3 * * *", "--timezone",
                           "Europe/Berlin"], env, cwd=nowhere, timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        redeployed = procs.api_get(api, f"/deployments/name/{FLOW}/{DEPLOYMENT}")
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
        worker_log = tmp_path / "worker.log"
        out_dir = tmp_path / "out"
        with procs.spawn([str(bin_dir / "prefect"), "worker", "start", "--pool", POOL, "--limit", "1"],
                         worker_env, worker_log, cwd=nowhere):
            watched = procs.run_deployment([str(bin_dir / "prefect")], api, f"{FLOW}/{DEPLOYMENT}",
                                           procs.light_run_params(out_dir), env, nowhere, worker_log)
        assert any(line.startswith("load done:") for line in procs.core_log_lines(api, watched))
        summary = json.loads((out_dir / "summary.json").read_text())
        assert summary["load"]["requests"] > 0 and summary["plan"]["duration"] == 3
        assert summary["trigger"] == "ui"
