"""One-way layers, checked on the source.

`ALLOWED` is the design: for each package of the core (and each module on its ground floor, and the mapped flows/
and tasks/) the units it may import. An import that is not in the table fails here, naming the file and the arrow;
a new arrow is a design decision, made by editing the table (and docs/ARCHITECTURE.md, "Layers"), never by
accident. The table itself must stay one-way (no cycle), so the core reads bottom-up:

- ground floor: the errors, the shared words, the settings, URL redaction, the histogram, the statement texts, the
  typed shapes of what the observation measures and of what the load and the capacity search measure;
- statistics import nothing above them (numbers in, numbers out);
- the plan, then the metric vector, the typed findings and the run record (below the store: the store saves what
  they define);
- infra (child processes, signals, the embedded PostgreSQL) below both the store and the demo service;
- the engine knows no stages and writes to no database; the demo never imports the store;
- the store never imports the pipeline, the observation or the output;
- flows -> tasks -> core: only flows/, tasks/ and the Prefect adapter (prefect_adapter/) import Prefect, and only the
  adapter imports the flows (it starts `loadwatch run`'s flow run, serves and deploys the flow; the commands call it).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "src" / "loadwatch"
ADAPTER = ROOT / "prefect_adapter"

GROUND = {"__init__", "errors", "vocabulary", "settings", "urls", "hist", "statements", "observations", "load_shapes"}
_CORE_BELOW_STAGES = GROUND | {"stats", "config", "params", "metrics", "findings", "changes", "record", "infra",
                                "engine", "revision"}
_STAGES = _CORE_BELOW_STAGES | {"store", "observe", "demo", "capacity", "plangen", "ab"}

ALLOWED: dict[str, set[str]] = {
    "__init__": set(),
    "errors": set(),
    "vocabulary": {"errors"},
    "settings": {"errors"},
    "urls": set(),
    "hist": set(),
    "statements": set(),
    "observations": set(),
    "load_shapes": set(),
    "stats": {"errors", "hist", "vocabulary"},
    "config": {"errors", "settings", "stats"},
    "params": {"config", "errors"},
    "metrics": {"observations", "statements", "vocabulary"},
    "changes": {"errors", "vocabulary"},
    "findings": {"changes", "vocabulary"},  # the findings carry the night's open changes
    "revision": set(),  # which build a run measured: the run's parameters and the CI's variables, nothing else
    "record": {"config", "changes", "errors", "findings", "hist", "load_shapes", "metrics", "observations", "revision",
               "urls", "vocabulary"},
    "infra": {"errors", "settings", "urls"},
    "engine": {"__init__", "config", "errors", "hist", "load_shapes", "settings", "vocabulary"},
    "store": {"changes", "errors", "hist", "infra", "metrics", "record", "settings", "urls", "vocabulary"},
    "observe": {"config", "errors", "hist", "infra", "observations", "settings", "statements", "urls", "vocabulary"},
    "demo": {"__init__", "errors", "infra", "urls"},  # not the store, not the settings model (its RSS is gated)
    "capacity": {"config", "engine", "errors", "hist", "load_shapes", "metrics", "stats", "vocabulary"},
    "plangen": {"config", "engine", "errors", "urls", "vocabulary"},
    # two builds in one session: the engine's public API, the paired statistics, child processes (no store, no stages)
    "ab": {"config", "engine", "errors", "hist", "infra", "load_shapes", "stats"},
    "pipeline": _STAGES | {"notify"},
    "report": _STAGES | {"pipeline"},
    "notify": _STAGES,
    # the commands that start the flow or serve it (run, serve, deploy) do it through the Prefect adapter
    "commands": _STAGES | {"ab", "pipeline", "report", "notify", "prefect_adapter"},
    "tasks": _STAGES | {"pipeline", "report", "notify"},
    "flows": _STAGES | {"pipeline", "report", "tasks", "notify"},
    "prefect_adapter": _STAGES | {"pipeline", "flows", "tasks"},
    "cli": _STAGES | {"pipeline", "report", "commands", "prefect_adapter", "notify"},
    "__main__": {"cli"},
    "plans": set(),
}
# Arrows allowed for one module only, each with its reason and the work that removes it.
EXCEPTIONS: dict[str, set[str]] = {
    # a Prefect notification block is sent through the adapter, the core's one door to Prefect (imported only when a
    # plan names a block); the adapter never imports the notify package back
    "notify/channels.py": {"prefect_adapter"},
}


def _unit(path: Path) -> str:
    if path.is_relative_to(ROOT):
        parts = path.relative_to(ROOT).parts
        return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")
    return path.relative_to(REPO).parts[0]  # flows/, tasks/


def _targets(node: ast.AST) -> Iterator[str]:
    """The loadwatch units an import statement reaches."""
    if isinstance(node, ast.Import):
        modules = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        if node.module == "loadwatch":  # `from loadwatch import store` is the store; `__version__` the package
            yield from (a.name if (ROOT / a.name).is_dir() or (ROOT / f"{a.name}.py").exists() else "__init__"
                        for a in node.names)
            return
        modules = [node.module]
    else:
        return
    for m in modules:
        parts = m.split(".")
        if parts[0] == "loadwatch":
            yield parts[1] if len(parts) > 1 else "__init__"


def _sources() -> list[Path]:
    return [*ROOT.rglob("*.py"), *(REPO / "flows").glob("*.py"), *(REPO / "tasks").glob("*.py")]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT if path.is_relative_to(ROOT) else REPO))


def test_every_import_follows_the_table():
    offenders: dict[str, list[str]] = {}
    for path in _sources():
        unit = _unit(path)
        assert unit in ALLOWED, f"{_name(path)}: unit {unit!r} is not in the table; add it with its allowed imports"
        allowed = ALLOWED[unit] | EXCEPTIONS.get(_name(path), set()) | {unit}
        bad = sorted({t for node in ast.walk(ast.parse(path.read_text())) for t in _targets(node)} - allowed)
        if bad:
            offenders[_name(path)] = [f"{unit} -> {t}" for t in bad]
    assert offenders == {}
    assert len(_sources()) > 60  # the walk found the tree


def test_the_table_is_one_way():
    """No cycle: a topological order of the units exists (Kahn's algorithm)."""
    remaining = {u: set(deps) - {u} for u, deps in ALLOWED.items()}
    assert all(d in ALLOWED for deps in remaining.values() for d in deps)
    while remaining:
        free = [u for u, deps in remaining.items() if not deps]
        assert free, f"cycle among {sorted(remaining)}"
        for u in free:
            del remaining[u]
        for deps in remaining.values():
            deps.difference_update(free)


def test_the_rules_of_issue_23_are_in_the_table():
    """The table could be edited to allow anything; these arrows stay forbidden."""
    stages_and_output = {"pipeline", "observe", "report", "capacity", "commands", "tasks", "flows", "cli"}
    assert not ALLOWED["store"] & stages_and_output  # the store never imports the pipeline
    assert "store" not in ALLOWED["demo"]  # the demo never imports the store
    assert ALLOWED["stats"] <= GROUND  # statistics import nothing above them
    assert not ALLOWED["engine"] & (_STAGES - _CORE_BELOW_STAGES) and "infra" not in ALLOWED["engine"]
    assert {"metrics", "record"} <= ALLOWED["store"] and "store" not in ALLOWED["record"] | ALLOWED["metrics"]
    for unit, deps in ALLOWED.items():
        if unit not in ("prefect_adapter", "flows"):
            assert "flows" not in deps, unit
        if unit not in ("cli", "commands", "prefect_adapter", "flows", "tasks"):
            assert "tasks" not in deps, unit


def test_every_exception_names_a_file_that_exists():
    """An exception outlives its reason only by mistake: when its file is gone, take it out of the table."""
    assert [name for name in EXCEPTIONS if not (ROOT / name).exists()] == []


def test_the_core_never_imports_prefect():
    offenders = {
        _name(p): sorted(n for n in _imports(p) if n == "prefect" or n.startswith("prefect."))
        for p in ROOT.rglob("*.py")
        if not p.is_relative_to(ADAPTER)
    }
    assert {k: v for k, v in offenders.items() if v} == {}
