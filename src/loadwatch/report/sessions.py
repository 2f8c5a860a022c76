"""The report's "Sessions" section (the load summary's `sessions`, loadwatch.engine.session): how many sessions
logged in and how many logins failed, how often the credentials were renewed, what timed the renewals and how many
failed, each login and refresh step's own latency and errors (timed apart from the scenarios, as the engine records
them), and the scenario requests that were not sent because their session could not log in or renew."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from loadwatch.load_shapes import ErrorKind, RefreshUse, ScenarioSummary, SessionsSummary
from loadwatch.report.format import fmt_num, fmt_value

__all__ = ["SessionsView", "latency_cells", "session_errors", "sessions_view"]

# the errors of a scenario request that was not sent: its session could not log in or renew (engine.session)
NOT_SENT = {"session_login": "its session could not log in", "session_refresh": "its session could not renew"}
_TRIGGER = {"expires_in": "by the lifetime the answer gave", "every": "by the plan's period"}


class LatencyCells(TypedDict):
    p50: str
    p95: str
    p99: str


class SessionStepRow(TypedDict):
    name: str  # login/<step> or refresh/<step>
    requests: str
    errors: str
    p50: str
    p95: str
    p99: str


class SessionErrorRow(TypedDict):
    where: str  # a login or refresh step, or the scenario requests that were not sent
    kind: str
    count: str
    sample: str


class SessionsView(TypedDict):
    sessions: str
    logins: str
    login_failures: str
    login_failed: bool
    refreshes: str
    refresh_failures: str
    refresh_failed: bool
    logs_in: bool  # the plan's session has a login (a session may only keep cookies)
    renews: bool  # the plan's session renews its credentials
    refresh_rule: str  # what renews them ("" when the summary does not say: written before it did)
    triggers: str  # what timed the renewals of this run
    apart: bool  # login and refresh requests timed apart from the scenarios (else: `measure_login`)
    steps: list[SessionStepRow]
    errors: list[SessionErrorRow]


def latency_cells(entry: ScenarioSummary) -> LatencyCells:
    """p50, p95 and p99 of a step, a journey or a login step; "≥" before a lower bound; "no answers" when it sent
    requests that were not answered, "–" when it sent none."""
    low = set(entry["latency_at_least"])
    missing = "no answers" if entry["requests"] else "–"
    lat = entry["latency_ms"]
    p50, p95, p99 = (("≥ " if k in low and lat.get(k) is not None else "") + fmt_value(f"{k}_ms", lat.get(k), missing)
                     for k in ("p50", "p95", "p99"))
    return LatencyCells(p50=p50, p95=p95, p99=p99)


def session_errors(where: str, kinds: Mapping[str, ErrorKind]) -> list[SessionErrorRow]:
    return [SessionErrorRow(where=where, kind=kind, count=fmt_num(e["count"]), sample=e["sample"][:300])
            for kind, e in sorted(kinds.items(), key=lambda kv: -kv[1]["count"])]


def _rule(r: RefreshUse) -> str:
    """What renews the credentials, as the engine applies it (engine.session `_schedule_refresh`)."""
    how = "with the refresh's own steps" if r["own_steps"] else "by logging in again"
    every, margin, value = r["every"], r["margin"], r["expires_in"]
    period = (f"{fmt_num(every * (1 - margin))} s after the login or the last renewal (every {fmt_num(every)} s "
              f"less the {margin:.0%} margin)") if every is not None else ""
    if value is None:
        return f"renewed {how} {period}"
    fallback = f"; when an answer gives none, {period}" if period else ""
    return f"renewed {how} when {margin:.0%} of the lifetime the login's answer gives (its {value}) is left{fallback}"


def _triggers(r: RefreshUse) -> str:
    parts = [f"{fmt_num(n)} {_TRIGGER.get(k, k)} ({k})" for k, n in r["by_trigger"].items() if n]
    return "timed " + ", ".join(parts) if parts else ""


def sessions_view(s: SessionsSummary | None, load_errors: Mapping[str, Any]) -> SessionsView | None:
    """The section, formatted; None when the run had no session. `load_errors`: the run's errors by kind, where
    the scenario requests that were not sent for want of a login or a renewal are counted."""
    if s is None:
        return None
    steps: list[SessionStepRow] = []
    for name, e in s["steps"].items():
        lat = latency_cells(e)
        steps.append(SessionStepRow(name=name, requests=fmt_num(e["requests"]), errors=fmt_num(e["errors"]),
                                    p50=lat["p50"], p95=lat["p95"], p99=lat["p99"]))
    errors = [row for name, e in s["steps"].items() for row in session_errors(name, e["errors_by_kind"])]
    for kind, why in NOT_SENT.items():
        counted = load_errors.get(kind)
        if isinstance(counted, Mapping):
            errors.append(SessionErrorRow(where=f"scenario requests not sent ({why})", kind=kind,
                                          count=fmt_num(counted.get("count")),
                                          sample=str(counted.get("sample", ""))[:300]))
    refresh = s.get("refresh")
    return SessionsView(
        sessions=fmt_num(s["sessions"]),
        logins=fmt_num(s["logins"]),
        login_failures=fmt_num(s["login_failures"]),
        login_failed=s["login_failures"] > 0,
        refreshes=fmt_num(s["refreshes"]),
        refresh_failures=fmt_num(s["refresh_failures"]),
        refresh_failed=s["refresh_failures"] > 0,
        renews=refresh is not None or s["refreshes"] > 0,
        refresh_rule=_rule(refresh) if refresh is not None else "",
        triggers=_triggers(refresh) if refresh is not None else "",
        logs_in=bool(s["steps"]) or s["logins"] > 0,
        # with `measure_login` the engine counts the login's requests with the scenarios and keeps no steps apart
        apart=bool(s["steps"]),
        steps=steps,
        errors=errors,
    )
