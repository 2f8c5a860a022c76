"""The store stage: a run's record into the trend store, or, when the database is away, onto the on-disk spool
(loadwatch.store.spool) from where the next run's preflight (or `loadwatch store flush`) stores it first."""

from __future__ import annotations

from collections.abc import Callable

from loadwatch import store
from loadwatch.errors import StoreUnavailable
from loadwatch.record import RunRecord

__all__ = ["flush_spool", "spool_after_failure", "store_or_spool", "store_record"]


def store_record(record: RunRecord, store_url: str) -> str:
    """One idempotent write (storing a run id again replaces it), so a retry cannot duplicate the run."""
    engine = store.connect(store_url)
    try:
        with store.map_db_errors(store_url):
            store.save_run(engine, record)
    finally:
        engine.dispose()
    return record.summary.run_id


def flush_spool(store_url: str) -> list[str]:
    """Store the runs spooled while the database was away, oldest first; their run ids."""
    engine = store.connect(store_url)
    try:
        return store.flush(engine)
    finally:
        engine.dispose()


def spool_after_failure(record: RunRecord, exc: BaseException) -> StoreUnavailable:
    """Keep the complete record on disk; the error to raise once the run's outputs are written."""
    path = store.spool_write(record.to_json())
    return StoreUnavailable(
        f"the trend store failed ({getattr(exc, 'message', exc)}); the complete result is kept in {path} and will "
        "be stored by the next run or by `loadwatch store flush`"
    )


def store_or_spool(
    save: Callable[[RunRecord, str], object], record: RunRecord, store_url: str
) -> StoreUnavailable | None:
    """`save` (the store runner, with its retries) or the spool; the error to raise later, if it was the spool."""
    try:
        save(record, store_url)
    except Exception as exc:  # any failure of the write: the record must not be lost
        return spool_after_failure(record, exc)
    return None
