"""The wheel is the tree: pyproject's package list and package-dir mapping match the folders, and a built wheel
holds every file of the core, the four mapped folders (flows/, tasks/, sql/, templates/) and the bundled plans.

setuptools finds no mapped package by itself, so the package list is written out in pyproject.toml; a package
added to the tree and not to that list would be left out of every non-editable install without a word."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Folders at the repository root that the wheel maps into the package (package-dir), and their package names.
MAPPED = {"loadwatch.flows": "flows", "loadwatch.tasks": "tasks", "loadwatch.sql": "sql",
          "loadwatch.templates": "templates"}
_NOT_SHIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".*")


def _setuptools_table(repo: Path) -> dict[str, object]:
    table = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert isinstance(table, dict)
    return table


def packages_in_tree(repo: Path) -> set[str]:
    """Every package the tree holds: folders with `__init__.py` under src/loadwatch, and the mapped folders."""
    core = repo / "src"
    found = {".".join(init.parent.relative_to(core).parts) for init in (core / "loadwatch").rglob("__init__.py")
             if "__pycache__" not in init.parts}
    return found | {name for name, folder in MAPPED.items() if (repo / folder / "__init__.py").is_file()}


def package_problems(repo: Path) -> list[str]:
    """What differs between pyproject's package list and the tree, one line each (empty when they agree)."""
    listed = set(_setuptools_table(repo)["packages"])  # type: ignore[call-overload]
    in_tree = packages_in_tree(repo)
    problems = [f"package {p} is in the tree but not in pyproject's [tool.setuptools] packages"
                for p in sorted(in_tree - listed)]
    problems += [f"pyproject lists package {p}, which has no folder with __init__.py" for p in sorted(listed - in_tree)]
    # A folder of modules without __init__.py would be a namespace package: never listed, never shipped.
    for folder in sorted({p.parent for p in (repo / "src" / "loadwatch").rglob("*.py")}):
        if "__pycache__" not in folder.parts and not (folder / "__init__.py").is_file():
            problems.append(f"{folder.relative_to(repo)} holds modules but no __init__.py")
    return problems


def test_package_list_equals_the_tree() -> None:
    assert package_problems(REPO) == []


def test_package_dir_maps_the_core_and_the_four_root_folders() -> None:
    package_dir = _setuptools_table(REPO)["package-dir"]
    assert package_dir == {"": "src", **MAPPED}
    for folder in MAPPED.values():
        assert (REPO / folder / "__init__.py").is_file(), folder


def test_a_package_missing_from_the_list_is_reported(tmp_path: Path) -> None:
    """The check above is not vacuous: a new folder with __init__.py, or one with modules and no __init__.py, is
    named, as is a listed package that is gone."""
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=_NOT_SHIPPED)
    for folder in MAPPED.values():
        shutil.copytree(REPO / folder, tmp_path / folder, ignore=_NOT_SHIPPED)
    assert package_problems(tmp_path) == []

    (tmp_path / "src/loadwatch/newrole").mkdir()
    (tmp_path / "src/loadwatch/newrole/__init__.py").write_text("")
    (tmp_path / "src/loadwatch/loose").mkdir()
    (tmp_path / "src/loadwatch/loose/mod.py").write_text("")
    shutil.rmtree(tmp_path / "src/loadwatch/demo")
    assert package_problems(tmp_path) == [
        "package loadwatch.newrole is in the tree but not in pyproject's [tool.setuptools] packages",
        "pyproject lists package loadwatch.demo, which has no folder with __init__.py",
        f"{Path('src/loadwatch/loose')} holds modules but no __init__.py",
    ]


def _shipped_files(repo: Path) -> set[str]:
    """The paths a wheel must hold under loadwatch/: every file of the core, and of each mapped folder."""
    expected: set[str] = set()
    roots = [(repo / "src" / "loadwatch", "loadwatch"),
             *((repo / folder, name.replace(".", "/")) for name, folder in MAPPED.items())]
    for root, prefix in roots:
        for path in root.rglob("*"):
            rel = path.relative_to(root)
            if path.is_file() and not any(p == "__pycache__" or p.startswith(".") for p in rel.parts) \
                    and path.suffix not in (".pyc", ".pyo"):
                expected.add(f"{prefix}/{rel.as_posix()}")
    return expected


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The file list of `pip wheel --no-deps` built from a copy of the checkout (a `build/` left in the tree by an
    earlier build could carry modules that have since gone)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "out"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(src)],
                           env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = (tmp / "dist").glob("loadwatch-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        return {n for n in zf.namelist() if not n.startswith("loadwatch-")}  # the .dist-info is not the tree's


def test_wheel_holds_the_flows_tasks_sql_templates_and_plans(wheel_files: set[str]) -> None:
    assert "loadwatch/flows/nightly.py" in wheel_files
    for folder, pattern in (("tasks", "*.py"), ("sql", "*.sql"), ("templates", "*")):
        names = {f"loadwatch/{folder}/{p.name}" for p in (REPO / folder).glob(pattern) if p.is_file()}
        assert names and names <= wheel_files, names - wheel_files
    plans = {f"loadwatch/plans/{p.name}" for p in (REPO / "src/loadwatch/plans").glob("*.yaml")}
    assert plans and plans <= wheel_files, plans - wheel_files


def test_wheel_holds_exactly_the_tree(wheel_files: set[str]) -> None:
    """Nothing of the tree left out (a new package, a template with a new suffix), nothing stale put in."""
    expected = _shipped_files(REPO)
    assert sorted(expected - wheel_files) == [] and sorted(wheel_files - expected) == []
