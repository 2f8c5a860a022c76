"""What the deployment tests (marked `deploy`) share, once per session, to keep CI under its budget: one real
`prefect server` on loopback, and one venv outside the checkout with loadwatch's dependencies installed from a
wheel. Each test then installs loadwatch itself the way it tests (the wheel, `pip install .`, `pip install -e .`)
with --no-deps, which takes seconds instead of minutes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import procs
import pytest

REPO = Path(__file__).resolve().parents[2]


def _build_and_install(tmp: Path) -> procs.Installs:
    checkout = procs.checkout_copy(REPO, tmp / "checkout")
    wheels = tmp / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(checkout), "-w", str(wheels), "--no-deps", "-q"],
        env=procs.outside_env(os.environ), capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("loadwatch-*.whl")
    venv = procs.install_into_fresh_venv(tmp / "venv", str(wheel), cwd=tmp)
    return procs.Installs(checkout=checkout, wheel=wheel, venv=venv)


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[procs.PrefectApi]:
    home = tmp_path_factory.mktemp("prefect-home")
    with procs.prefect_server(home) as (api, env):
        yield procs.PrefectApi(api, env, home)


@pytest.fixture(scope="session")
def installs(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> procs.Installs:
    """Every test that installs also needs the server: the install (minutes) and the server's start overlap."""
    with ThreadPoolExecutor(1) as pool:
        installing = pool.submit(_build_and_install, tmp_path_factory.mktemp("installs"))
        request.getfixturevalue("prefect_api")
        return installing.result(timeout=1800)
