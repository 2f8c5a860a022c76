"""Real Prefect processes for the deployment tests: a `prefect server start` on a free loopback port,
long-running children (worker, serve) that are always torn down with their whole process tree, and installs of
loadwatch into fresh virtualenvs outside the checkout."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "LIGHT_PLAN",
    "PREFECT",
    "Installs",
    "PrefectApi",
    "api_get",
    "api_post",
    "checkout_copy",
    "core_log_lines",
    "ensure_process_pool",
    "forget_deployment",
    "free_port",
    "install_into_fresh_venv",
    "installed_loadwatch",
    "leaves_no_children",
    "light_run_params",
    "loadwatch_run",
    "outside_env",
    "pip_install",
    "prefect_server",
    "run",
    "run_deployment",
    "spawn",
]

PREFECT = [sys.executable, "-m", "prefect"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api_get(api: str, path: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(api.rstrip("/") + path, timeout=timeout) as resp:
        return json.loads(resp.read())


def api_post(api: str, path: str, body: Mapping[str, Any], timeout: float = 10.0) -> Any:
    req = urllib.request.Request(
        api.rstrip("/") + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def forget_deployment(api: str, flow: str, name: str) -> None:
    """Delete FLOW/NAME from the server when an earlier test of the session deployed it: each test deploys its
    own way (module entrypoint and no pull step, or prefect.yaml's), and checks what it deployed."""
    try:
        dep = api_get(api, f"/deployments/name/{flow}/{name}")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404, exc
        return
    req = urllib.request.Request(f"{api.rstrip('/')}/deployments/{dep['id']}", method="DELETE")
    with urllib.request.urlopen(req, timeout=10):
        pass


def _stop_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group and every descendant (some re-group themselves), then SIGKILL leftovers."""
    try:
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    for p in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.terminate()
    _, alive = psutil.wait_procs(family, timeout=20)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=10)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


@contextlib.contextmanager
def spawn(
    cmd: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own session (so the whole group can be signalled), output to `log`."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(cmd),
            env=dict(env),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        _stop_tree(proc)


def run(
    cmd: Sequence[str], env: Mapping[str, str], cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(cmd), env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


@contextlib.contextmanager
def prefect_server(home: Path, startup_timeout: float = 240.0) -> Iterator[tuple[str, dict[str, str]]]:
    """(api_url, env for clients) of a fresh `prefect server start` with its own PREFECT_HOME (SQLite)."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    env.pop("PREFECT_API_URL", None)
    log = home / "server.log"
    with spawn([*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, log) as proc:
        api = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"prefect server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                api_get(api, "/health", timeout=2)
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"prefect server not healthy after {startup_timeout} s:\n{log.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.5)
        yield api, {**env, "PREFECT_API_URL": api}


@contextlib.contextmanager
def leaves_no_children() -> Iterator[None]:
    """Asserts that every process the block started (server, worker, flow runs) is gone when it ends."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    leftovers = [p for p in {p.pid for p in psutil.Process().children(recursive=True)} - before if psutil.pid_exists(p)]
    assert not leftovers, [psutil.Process(p).cmdline() for p in leftovers]


def outside_env(base: Mapping[str, str], venv: Path | None = None) -> dict[str, str]:
    """`base` without anything that points Python at a checkout or at the test session's venv; with `venv`, its
    bin/ first on PATH (what `. venv/bin/activate` would do)."""
    env = {k: v for k, v in base.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV", "LOADWATCH_CHECKOUT")}
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def checkout_copy(repo: Path, dest: Path) -> Path:
    """A copy of the checkout's files (no .git, venvs or build leftovers). setuptools builds in the source tree,
    and a `build/` left by an earlier build would carry modules that have since moved or gone into the install;
    the copy also keeps the real checkout untouched."""
    shutil.copytree(repo, dest, ignore=shutil.ignore_patterns(
        ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "out"))
    return dest


def pip_install(venv: Path, args: Sequence[str], cwd: Path) -> None:
    """`VENV/bin/python -m pip install -q --no-compile ARGS` (run in `cwd`, outside the test session's venv).

    --no-compile skips byte-compiling every installed module (most of Prefect, SciPy, matplotlib are never imported
    by a run), which is most of the install time; dependencies come from the index through pip's cache."""
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile", *args],
        env=outside_env(os.environ), capture_output=True, text=True, timeout=1500, stdin=subprocess.DEVNULL, cwd=cwd,
    )
    assert installed.returncode == 0, installed.stdout[-4000:] + installed.stderr[-4000:]


def install_into_fresh_venv(venv: Path, target: str, cwd: Path) -> Path:
    """`python -m venv VENV && VENV/bin/pip install TARGET` (run in `cwd`); returns the venv."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=outside_env(os.environ))
    pip_install(venv, [target], cwd)
    return venv


@dataclass(frozen=True)
class Installs:
    """A checkout (a copy of this one), the wheel built from it, and a venv beside them."""

    checkout: Path
    wheel: Path
    venv: Path

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def install(self, *how: str) -> None:
        """`pip install --no-deps --force-reinstall HOW...` run in the checkout: the dependencies are there."""
        pip_install(self.venv, ["--no-deps", "--force-reinstall", *how], cwd=self.checkout)


@dataclass(frozen=True)
class PrefectApi:
    url: str
    env: dict[str, str]
    home: Path


def _flow_run_state(api: str, watch_output: str) -> str:
    """The flow run's final state and message (its verdict), from the id `prefect deployment run` printed."""
    match = re.search(r"UUID: ([0-9a-f-]{36})", watch_output)
    if not match:
        return "(no flow run id in the output)"
    state = api_get(api, f"/flow_runs/{match.group(1)}")["state"] or {}
    return f"{state.get('type')}: {state.get('message')}"


def core_log_lines(api: str, watch_output: str) -> list[str]:
    """The messages of loadwatch's own loggers in the logs of the flow run `prefect deployment run` printed: what
    the deployment's PREFECT_LOGGING_EXTRA_LOGGERS job variable brings to the run's logs."""
    match = re.search(r"UUID: ([0-9a-f-]{36})", watch_output)
    assert match, watch_output
    logs = api_post(api, "/logs/filter", {"logs": {"flow_run_id": {"any_": [match.group(1)]}}, "limit": 200})
    return [entry["message"] for entry in logs if entry["name"].startswith("loadwatch.")]


def light_run_params(out_dir: Path) -> dict[str, Any]:
    """A light run with no thresholds and no capacity search: what the deployment tests test is the deployment path,
    not this shared machine's speed. One closed-model user, because on a busy box even 10 req/s of the open model had
    7 of 22 sends late: a generator-bound run is inconclusive and ends Failed, as does a p95 over a threshold. No
    capacity stage: its budget is a minute of load at rising rates."""
    return {"duration": 3, "users": 1, "workers": 1, "thresholds": [], "capacity": False, "out_dir": str(out_dir)}


LIGHT_PLAN = """\
# the bundled seed plan, lighter: one user, no ramp, no thresholds, no capacity section (tests/deploy/procs.py)
name: deploy_test_light
target: {url: demo, stats_path: /api/v1/tools/performance/stats, health_path: /api/v1/tools/health}
load: {model: closed, users: 1, think_time: 0.5, duration: 3, warmup: 0}
scenarios:
  - {name: list_tools, weight: 1, path: /api/v1/tools}
"""


def installed_loadwatch(python: str, env: Mapping[str, str], cwd: Path) -> tuple[str, bool]:
    """(the file `loadwatch.flows.nightly` is imported from, whether the install is editable) in that Python."""
    where = run([python, "-c", "import importlib.metadata as m, loadwatch.flows.nightly as f; "
                 "print(f.__file__); print(m.distribution('loadwatch').read_text('direct_url.json') or '{}')"],
                env, cwd=cwd, timeout=120)
    assert where.returncode == 0, where.stdout + where.stderr
    module_file, direct_url = where.stdout.strip().split("\n", 1)
    return module_file, bool(json.loads(direct_url).get("dir_info", {}).get("editable"))


def loadwatch_run(loadwatch: str, env: Mapping[str, str], cwd: Path, out_dir: Path) -> dict[str, Any]:
    """`loadwatch run` with the light parameters (light_run_params), in `cwd`; asserts exit 0, returns summary.json.
    """
    done = run([loadwatch, "run", "--no-capacity", "--no-thresholds", "--duration", "3", "--users", "1",
                "--workers", "1", "--out", str(out_dir)], env, cwd=cwd, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary: dict[str, Any] = json.loads((out_dir / "summary.json").read_text())
    assert summary["load"]["requests"] > 0 and summary["trigger"] == "cli"
    return summary


def ensure_process_pool(prefect: Sequence[str], api: str, pool: str, env: Mapping[str, str], cwd: Path) -> None:
    """`prefect work-pool create POOL --type process`, unless an earlier test of the session created it."""
    try:
        api_get(api, f"/work_pools/{pool}")
        return
    except urllib.error.HTTPError as exc:
        assert exc.code == 404, exc
    created = run([*prefect, "work-pool", "create", pool, "--type", "process"], env, cwd=cwd)
    assert created.returncode == 0, created.stdout + created.stderr


def run_deployment(prefect: Sequence[str], api: str, deployment: str, params: Mapping[str, Any],
                   env: Mapping[str, str], cwd: Path, worker_log: Path) -> str:
    """`prefect deployment run DEPLOYMENT --param k=v ... --watch` until the run ends; asserts it Completed (else
    shows the run's state, the CLI's output and the worker's log) and returns the CLI's output."""
    triggered = run(
        [*prefect, "deployment", "run", deployment,
         *(a for k, v in params.items() for a in ("--param", f"{k}={json.dumps(v)}")),
         "--watch", "--watch-timeout", "600"],
        env, cwd=cwd, timeout=700,
    )
    assert triggered.returncode == 0 and "Completed" in triggered.stdout, (
        triggered.stdout[-3000:] + triggered.stderr
        + "\n--- flow run ---\n" + _flow_run_state(api, triggered.stdout)
        + "\n--- worker log ---\n" + worker_log.read_text()[-3000:]
    )
    return triggered.stdout
