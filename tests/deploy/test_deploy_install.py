"""deploy/prefect.yaml after the README's own install, `pip install .` (not editable), from the checkout (marked
`deploy`; run alone with `pytest tests/deploy -m deploy`).

A copy of the checkout stands for the user's checkout. `pip install .` there installs loadwatch into a fresh
venv outside it; from the checkout, that venv's `prefect --no-prompt deploy --all --prefect-file
deploy/prefect.yaml` registers the nightly deployment with a real `prefect server` on loopback; a process worker
started in a directory that is not a checkout (its pull step finds the checkout through LOADWATCH_CHECKOUT) runs
it to Completed. Before the one-tree layout this failed at `prefect deploy` with "Could not find object 'nightly'
in 'flows/nightly.py'": the checkout's folders shadowed the installed package. Every child process tree is
killed afterwards."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import procs
import pytest

REPO = Path(__file__).resolve().parents[2]
FLOW, DEPLOYMENT, POOL = "loadwatch-nightly", "nightly", "loadwatch-process"

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1800)]


def _pip_install_dot(tmp: Path) -> tuple[Path, Path]:
    """(checkout, venv): `pip install .` run in the checkout, into a venv beside it."""
    checkout = procs.checkout_copy(REPO, tmp / "checkout")
    return checkout, procs.install_into_fresh_venv(tmp / "venv", ".", cwd=checkout)


def test_pip_install_dot_then_prefect_yaml_deploy_runs_on_a_process_worker(
    tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, fresh_db: str
) -> None:
    tmp = tmp_path_factory.mktemp("install")
    with procs.leaves_no_children(), ThreadPoolExecutor(1) as pool:
        install = pool.submit(_pip_install_dot, tmp)  # minutes; the server starts meanwhile
        with procs.prefect_server(tmp_path_factory.mktemp("prefect-home")) as (api, server_env):
            checkout, venv = install.result(timeout=1800)
            prefect = [str(venv / "bin" / "prefect")]
            env = procs.outside_env(server_env, venv)
            nowhere = tmp_path_factory.mktemp("not-a-checkout")

            # a real install, not an editable one: outside the checkout the package comes from the venv
            where = procs.run([str(venv / "bin" / "python"), "-c",
                         "import importlib.metadata as m, loadwatch.flows.nightly as f; "
                         "print(f.__file__); print(m.distribution('loadwatch').read_text('direct_url.json'))"],
                        env, cwd=nowhere, timeout=120)
            assert where.returncode == 0, where.stdout + where.stderr
            module_file, direct_url = where.stdout.strip().split("\n", 1)
            assert module_file.startswith(str(venv)) and not json.loads(direct_url).get("dir_info", {}).get("editable")

            created = procs.run([*prefect, "work-pool", "create", POOL, "--type", "process"], env, cwd=checkout)
            assert created.returncode == 0, created.stdout + created.stderr
            # the README's deploy command, from the checkout
            deployed = procs.run([*prefect, "--no-prompt", "deploy", "--all", "--prefect-file", "deploy/prefect.yaml"],
                           env, cwd=checkout, timeout=300)
            assert deployed.returncode == 0, deployed.stdout + deployed.stderr
            dep = procs.api_get(api, f"/deployments/name/{FLOW}/{DEPLOYMENT}")
            assert dep["entrypoint"] == "flows/nightly.py:nightly" and dep["work_pool_name"] == POOL
            # the pull step was recorded as written (resolved on the worker), not as the deploying machine's cwd
            steps = json.dumps(dep["pull_steps"])
            assert "LOADWATCH_CHECKOUT" in steps and str(checkout) not in steps

            worker_env = {
                **env,
                "LOADWATCH_CHECKOUT": str(checkout),
                "PREFECT_WORKER_QUERY_SECONDS": "2",
                # the session's embedded Postgres (under the session's LOADWATCH_HOME) serves the demo target;
                # the trend store is a database of its own, dropped afterwards
                "LOADWATCH_DATABASE_URL": fresh_db,
            }
            worker_log = tmp / "worker.log"
            with procs.spawn([*prefect, "worker", "start", "--pool", POOL, "--limit", "1"], worker_env, worker_log,
                             cwd=nowhere):
                out_dir = tmp / "out"
                procs.run_deployment(prefect, api, f"{FLOW}/{DEPLOYMENT}", procs.light_run_params(out_dir),
                                     env, nowhere, worker_log)
            summary = json.loads((out_dir / "summary.json").read_text())
            assert summary["load"]["requests"] > 0 and summary["plan"]["duration"] == 3
            assert summary["trigger"] == "ui" and (out_dir / "report.md").is_file()
