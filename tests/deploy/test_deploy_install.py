"""deploy/prefect.yaml from a checkout, after the README's installs, `pip install .` and `pip install -e .` (marked
`deploy`; run alone with `pytest tests/deploy -m deploy`).

A copy of the checkout stands for the user's checkout; loadwatch is installed from it into a venv outside it (the
session's, tests/deploy/conftest.py). For each install: `loadwatch run` in a directory that is not a checkout;
`prefect --no-prompt deploy --all --prefect-file deploy/prefect.yaml` from the checkout against a real `prefect
server` on loopback; and a process worker started IN the checkout with no LOADWATCH_CHECKOUT (and a `$PWD` that
names another directory, as `Popen(cwd=...)` or a service manager leaves it) runs the deployment to Completed from
the checkout: its relative output directory lands there. Every child process tree is killed afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import procs
import pytest

FLOW, DEPLOYMENT, POOL = "loadwatch-nightly", "nightly", "loadwatch-process"

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1800)]


def _deploy_from_the_checkout_and_run_a_worker_in_it(
    installs: procs.Installs, api: procs.PrefectApi, fresh_db: str, tmp: Path, *, editable: bool
) -> None:
    checkout, prefect = installs.checkout, [installs.bin("prefect")]
    env = procs.outside_env(api.env, installs.venv)
    nowhere = tmp / "not-a-checkout"
    nowhere.mkdir()
    # the install asked for, and nothing else: outside the checkout the package comes from the venv (a real install)
    # or from the checkout (an editable one)
    module_file, is_editable = procs.installed_loadwatch(installs.bin("python"), env, nowhere)
    assert is_editable is editable
    assert module_file.startswith(str(checkout if editable else installs.venv)), module_file
    procs.loadwatch_run(installs.bin("loadwatch"), {**env, "LOADWATCH_DATABASE_URL": fresh_db}, nowhere, tmp / "run")

    procs.ensure_process_pool(prefect, api.url, POOL, env, checkout)
    procs.forget_deployment(api.url, FLOW, DEPLOYMENT)
    # the README's deploy command, from the checkout
    deployed = procs.run([*prefect, "--no-prompt", "deploy", "--all", "--prefect-file", "deploy/prefect.yaml"],
                         env, cwd=checkout, timeout=300)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    dep = procs.api_get(api.url, f"/deployments/name/{FLOW}/{DEPLOYMENT}")
    assert dep["entrypoint"] == "flows/nightly.py:nightly" and dep["work_pool_name"] == POOL
    # the pull step was recorded as written (resolved on the worker), not as the deploying machine's cwd
    steps = json.dumps(dep["pull_steps"])
    assert "loadwatch.prefect_adapter.steps.locate_checkout" in steps and str(checkout) not in steps

    worker_env = {
        **env,  # outside_env: no LOADWATCH_CHECKOUT
        "PWD": str(nowhere),  # not what the pull step reads
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        # the session's embedded Postgres (under the session's LOADWATCH_HOME) serves the demo target; the trend
        # store is a database of its own, dropped afterwards
        "LOADWATCH_DATABASE_URL": fresh_db,
    }
    assert "LOADWATCH_CHECKOUT" not in worker_env
    worker_log = tmp / "worker.log"
    relative_out = f"runs/worker-in-checkout-{'editable' if editable else 'installed'}"
    with procs.spawn([*prefect, "worker", "start", "--pool", POOL, "--limit", "1"], worker_env, worker_log,
                     cwd=checkout):
        params = {**procs.light_run_params(Path()), "out_dir": relative_out}
        watched = procs.run_deployment(prefect, api.url, f"{FLOW}/{DEPLOYMENT}", params, env, nowhere, worker_log)
    assert any(line.startswith("load done:") for line in procs.core_log_lines(api.url, watched))
    summary = json.loads((checkout / relative_out / "summary.json").read_text())  # the run's cwd was the checkout
    assert summary["load"]["requests"] > 0 and summary["plan"]["duration"] == 3
    assert summary["trigger"] == "ui" and (checkout / relative_out / "report.md").is_file()


def test_pip_install_dot_then_prefect_yaml_deploy_runs_on_a_worker_in_the_checkout(
    installs: procs.Installs, prefect_api: procs.PrefectApi, tmp_path: Path, pg_admin_url: str, fresh_db: str
) -> None:
    with procs.leaves_no_children():
        installs.install(".")
        _deploy_from_the_checkout_and_run_a_worker_in_it(installs, prefect_api, fresh_db, tmp_path, editable=False)


def test_pip_install_editable_then_prefect_yaml_deploy_runs_on_a_worker_in_the_checkout(
    installs: procs.Installs, prefect_api: procs.PrefectApi, tmp_path: Path, pg_admin_url: str, fresh_db: str
) -> None:
    """`pip install -e .` as the README says it (setuptools' default editable mode, not the strict one of CI's own
    venv)."""
    with procs.leaves_no_children():
        installs.install("-e", ".")
        _deploy_from_the_checkout_and_run_a_worker_in_it(installs, prefect_api, fresh_db, tmp_path, editable=True)
