"""One-way layers, checked on the source: flows -> tasks -> core. The core never imports Prefect (only the
flows, the tasks and the one adapter package, src/loadwatch/prefect_adapter/), and never imports the flows or the
tasks (only the adapter starts the flow: `loadwatch run`, `serve`, `deploy`)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "src" / "loadwatch"
ADAPTER = ROOT / "prefect_adapter"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _core_modules() -> list[Path]:
    return list(ROOT.rglob("*.py"))


def test_the_core_never_imports_prefect():
    offenders = {
        str(p.relative_to(ROOT)): sorted(n for n in _imports(p) if n == "prefect" or n.startswith("prefect."))
        for p in _core_modules()
        if ADAPTER not in p.parents
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(_core_modules()) > 30  # the walk found the package


def test_the_core_never_imports_flows_or_tasks():
    # the adapter starts the flow (loadwatch.prefect_adapter.once, .deployments); nothing else in the core may
    offenders = {
        str(p.relative_to(ROOT)): sorted(n for n in _imports(p) if n.startswith(("loadwatch.flows", "loadwatch.tasks")))
        for p in _core_modules()
        if ADAPTER not in p.parents
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_tasks_never_import_flows():
    for p in (REPO / "tasks").glob("*.py"):
        assert not any(n.startswith("loadwatch.flows") for n in _imports(p)), p
