"""The target database's statements as a run records them (pg_stat_statements rows over the load window): which
are loadwatch's own reads (`is_own_statement`, never the target's work), their text on one short line
(`normalise_query`), and a run's statements by queryid (`statements`). Shared by the observation (which filters its
snapshots), the metric vector (per-statement series) and the attribution (their texts)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["FOLD_SELECT_LIST_CHARS", "STATEMENT_TEXT_CHARS", "is_own_statement", "normalise_query", "statements"]

STATEMENT_TEXT_CHARS = 110

# loadwatch's own reads of the target's database (loadwatch.observe's queries): measurement, not the target's work
_OWN_STATEMENT = re.compile(
    r"pg_stat_statements|^SELECT xact_commit, xact_rollback, blks_hit|^SET statement_timeout"
    r"|current_setting\('shared_preload_libraries'|FROM pg_extension WHERE extname|^SELECT pg_backend_pid\(\)"
    r"|current_setting\('data_directory'\)",
    re.IGNORECASE,
)


def is_own_statement(query: str | None) -> bool:
    """A statement loadwatch itself runs against the target's database (counters, snapshots, discovery)."""
    return bool(_OWN_STATEMENT.search(query or ""))


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


_SELECT = re.compile(r"\bSELECT\s+(?:DISTINCT\s+)?", re.IGNORECASE)
_FROM = re.compile(r"\s+FROM\s", re.IGNORECASE)
FOLD_SELECT_LIST_CHARS = 24  # a select list longer than this is folded to `…`: the FROM and WHERE say more


def _fold_select_lists(q: str) -> str:
    """Each SELECT's list (up to its own FROM, at its own parenthesis depth) folded to `…` when long."""
    out: list[str] = []
    pos = 0
    while (m := _SELECT.search(q, pos)) is not None:
        depth, i, end = 0, m.end(), None
        while i < len(q):
            ch = q[i]
            if ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    break  # the subquery ended without a FROM (SELECT 1)
                depth -= 1
            elif depth == 0 and (f := _FROM.match(q, i)) is not None:
                end = f.start()
                break
            i += 1
        if end is not None and end - m.end() > FOLD_SELECT_LIST_CHARS:
            out.append(q[pos : m.end()] + "…")
            pos = end
        else:
            out.append(q[pos : m.end()])
            pos = m.end()
    out.append(q[pos:])
    return "".join(out)


def normalise_query(text: str | None, limit: int = STATEMENT_TEXT_CHARS) -> str:
    """One line, long select lists folded to `…`, at most `limit` characters: enough to recognise the statement
    (pg_stat_statements has already replaced constants by $1, $2, ...)."""
    q = _fold_select_lists(" ".join((text or "").split()))
    return q if len(q) <= limit else q[: limit - 2].rstrip() + " …"



def statements(summary: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """queryid -> {query (normalised), calls, total_exec_time_ms, rows, shared_blks_hit, shared_blks_read} over the
    window, the rows of one queryid (several users, top-level or nested) added up."""
    db = (summary.get("resources") or {}).get("database") or {}
    out: dict[str, dict[str, Any]] = {}
    for r in db.get("top_statements") or []:
        qid = str(r.get("queryid") or "")
        if not qid or is_own_statement(r.get("query")):
            continue
        s = out.setdefault(qid, {"query": normalise_query(r.get("query")), "calls": 0.0, "total_exec_time_ms": 0.0,
                                 "rows": 0.0, "shared_blks_hit": 0.0, "shared_blks_read": 0.0})
        for k in ("calls", "total_exec_time_ms", "rows", "shared_blks_hit", "shared_blks_read"):
            s[k] += _num(r.get(k)) or 0.0
    return out
