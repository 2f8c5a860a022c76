"""The pull step's rules, on plain paths: which of the worker's directory, $LOADWATCH_CHECKOUT and the default is
the checkout, and which processes are Prefect workers. (Prefect running the step: tests/deploy/test_deploy_files.py;
a real worker started in a checkout: tests/deploy/test_deploy_install.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from loadwatch.prefect_adapter.steps import CHECKOUT_MARKER, _is_worker, choose_checkout, worker_directory


def _checkout(path: Path) -> Path:
    (path / CHECKOUT_MARKER).parent.mkdir(parents=True)
    (path / CHECKOUT_MARKER).write_text("")
    return path


@pytest.mark.parametrize(("cmdline", "worker"), [
    (["/opt/loadwatch/.venv/bin/python", "/opt/loadwatch/.venv/bin/prefect", "worker", "start", "--pool", "p"], True),
    (["/usr/bin/python3", "-m", "prefect", "worker", "start", "-p", "p"], True),
    (["python", "-m", "prefect.runner._workspace_supervisor", "/tmp/x/supervisor.json"], False),
    (["prefect", "server", "start"], False),
    (["prefect", "worker", "ls"], False),
    ([], False),
])
def test_a_worker_is_prefect_worker_start(cmdline: list[str], worker: bool) -> None:
    assert _is_worker(cmdline) is worker


def test_the_worker_directory_comes_first(tmp_path: Path) -> None:
    a, b, c = (_checkout(tmp_path / n) for n in "abc")
    assert choose_checkout([("worker", a), ("env", str(b)), ("default", str(c))]) == (a.resolve(), [])


def test_then_the_variable_then_the_default(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    b, c = _checkout(tmp_path / "b"), _checkout(tmp_path / "c")
    found, tried = choose_checkout([("worker", plain), ("env", str(b)), ("default", str(c))])
    assert found == b.resolve() and tried == [f"worker {plain}: no {CHECKOUT_MARKER}"]
    found, tried = choose_checkout([("worker", None), ("env", None), ("default", str(c))])
    assert found == c.resolve() and tried == ["worker: not known", "env: not known"]


def test_no_checkout_anywhere_names_every_place(tmp_path: Path) -> None:
    found, tried = choose_checkout([("worker", tmp_path), ("env", ""), ("default", str(tmp_path / "gone"))])
    assert found is None
    assert tried == [f"worker {tmp_path}: no {CHECKOUT_MARKER}", "env: not known",
                     f"default {tmp_path / 'gone'}: no {CHECKOUT_MARKER}"]


def test_no_worker_above_a_test() -> None:
    assert worker_directory() is None
