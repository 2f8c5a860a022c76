"""`loadwatch deploy` from a built wheel, with no checkout anywhere (marked `deploy`; run alone with
`pytest tests/deploy -m deploy`).

The wheel is installed into a fresh venv outside the checkout; from that venv `loadwatch deploy` registers the
nightly deployment with a real `prefect server` on loopback, and a process worker started in an empty
directory (no LOADWATCH_CHECKOUT, no PYTHONPATH) runs it to Completed. Every child process tree is killed
afterwards."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from procs import api_get, prefect_server, run, spawn

REPO = Path(__file__).resolve().parents[2]
FLOW, DEPLOYMENT, POOL = "loadwatch-nightly", "nightly", "loadwatch-process"
ENTRYPOINT = "loadwatch.flows.nightly.nightly"

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1800)]


def _install_wheel(tmp: Path) -> Path:
    """Build the wheel (no deps) and install it with its dependencies into a new venv; returns the venv."""
    wheels, venv, src = tmp / "wheels", tmp / "venv", tmp / "src"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")}
    # Built from a clean copy: setuptools builds in the source tree, and a `build/` left by an earlier build would
    # carry modules that have since moved or gone into the wheel (and the checkout stays untouched).
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "out"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "-w", str(wheels), "--no-deps", "-q"],
        env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("loadwatch-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=env)
    # Dependencies come from the index through pip's cache; --no-compile skips byte-compiling every installed
    # module (most of Prefect, SciPy, matplotlib are never imported by a run), which is most of the install time.
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile", str(wheel)],
        env=env, capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL, cwd=tmp,
    )
    assert installed.returncode == 0, installed.stdout[-4000:] + installed.stderr[-4000:]
    return venv


def _run_state(api: str, watch_output: str) -> str:
    """The flow run's final state and message (its verdict), from the id `prefect deployment run` printed."""
    match = re.search(r"UUID: ([0-9a-f-]{36})", watch_output)
    if not match:
        return "(no flow run id in the output)"
    state = api_get(api, f"/flow_runs/{match.group(1)}")["state"] or {}
    return f"{state.get('type')}: {state.get('message')}"


def test_wheel_deploy_runs_on_a_worker_without_a_checkout(
    tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, fresh_db: str
) -> None:
    tmp = tmp_path_factory.mktemp("wheel")
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with ThreadPoolExecutor(1) as pool:
        # the install (minutes) and the server's start (seconds) overlap
        install = pool.submit(_install_wheel, tmp)
        with prefect_server(tmp_path_factory.mktemp("prefect-home")) as (api, server_env):
            venv = install.result(timeout=1800)
            bin_dir = venv / "bin"
            nowhere = tmp_path_factory.mktemp("not-a-checkout")  # every command below runs here
            env = {k: v for k, v in server_env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "LOADWATCH_CHECKOUT")}
            env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"

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
                # A light run with no thresholds: what is tested is the deployment path, not this shared machine's
                # speed. One closed-model user, because on a busy box even 10 req/s of the open model had 7 of 22
                # sends late: a generator-bound run is inconclusive and ends Failed, as does a p95 over a threshold.
                params = {"duration": 3, "users": 1, "workers": 1, "thresholds": [], "out_dir": str(out_dir)}
                triggered = run(
                    [str(bin_dir / "prefect"), "deployment", "run", f"{FLOW}/{DEPLOYMENT}",
                     *(a for k, v in params.items() for a in ("--param", f"{k}={json.dumps(v)}")),
                     "--watch", "--watch-timeout", "600"],
                    env, cwd=nowhere, timeout=700,
                )
                assert triggered.returncode == 0, (
                    triggered.stdout[-3000:] + triggered.stderr
                    + "\n--- flow run ---\n" + _run_state(api, triggered.stdout)
                    + "\n--- worker log ---\n" + worker_log.read_text()[-3000:]
                )
                assert "Completed" in triggered.stdout
            summary = json.loads((out_dir / "summary.json").read_text())
            assert summary["load"]["requests"] > 0 and summary["plan"]["duration"] == 3
            assert summary["trigger"] == "ui"
    leftovers = [p for p in {p.pid for p in psutil.Process().children(recursive=True)} - before if psutil.pid_exists(p)]
    assert not leftovers, [psutil.Process(p).cmdline() for p in leftovers]
