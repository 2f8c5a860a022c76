"""`loadwatch bisect` on a small real git repository created here: a stdlib HTTP service whose delay doubles in
one known commit; each step is a real A/B session between two builds started from git worktrees."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from loadwatch.cli import main

SERVER = Path(__file__).with_name("ab_server.py").read_text()


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def _commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def _server(delay_ms: float) -> str:
    out, n = re.subn(r'("--delay-ms", type=float, default=)[0-9.]+', rf"\g<1>{delay_ms}", SERVER)
    assert n == 1
    return out


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, list[str]]:
    r = tmp_path / "service"
    r.mkdir()
    _git(r, "init", "-q", "-b", "main")
    _git(r, "config", "user.email", "t@example.com")
    _git(r, "config", "user.name", "t")
    shas = [
        _commit(r, {"server.py": _server(3), "README": "v1\n"}, "initial: the service"),
        _commit(r, {"README": "v1 docs\n"}, "docs: usage"),
        _commit(r, {"README": "v1 docs\nflags\n"}, "cli: a --verbose flag"),
        _commit(r, {"server.py": _server(6)}, "store: look items up one by one"),
        _commit(r, {"README": "v1 docs\nflags\nchangelog\n"}, "docs: changelog"),
    ]
    return r, shas


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    p = tmp_path / "bisect_plan.yaml"
    p.write_text("name: bisect_test\ntarget: {health_path: /health}\n"
                 "load: {model: open, rate: 80, duration: 10, timeout: {connect: 2, total: 5}}\n"
                 "scenarios:\n  - {name: items, path: /items}\n")
    return p


def test_bisect_names_the_slow_commit(repo, plan, tmp_path, capsys):
    r, shas = repo
    out = tmp_path / "bisect.json"
    py = shlex.quote(sys.executable)
    code = main(["bisect", "--repo", str(r), "--good", shas[0], "--bad", "main", "--plan", str(plan),
                 "--build-cmd", f"{py} -m py_compile {{dir}}/server.py",
                 "--start-cmd", f"{py} {{dir}}/server.py --port {{port}}",
                 "--percentiles", "p50", "--floor", "p50=15", "--alpha", "0.05", "--looks", "1", "--max-pairs", "6",
                 "--round", "1", "--budget", "300", "--json", str(out), "--quiet"])
    doc = json.loads(out.read_text())
    assert code == 1, doc["reason"]
    assert doc["verdict"] == "found"
    assert doc["culprit"] == {"sha": shas[3], "subject": "store: look items up one by one"}
    change = next(r for r in doc["culprit_change"] if r["scenario"] == "*")
    assert change["verdict"] == "regression" and 50.0 < change["paired"]["percent"] < 200.0
    # good vs bad first, the culprit against its parent last; between them c0 vs c2 (then, if that step could not
    # decide on a busy machine, c2 vs c4 too); every commit built once, whatever the number of sessions it was in
    steps = [(s["baseline"]["sha"], s["candidate"]["sha"]) for s in doc["steps"]]
    assert steps[0] == (shas[0], shas[4]) and steps[1] == (shas[0], shas[2]) and steps[-1] == (shas[2], shas[3])
    assert len(doc["builds"]) == len(set(doc["builds"])) == len({sha for step in steps for sha in step})
    assert _git(r, "worktree", "list").count("\n") == 0  # the worktrees were removed
    assert "**FOUND**" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--good", "nosuchrev", "--bad", "main"], "not a commit of this repository: 'nosuchrev'"),
        (["--good", "main", "--bad", "main~3"], "must be an ancestor"),
        (["--good", "main~1", "--bad", "main", "--start-cmd", "x --port 1"], "must contain {port}"),
        (["--good", "main~1", "--bad", "main", "--build-cmd", "make {target}"], "unknown placeholder"),
    ],
)
def test_bisect_bad_input_exits_2(repo, plan, args, needle, capsys):
    r, _ = repo
    argv = ["bisect", "--repo", str(r), "--plan", str(plan), "--start-cmd", "srv --port {port}", *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_bisect_refuses_a_directory_without_git(tmp_path, plan, capsys):
    assert main(["bisect", "--repo", str(tmp_path), "--plan", str(plan), "--good", "a", "--bad", "b",
                 "--start-cmd", "srv --port {port}"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}: --repo: not a git work tree" in err
