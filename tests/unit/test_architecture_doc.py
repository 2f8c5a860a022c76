"""docs/ARCHITECTURE.md names only paths that exist: a file or folder of the repository (from its root), a module
of the core (from src/loadwatch/), or a Python file somewhere in the tree when named alone."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "src" / "loadwatch"
DOC = REPO / "docs" / "ARCHITECTURE.md"
ROOTS = ("src", "flows", "tasks", "sql", "templates", "deploy", "tests", "benchmarks", "docs", ".ci", "..")
WHEEL = {"loadwatch/sql": "sql", "loadwatch/templates": "templates"}  # mapped into the wheel from the root
OUTPUTS = {"report.html", "report.md", "summary.json"}  # what a run writes, not files of the repository
# a path-like token: folders and a file or folder name, or a file name with an extension the repository holds
_TOKEN = re.compile(r"(?<![\w/.<~-])((?:\.{1,2}/)?(?:[\w.-]+/)+[\w.-]*|[\w-]+\.(?:py|md|yaml|sql|toml))(?![\w/>])")


def _named_paths(text: str) -> set[str]:
    out = set()
    for token in _TOKEN.findall(text):
        token = token.rstrip(".,;:")
        if "//" in token or token.startswith(("http", "~")) or token in OUTPUTS:
            continue
        # a/b is a path when a is a root of the repository or a package of the core (not CPU/RSS, req/s)
        if "/" in token and token.split("/")[0] not in ROOTS and not (CORE / token.split("/")[0]).is_dir() \
                and token not in WHEEL:
            continue
        out.add(token)
    return out


def _exists(token: str) -> bool:
    if token.startswith("../"):
        return (DOC.parent / token).exists()
    if token in WHEEL:
        return (REPO / WHEEL[token]).is_dir()
    if "/" in token:
        return (REPO / token).exists() or (CORE / token).exists()
    if token.endswith(".py"):
        return any(REPO.glob(f"src/**/{token}")) or any((REPO / d / token).exists() for d in ("flows", "tasks"))
    return (DOC.parent / token).exists() or any(p for p in REPO.glob(f"**/{token}") if ".venv" not in p.parts)


def test_every_path_the_architecture_names_exists():
    named = _named_paths(DOC.read_text())
    assert len(named) > 40  # the tokens were found
    assert sorted(t for t in named if not _exists(t)) == []


def test_the_check_sees_a_path_that_is_gone():
    assert not _exists("src/loadwatch/store/embedded.py") and not _exists("observe/counters.py")
    assert _named_paths("see `src/loadwatch/infra/postgres.py` and pacer.py, not <data dir>/spool/x.json, "
                        "CPU/RSS or report.html") == {"src/loadwatch/infra/postgres.py", "pacer.py"}
