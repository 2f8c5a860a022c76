"""The store's tests: an engine on a fresh, migrated database (test_open_changes keeps its own, through
store.connect)."""

from __future__ import annotations

import pytest

from loadwatch.store import db


@pytest.fixture
def engine(fresh_db):
    eng = db.make_engine(fresh_db)
    db.migrate(eng)
    yield eng
    eng.dispose()
