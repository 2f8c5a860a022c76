"""The one settings model: every LOADWATCH_* variable declared in loadwatch.settings, read when used, a bad value
named; and no other module reads one (two documented exceptions that must stay free of pydantic)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from loadwatch.errors import InvalidInput
from loadwatch.settings import Settings, data_dir, settings

REPO = Path(__file__).resolve().parents[2]
SOURCES = [*(REPO / "src" / "loadwatch").rglob("*.py"), *(REPO / "flows").glob("*.py"), *(REPO / "tasks").glob("*.py")]
# processes kept free of pydantic (their docstrings say why): the demo service and the engine's generators
READERS_ALLOWED = {"settings.py", "demo/server.py", "engine/driver.py"}


def test_defaults_and_values_from_a_mapping():
    s = settings({"LOADWATCH_LOCK_WAIT_S": "12.5", "LOADWATCH_ALLOWED_HOSTS": " a.test, ,b.test", "OTHER": "x",
                  "LOADWATCH_CRON": "  ", "LOADWATCH_TLS_INSECURE": "1"})
    assert s.lock_wait_s == 12.5 and s.allowed_host_list == ["a.test", "b.test"] and s.tls_insecure == "1"
    assert s.cron == "0 2 * * *"  # empty counts as unset
    assert settings({}).database_url is None and settings({}).spool_dir is None


def test_read_when_used(monkeypatch, tmp_path):
    monkeypatch.setenv("LOADWATCH_HOME", str(tmp_path / "a"))
    assert data_dir() == tmp_path / "a" and (tmp_path / "a").is_dir()
    monkeypatch.setenv("LOADWATCH_HOME", str(tmp_path / "b"))
    assert data_dir() == tmp_path / "b"


def test_a_bad_value_names_the_variable():
    with pytest.raises(InvalidInput) as err:
        settings({"LOADWATCH_LOCK_WAIT_S": "soon"})
    assert err.value.field == "LOADWATCH_LOCK_WAIT_S" and "environment" in str(err.value) and "soon" in str(err.value)
    with pytest.raises(InvalidInput, match="LOADWATCH_LOCK_WAIT_S"):
        settings({"LOADWATCH_LOCK_WAIT_S": "-1"})
    with pytest.raises(InvalidInput, match="LOADWATCH_TLS_INSECURE"):  # the generators read "1" exactly
        settings({"LOADWATCH_TLS_INSECURE": "true"})


def _mentions(path: Path) -> set[str]:
    return set(re.findall(r"\bLOADWATCH_[A-Z_]+[A-Z]\b", path.read_text()))


def test_every_variable_the_code_names_is_declared():
    declared = {f.alias for f in Settings.model_fields.values()}
    named = set().union(*(_mentions(p) for p in SOURCES)) - {"LOADWATCH_TEST_DATABASE_URL"}
    assert named - declared == set()
    assert len(declared) >= 14


def _reads_environment(path: Path) -> list[int]:
    """Lines that read os.environ / os.getenv (a write, as the CLI's hand-over to the flow, is not a read)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = ast.unparse(node.func)
            if target in ("os.environ.get", "os.getenv") and node.args:
                arg = ast.unparse(node.args[0])
                if "LOADWATCH" in arg or "ENV" in arg:
                    lines.append(node.lineno)
        elif (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
              and ast.unparse(node.value) == "os.environ" and "LOADWATCH" in ast.unparse(node.slice)):
            lines.append(node.lineno)
    return lines


def test_only_the_settings_module_reads_loadwatch_variables():
    root = REPO / "src" / "loadwatch"
    readers = {}
    for p in SOURCES:
        rel = str(p.relative_to(root)) if p.is_relative_to(root) else str(p.relative_to(REPO))
        if rel not in READERS_ALLOWED and (lines := _reads_environment(p)):
            readers[rel] = lines
    assert readers == {}


def test_the_operations_guide_lists_every_variable():
    text = (REPO / "docs" / "operations.md").read_text()
    assert [f.alias for f in Settings.model_fields.values() if f"| `{f.alias}` |" not in text] == []
