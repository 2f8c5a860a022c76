"""The spool: when the database is away, a run's complete record is kept on disk and stored later.

Files are written atomically (tmp + rename) as `<run_id>.json`; a flush stores each in its own transaction
and deletes the file only after the commit, so nothing is lost and, because writes are idempotent by run id,
nothing is stored twice."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Engine

from loadwatch.errors import StoreUnavailable
from loadwatch.record import RunRecord
from loadwatch.settings import data_dir, settings
from loadwatch.store.db import map_db_errors
from loadwatch.store.repo import save_run

__all__ = ["flush", "pending", "spool_dir", "spool_write"]

log = logging.getLogger("loadwatch.store")


def spool_dir() -> Path:
    current = settings()
    path = current.spool_dir or data_dir(current) / "spool"
    path.mkdir(parents=True, exist_ok=True)
    return path


def spool_write(record: Mapping[str, Any]) -> Path:
    run_id = str(record["summary"]["run_id"])
    target = spool_dir() / f"{run_id}.json"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, default=str))
    os.replace(tmp, target)
    return target


def pending() -> list[Path]:
    return sorted(spool_dir().glob("*.json"), key=lambda p: p.stat().st_mtime)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"


def flush(engine: Engine) -> list[str]:
    """Store every spooled run (oldest first); returns the run ids stored. Stops at the first DB error."""
    stored: list[str] = []
    for path in pending():
        try:
            # validated once, here, through the record model: a spooled run of an earlier version is read as one
            record = RunRecord.model_validate_json(path.read_bytes())
        except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            bad = path.with_suffix(".bad")
            path.rename(bad)
            reason = _first_error(exc) if isinstance(exc, ValidationError) else str(exc)
            log.warning("spooled file %s is not a run record (%s); moved to %s", path.name, reason, bad.name)
            continue
        run_id = record.summary.run_id
        try:
            with map_db_errors():
                save_run(engine, record)
        except StoreUnavailable:
            raise
        path.unlink()
        stored.append(run_id)
    return stored
