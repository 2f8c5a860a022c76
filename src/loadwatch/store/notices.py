"""What was told, per plan: the notification state (loadwatch.notify.events.NotifyState, kept as JSON), the log of
every message tried, and the plan's last completed run (the missed-night check). Named statements in
sql/queries.sql; the caller holds the transaction, so reading the state locks it until the new one is written."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from loadwatch.store.repo import query

__all__ = ["last_completed_run", "log_notification", "notified_plans", "read_notify_state", "write_notify_state"]


def read_notify_state(conn: Connection, plan: str) -> Mapping[str, Any] | None:
    """The plan's state as stored (JSON), locked for this transaction; None before its first notification."""
    row = conn.execute(query("notify_state"), {"plan": plan}).first()
    return None if row is None else dict(row.state)


def write_notify_state(conn: Connection, plan: str, state_json: str) -> None:
    conn.execute(query("save_notify_state"), {"plan": plan, "state": state_json})


def log_notification(conn: Connection, *, plan: str, run_id: str | None, channel: str, kinds: Sequence[str],
                     title: str, body: str, delivered: bool, error: str | None) -> None:
    conn.execute(query("log_notification"), {"plan": plan, "run_id": run_id, "channel": channel, "kinds": list(kinds),
                                             "title": title, "body": body, "delivered": delivered, "error": error})


def last_completed_run(conn: Connection, plan: str, before: datetime | None = None) -> datetime | None:
    """When the plan's newest completed run (before `before`) started; None when it has none."""
    row = conn.execute(query("last_completed_run"), {"plan": plan, "before": before}).first()
    return None if row is None else row.started_at


def notified_plans(conn: Connection) -> list[str]:
    return [str(r) for r in conn.execute(query("notified_plans")).scalars()]
