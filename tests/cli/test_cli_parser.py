"""The parser's root: every command of the table has its module with `add_arguments` and `run`, and a command line
builds (and imports) only the invoked command's arguments."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys

import pytest

from loadwatch.cli import COMMANDS, build_parser, command_module


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_is_a_module_with_add_arguments_and_run(name: str) -> None:
    module = importlib.import_module(command_module(name))
    assert callable(module.add_arguments) and callable(module.run)
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)  # builds on its own


def test_every_commands_arguments_build_together() -> None:
    root = build_parser("*")
    (sub,) = (a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == list(COMMANDS)
    assert all(len(p._actions) > 1 for p in sub.choices.values())  # more than -h each


def test_only_the_invoked_commands_module_is_imported() -> None:
    """In a fresh interpreter: `loadwatch detect ...`'s parse imports loadwatch.commands.detect and no other command
    module, nor Prefect."""
    script = ("import json, sys; from loadwatch.cli import build_parser; "
              "build_parser('detect').parse_args(['detect', 'x.csv']); "
              "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('loadwatch.commands', 'prefect')))))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["loadwatch.commands", "loadwatch.commands.args", "loadwatch.commands.detect"]
