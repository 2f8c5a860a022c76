"""The demo service's process stays lean: it never imports the trend store (SQLAlchemy, the repository) nor the
settings model's pydantic (the demo's own RSS is one of its gated series: an import once grew it by 23 %)."""

from __future__ import annotations

import subprocess
import sys


def test_the_demo_service_imports_neither_the_store_nor_pydantic():
    code = ("import sys, loadwatch.demo.server, loadwatch.demo.app; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'pydantic') "
            "or m.startswith('loadwatch.store')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_store_api_resolves_by_name():
    from loadwatch import store
    from loadwatch.store import comparable_history, connect, flush

    assert store.connect is connect and callable(comparable_history) and callable(flush)
    assert set(store.__all__) <= set(dir(store))
