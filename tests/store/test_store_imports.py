"""The demo service's process stays lean: it uses the embedded server's helpers (loadwatch.store.embedded), never
the trend store's SQLAlchemy layer, which the package loads only on first use."""

from __future__ import annotations

import subprocess
import sys


def test_the_demo_service_does_not_load_sqlalchemy():
    code = ("import sys, loadwatch.demo.server, loadwatch.demo.app; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy' or m == 'loadwatch.store.repo'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_store_api_still_resolves_by_name():
    from loadwatch import store
    from loadwatch.store import comparable_history, connect, flush

    assert store.connect is connect and callable(comparable_history) and callable(flush)
    assert set(store.__all__) <= set(dir(store)) | set(store._HOME)
