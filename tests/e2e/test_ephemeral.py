"""`loadwatch run` without PREFECT_API_URL: the temporary Prefect server it starts before importing Prefect.

Real processes: the CLI in a subprocess with no Prefect API configured (its own PREFECT_HOME, so the
temporary server migrates a fresh SQLite database), the demo target, the session's Postgres."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from e2e_procs import assert_no_survivors, cmdline, interrupt, kill_group, wait_for_load

pytestmark = pytest.mark.e2e


def _env(tmp_path: Path, fresh_db: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(LOADWATCH_DATABASE_URL=fresh_db, LOADWATCH_HOME=str(tmp_path / "home"),
               PREFECT_HOME=str(tmp_path / "prefect"))
    return env


def _servers(procs: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in procs if "prefect.server.api.server:create_app" in cmdline(p)]


def test_run_on_the_ephemeral_api_completes_and_stops_its_server(fresh_db, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadwatch", "run", "--no-capacity", "--duration", "3", "--warmup", "0", "--rate", "30",
         "--out", str(out)],
        env=_env(tmp_path, fresh_db), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    me = psutil.Process(proc.pid)
    seen: list[psutil.Process] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _servers(seen):
        seen = me.children(recursive=True)
        time.sleep(0.1)
    assert _servers(seen), "no temporary Prefect server was started"
    _, err = proc.communicate(timeout=240)
    assert proc.returncode in (0, 1), err
    assert "ephemeral API" in err
    assert "Traceback" not in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["flow_run_id"], "the flow ran against the temporary API"
    assert summary["load"]["requests"] > 0
    time.sleep(0.5)
    assert not _servers(seen), "the temporary server outlived the run"
    assert (tmp_path / "home" / "prefect-ephemeral.log").exists()


def test_killed_run_takes_its_server_with_it(tmp_path):
    """SIGKILL leaves no exit hook to run; the server dies with its parent (PR_SET_PDEATHSIG)."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from loadwatch.prefect_adapter.ephemeral import EphemeralServer\n"
        "s = EphemeralServer.start(Path(sys.argv[1]))\n"
        "print(s.proc.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    parent = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "server.log")], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        server = psutil.Process(int(parent.stdout.readline()))
        assert server.is_running()
        parent.kill()
        parent.wait(timeout=10)
        server.wait(timeout=20)  # raises psutil.TimeoutExpired if it survived
    finally:
        if parent.poll() is None:
            parent.kill()


def test_interrupted_run_leaves_no_server(fresh_db, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadwatch", "run", "--no-capacity", "--duration", "60", "--warmup", "0", "--rate", "40",
         "--out", str(tmp_path / "out")],
        env=_env(tmp_path, fresh_db), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    me = psutil.Process(proc.pid)
    try:
        wait_for_load(me, timeout=120)
        time.sleep(1)
        descendants = me.children(recursive=True)
        assert _servers(descendants)
        err, _ = interrupt(proc)
    finally:
        kill_group(proc)
    assert proc.returncode == 130, err
    assert_no_survivors(descendants)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "aborted"
