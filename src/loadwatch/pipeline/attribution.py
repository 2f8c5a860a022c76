"""Why a run regressed: what it cost per request, judged like latency, and what moved with a regression.

Pure functions over a run's summary and its gate rows (no Prefect, no I/O); method in docs/METHOD.md §9.

1. `attribution_metrics(summary)`: per-request figures derived from what the run captured over its load window:
   database time, statement calls, shared blocks hit/read and rows per request (pg_stat_statements deltas),
   target CPU per request (the monitor's target group), the cache hit rate over the window (the stats endpoint's
   hit/miss counters), and per statement (pseudo-scenario `stmt:<queryid>`) its mean execution time and calls
   per request. They become metrics of the run (loadwatch.metrics.run_metrics), so the gate and the
   change-point detector judge them with the same history and the same rule as latency.
2. `explain(...)`: for each regressed scenario, the candidates whose own gate rows moved the same night in the
   direction that would explain it, ranked, each as one sentence; the sources that were missing, named.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from loadwatch.vocabulary import ALL, ATTRIBUTION_METRICS, STATEMENT_METRICS, STMT_PREFIX

__all__ = [
    "ATTRIBUTION_METRICS",
    "MAX_CANDIDATES",
    "MIN_STATEMENT_CALLS",
    "STATEMENT_METRICS",
    "STMT_PREFIX",
    "attribution_metrics",
    "cache_hit_rate",
    "explain",
    "format_text",
    "missing_sources",
    "moved",
    "normalise_query",
    "statement_owner",
    "statements",
    "window_requests",
]

# A statement's mean over fewer calls than this is mostly noise (one slow call moves it): not a series.
MIN_STATEMENT_CALLS = 20
MAX_CANDIDATES = 5
STATEMENT_TEXT_CHARS = 110
# "(N+1)": calls per request at least doubled, and the rise is at least two extra calls per request of the scenario
# being explained (a statement run once per item of a page), not one (a rarer path taken once per request more
# often, as when a cache stops serving it)
N_PLUS_ONE_RATIO = 2.0
N_PLUS_ONE_MIN_EXTRA_CALLS = 2.0
# A candidate's score is the size of its change against its own noise: |robust z| of its own gate row. A baseline
# without spread makes any change infinitely many sigmas: ranked above every finite z, stored as this.
Z_NO_SPREAD = 1e6
# Whose statement is it: a statement run by one scenario only has calls per request = c x that scenario's share of
# the traffic, night after night, so dividing by the owner's share takes out most of its night-to-night movement
# (what is left is c's own noise) and dividing by another's adds that one's. Owner: the scenario whose share leaves
# at most this fraction of the movement, over at least OWNER_MIN_NIGHTS baseline nights; else it cannot be told.
OWNER_MAX_CV_RATIO = 0.5
OWNER_MIN_NIGHTS = 5

LABELS = {
    "db_ms_per_req": "database time per request",
    "db_calls_per_req": "database calls per request",
    "blks_hit_per_req": "shared blocks hit per request",
    "blks_read_per_req": "shared blocks read per request",
    "rows_per_req": "rows per request",
    "cpu_ms_per_req": "target CPU per request",
    "cache_hit_rate": "cache hit rate",
    "stmt_mean_ms": "mean execution time",
    "stmt_calls_per_req": "calls per request",
}
UNITS = {"db_ms_per_req": " ms", "cpu_ms_per_req": " ms", "cache_hit_rate": " %", "stmt_mean_ms": " ms"}


# ---------------------------------------------------------------- normalisation


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def window_requests(load: Mapping[str, Any]) -> float | None:
    """Requests over the window the counters cover. The monitor and the stats endpoint are read around the whole
    load, warm-up included, so every send counts (`sends`); `requests` (measured only) when sends are unknown."""
    for key in ("sends", "requests"):
        n = _num(load.get(key))
        if n is not None and n > 0:
            return n
    return None


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
    from loadwatch.observe.counters import is_own_statement

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


def cache_hit_rate(target_stats: Mapping[str, Any]) -> tuple[str, float] | None:
    """(counter, percent) of the stats endpoint's hit rate over the window: a `…hit_rate_window` derived from hit and
    miss counters (baseline.counter_deltas), one whose name says cache first; Postgres' own blks_* ratios are not a
    cache of the target's. None when the endpoint has no such counters or there were no lookups."""
    delta = target_stats.get("delta") or {}
    keys = [k for k in delta if k.endswith("hit_rate_window") and "blks" not in k and _num(delta[k]) is not None]
    if not keys:
        return None
    key = sorted(keys, key=lambda k: ("cache" not in k.lower(), k))[0]
    return key, float(delta[key])


def attribution_metrics(summary: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """scenario -> metric -> value: run-level figures under "*", statements under `stmt:<queryid>`."""
    load = summary.get("load") or {}
    req = window_requests(load)
    run: dict[str, float] = {}
    out: dict[str, dict[str, float]] = {}
    resources = summary.get("resources") or {}
    totals = (resources.get("database") or {}).get("statement_totals") or {}
    if req and totals:
        for metric, key in (("db_ms_per_req", "total_exec_time_ms"), ("db_calls_per_req", "calls"),
                            ("blks_hit_per_req", "shared_blks_hit"), ("blks_read_per_req", "shared_blks_read"),
                            ("rows_per_req", "rows")):
            v = _num(totals.get(key))
            if v is not None:
                run[metric] = v / req
    target = resources.get("target") or {}
    cpu = _num((target.get("cpu_percent") or {}).get("avg"))
    duration = _num(load.get("duration_s"))
    if req and target.get("samples") and cpu is not None and duration:
        run["cpu_ms_per_req"] = cpu / 100.0 * duration * 1000.0 / req  # % of one core x seconds -> CPU ms
    hit = cache_hit_rate(summary.get("target_stats") or {})
    if hit is not None:
        run["cache_hit_rate"] = hit[1]
    if run:
        out[ALL] = run
    if req:
        for qid, s in statements(summary).items():
            if s["calls"] >= MIN_STATEMENT_CALLS:
                out[STMT_PREFIX + qid] = {"stmt_mean_ms": s["total_exec_time_ms"] / s["calls"],
                                          "stmt_calls_per_req": s["calls"] / req}
    return out


def missing_sources(summary: Mapping[str, Any]) -> list[str]:
    """Each source of attribution this run lacked, named with what would provide it (never guessed around)."""
    out: list[str] = []
    resources = summary.get("resources") or {}
    db = resources.get("database") or {}
    if "top_statements" not in db and "statement_totals" not in db:
        out.append("statement-level attribution needs target.database_url (the target's Postgres)")
    elif db.get("error"):
        out.append(f"statement-level attribution: the target's database could not be read ({db['error']})")
    elif "statement_totals" not in db:
        out.append("statement-level attribution needs pg_stat_statements in the target's database "
                   "(shared_preload_libraries)")
    ts = summary.get("target_stats") or {}
    if not ts.get("delta"):
        out.append("the cache hit rate needs target.stats_path (the target's stats endpoint)")
    elif cache_hit_rate(ts) is None:
        out.append("the cache hit rate needs hit and miss counters in the stats endpoint (none, or no lookups)")
    if not (resources.get("target") or {}).get("samples"):
        out.append("CPU per request needs the target's processes (target.pid, pid_file, port or process_pattern, "
                   "or a loopback URL)")
    if not (summary.get("environment") or {}).get("target_version"):
        out.append("a version change needs target.version_path")
    return out


# ---------------------------------------------------------------- explanation


def moved(row: Mapping[str, Any] | None) -> bool:
    """A candidate moved when the gate's three checks agree in its bad direction: a regression, or the same checks
    on a series the gate would not gate (noisy). A missing interval does not veto (as in the gate)."""
    if not row:
        return False
    if row.get("outcome") == "regression":
        return True
    if row.get("outcome") in ("insufficient_history", "improvement"):
        return False
    checks = row.get("checks") or {}
    return bool(checks.get("z")) and bool(checks.get("floor")) and checks.get("ci") is not False


def noise_z(row: Mapping[str, Any] | None) -> float:
    """How far a candidate's own series moved against its own noise: |robust z| of its gate row (Z_NO_SPREAD when
    its baseline had no spread and it moved; 0 when it has no judged row)."""
    if not row:
        return 0.0
    z = _num(row.get("robust_z"))
    if z is None:
        return Z_NO_SPREAD if moved(row) else 0.0
    return min(abs(z), Z_NO_SPREAD)


def _cv(values: Sequence[float]) -> float | None:
    mean = statistics.fmean(values)
    return statistics.pstdev(values) / mean if mean > 0 else None


def statement_owner(qid: str, baseline: Sequence[Mapping[str, Any]], scenarios: Sequence[str]) -> str | None:
    """The one scenario whose share of the traffic the statement's calls per request follow over the baseline
    nights (OWNER_MAX_CV_RATIO), or None when the data cannot tell (too few nights, no movement, a statement several
    scenarios run, or one whose calls depend on more than the mix, such as a cache's misses)."""
    ys: list[float] = []
    xs: dict[str, list[float]] = {k: [] for k in scenarios}
    for h in baseline:
        m = h.get("metrics") or {}
        y = _num((m.get(STMT_PREFIX + qid) or {}).get("stmt_calls_per_req"))
        total = _num((m.get(ALL) or {}).get("requests"))
        shares = {k: _num((m.get(k) or {}).get("requests")) for k in scenarios}
        if y is None or y <= 0 or not total or any(v is None or v <= 0 for v in shares.values()):
            continue
        ys.append(y)
        for k, v in shares.items():
            xs[k].append(float(v or 0.0) / total)
    if len(ys) < OWNER_MIN_NIGHTS or len(scenarios) < 2:
        return None
    cv_y = _cv(ys)
    if not cv_y:
        return None
    ratios: dict[str, float] = {}
    for k in scenarios:
        cv = _cv([y / x for y, x in zip(ys, xs[k], strict=True)])
        ratios[k] = math.inf if cv is None else cv
    best = min(scenarios, key=lambda k: ratios[k])
    return best if ratios[best] <= OWNER_MAX_CV_RATIO * cv_y else None


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    if unit == " %":  # a hit rate: whole percent says it
        return f"{value:.0f} %"
    a = abs(value)
    text = f"{value:.0f}" if a >= 100 or value == 0 else f"{value:.1f}" if a >= 10 else f"{value:.2f}" if a >= 0.1 \
        else f"{value:.3f}"
    return text + unit


def _change(row: Mapping[str, Any]) -> str:
    cp = _num(row.get("change_percent"))
    return f"{cp:+.0f} %" if cp is not None else "from 0"


def _from_to(row: Mapping[str, Any]) -> str:
    unit = UNITS.get(str(row.get("metric")), "")
    return f"{_fmt(_num(row.get('baseline')), unit)} → {_fmt(_num(row.get('value')), unit)}"


def _history_median(history: Sequence[Mapping[str, Any]], scenario: str, metric: str, *, absent: float | None
                    ) -> float | None:
    """Median over the baseline runs; a run without the series counts as `absent` (0 calls: it did not run)."""
    vals: list[float] = []
    for h in history:
        v = _num(((h.get("metrics") or {}).get(scenario) or {}).get(metric))
        if v is None:
            if absent is None:
                continue
            v = absent
        vals.append(v)
    return statistics.median(vals) if vals else None


def _statement_candidates(
    rows: Mapping[tuple[str, str], Mapping[str, Any]],
    current: Mapping[str, Mapping[str, float]],
    texts: Mapping[str, str],
    baseline: Sequence[Mapping[str, Any]],
    share: float,
    scenario: str,
) -> list[dict[str, Any]]:
    """`share`: the explained scenario's fraction of the run's requests (1 for "*")."""
    db_calls_moved = moved(rows.get((ALL, "db_calls_per_req")))
    db_time_moved = moved(rows.get((ALL, "db_ms_per_req")))
    out: list[dict[str, Any]] = []
    for sc in sorted(s for s in current if s.startswith(STMT_PREFIX)):
        qid = sc[len(STMT_PREFIX):]
        mean_row, calls_row = rows.get((sc, "stmt_mean_ms")), rows.get((sc, "stmt_calls_per_req"))
        mean_v = _num(current[sc].get("stmt_mean_ms")) or 0.0
        cpr_v = _num(current[sc].get("stmt_calls_per_req")) or 0.0
        t_moved, c_moved = moved(mean_row), moved(calls_row)
        cpr_b = _history_median(baseline, sc, "stmt_calls_per_req", absent=0.0) or 0.0
        mean_b = _history_median(baseline, sc, "stmt_mean_ms", absent=None)
        # A statement with too little history for its own rows (new tonight, or rarely run) is judged through the
        # run's database calls/time per request, which do have history, when it rose at least twofold.
        new = not (calls_row and calls_row.get("n_baseline")) or calls_row.get("outcome") == "insufficient_history"
        z = max(noise_z(mean_row) if t_moved else 0.0, noise_z(calls_row) if c_moved else 0.0)
        if new and (db_calls_moved or db_time_moved) and cpr_v >= N_PLUS_ONE_RATIO * cpr_b and cpr_v > 0:
            c_moved = True
            # no noise of its own yet: as far as the run's database figures that carried it moved
            z = max(z, *(noise_z(rows.get((ALL, m))) for m in ("db_calls_per_req", "db_ms_per_req")
                         if moved(rows.get((ALL, m)))))
        if not (t_moved or c_moved):
            continue
        mean_base = mean_b if mean_b is not None else mean_v
        # its share of the rise in database time per request: what ranks statements against each other
        rise_ms = mean_v * cpr_v - mean_base * cpr_b
        query = texts.get(qid, qid)
        if t_moved:
            text = f"statement `{query}` mean {_fmt(mean_base, ' ms')} → {_fmt(mean_v, ' ms')}"
            text += (f", calls per request {_fmt(cpr_b)} → {_fmt(cpr_v)}" if c_moved
                     else " (calls per request unchanged)")
            kind = "statement_time"
        else:
            per_request = (cpr_v - cpr_b) / share if share > 0 else 0.0  # extra calls per request of the scenario
            n_plus_one = cpr_v >= N_PLUS_ONE_RATIO * cpr_b and per_request >= N_PLUS_ONE_MIN_EXTRA_CALLS
            n1 = f" (N+1: about {per_request:.0f} more per {scenario} request)" if n_plus_one else ""
            text = (f"statement `{query}` calls per request {_fmt(cpr_b)} → {_fmt(cpr_v)}{n1}"
                    f"{' (new)' if cpr_b == 0 else ''}, mean {_fmt(mean_v, ' ms')}"
                    f"{'' if mean_b is None else ' (unchanged)'}")
            kind = "statement_calls"
        out.append({"kind": kind, "tier": 1, "scenario": sc, "queryid": qid, "n_plus_one": kind == "statement_calls"
                    and "(N+1" in text,
                    "metric": "stmt_mean_ms" if t_moved else "stmt_calls_per_req",
                    "baseline": mean_base if t_moved else cpr_b, "value": mean_v if t_moved else cpr_v,
                    "share_ms_per_req": round(rise_ms, 6), "score": round(z, 3), "text": text})
    return out


def _last_good_version(history: Sequence[Mapping[str, Any]]) -> tuple[str | None, str | None]:
    for h in reversed(history):
        if h.get("excluded") or h.get("verdict") in ("regression", "threshold_breach"):
            continue
        if h.get("target_version"):
            return str(h["target_version"]), str(h.get("run_id"))
    return None, None


def _run_candidate(kind: str, tier: int, metric: str, row: Mapping[str, Any], text: str) -> dict[str, Any]:
    """A candidate cause from one whole-run attribution series, scored by how far it moved."""
    return {"kind": kind, "tier": tier, "scenario": ALL, "metric": metric, "baseline": row.get("baseline"),
            "value": row.get("value"), "score": round(noise_z(row), 3), "text": text}


def _own_statements(
    stmts: list[dict[str, Any]], owners: Mapping[str, str | None], scenario: str, texts: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The statement candidates that can be `scenario`'s (its own, or whose owner the data cannot tell, said in
    their text), and a note for each that is another scenario's."""
    own: list[dict[str, Any]] = []
    others: list[str] = []
    for c in stmts:
        owner = owners.get(str(c.get("queryid")))
        if scenario == ALL or owner == scenario:
            own.append(c)
        elif owner is None:
            own.append({**c, "text": c["text"] + " (which scenario runs it cannot be told from the nights' traffic "
                                                  "mix)"})
        else:
            query = texts.get(str(c["queryid"]), str(c["queryid"]))
            others.append(f"statement `{query}` moved too, but it is {owner}'s (its calls per request follow "
                          f"{owner}'s share of the traffic)")
    return own, others


def _candidates(
    rows: Mapping[tuple[str, str], Mapping[str, Any]],
    stmts: Sequence[dict[str, Any]],
    history: Sequence[Mapping[str, Any]],
    version: str | None,
) -> list[dict[str, Any]]:
    """`stmts`: the statement candidates of this scenario (_own_statements). Every candidate is scored by how far its
    own series moved against its own noise (noise_z); ranked by that, whatever its kind."""
    found: list[dict[str, Any]] = []
    cache = rows.get((ALL, "cache_hit_rate"))
    if moved(cache):
        assert cache is not None
        found.append(_run_candidate("cache", 0, "cache_hit_rate", cache, f"cache hit rate {_from_to(cache)}"))
    # within the statements an N+1 pattern (a statement's calls per request multiplied) goes first: the statements
    # whose calls rose with it are usually its companions in the same loop (an id lookup, a count)
    stmts = sorted((dict(c) for c in stmts), key=lambda c: (not c.get("n_plus_one"), -c["score"],
                                                            -c["share_ms_per_req"]))
    db_rows = {m: rows.get((ALL, m)) for m in ("db_ms_per_req", "db_calls_per_req", "blks_hit_per_req",
                                                 "blks_read_per_req", "rows_per_req")}
    used: set[str] = set()
    if stmts:
        # the database-wide figures that moved lead the first statement's sentence (they say how much it matters)
        # and lend it their distance from their noise when that is the larger
        top = stmts[0]
        lead = "db_ms_per_req" if moved(db_rows["db_ms_per_req"]) else \
            "db_calls_per_req" if moved(db_rows["db_calls_per_req"]) else None
        if lead:
            r = db_rows[lead]
            assert r is not None
            top["text"] = f"{LABELS[lead]} {_change(r)} ({_from_to(r)}) — {top['text']}"
            top["score"] = max(top["score"], round(noise_z(r), 3))
            used.add(lead)
        for m in ("blks_hit_per_req", "blks_read_per_req"):
            r = db_rows[m]
            if moved(r):
                assert r is not None
                top["text"] += f"; {LABELS[m]} {_from_to(r)}"
                used.add(m)
    found.extend(stmts)
    for m, r in db_rows.items():
        if m in used or not moved(r):
            continue
        assert r is not None
        found.append(_run_candidate("database", 2, m, r, f"{LABELS[m]} {_change(r)} ({_from_to(r)})"
                                    + ("" if stmts else ", no single statement of its own moved beyond its spread")))
    cpu = rows.get((ALL, "cpu_ms_per_req"))
    if moved(cpu):
        assert cpu is not None
        found.append(_run_candidate("cpu", 3, "cpu_ms_per_req", cpu,
                                    f"{LABELS['cpu_ms_per_req']} {_change(cpu)} ({_from_to(cpu)})"))
    good, good_run = _last_good_version(history)
    if version and good and good != version:
        # no noise to measure a version against: context, after every measured candidate
        found.append({"kind": "version", "tier": 4, "scenario": ALL, "metric": "target_version", "baseline": good,
                      "value": version, "score": 0.0,
                      "text": f"target version {good} → {version} between the last good run ({good_run}) and this one"})
    found.sort(key=lambda c: -c["score"])  # stable: equal scores keep the order above
    for i, c in enumerate(found[:MAX_CANDIDATES], 1):
        c["rank"] = i
    return found[:MAX_CANDIDATES]


def _compact(row: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("scenario", "metric", "value", "baseline", "change_percent", "ci", "ci_unit", "robust_z", "checks",
            "outcome", "n_baseline", "direction", "floor")
    return {k: row.get(k) for k in keep}


def explain(
    *,
    summary: Mapping[str, Any],
    current: Mapping[str, Mapping[str, float]],
    comparison: Sequence[Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    history: Sequence[Mapping[str, Any]],
    baseline_run_ids: Sequence[str],
    min_history: int,
) -> dict[str, Any]:
    """The `attribution` block of the findings and summary.json: statements (text once, by queryid), the
    attribution rows (compact), the missing sources, and one explanation per regressed scenario."""
    texts = {qid: s["query"] for qid, s in statements(summary).items()}
    by_key = {(str(r["scenario"]), str(r["metric"])): r for r in rows}
    base_ids = set(baseline_run_ids)
    baseline = [h for h in history if h.get("run_id") in base_ids]
    version = (summary.get("environment") or {}).get("target_version")
    regressed: dict[str, list[str]] = {}
    for c in comparison:
        if c.get("outcome") == "regression":
            regressed.setdefault(str(c["scenario"]), []).append(str(c["metric"]))
    named = [s for s in regressed if s != ALL]
    targets = sorted(named) if named else list(regressed)
    missing = missing_sources(summary)
    judged = [r for r in rows if r.get("outcome") != "insufficient_history"]
    notes: list[str] = []
    if rows and not judged:
        n = max((int(r.get("n_baseline") or 0) for r in rows), default=0)
        notes.append(f"the attribution series have {n} comparable run(s); they are judged from {min_history}")
    load = summary.get("load") or {}
    total = _num(load.get("requests")) or 0.0
    scenario_names = [str(k) for k in (load.get("scenarios") or {})]
    owners: dict[str, str | None] = {}
    explanations = []
    for sc in targets:
        sc_requests = _num(((load.get("scenarios") or {}).get(sc) or {}).get("requests"))
        share = sc_requests / total if sc != ALL and sc_requests and total else 1.0
        stmts = _statement_candidates(by_key, current, texts, baseline, share, sc)
        for c in stmts:
            qid = str(c["queryid"])
            if qid not in owners:
                owners[qid] = statement_owner(qid, baseline, scenario_names)
        own, others = _own_statements(stmts, owners, sc, texts)
        candidates = _candidates(by_key, own, history, version)
        text = "; ".join(c["text"] for c in candidates) if candidates else (
            "nothing loadwatch measures moved with it (database time and calls per request, statements, cache hit "
            "rate, target CPU per request, version): look outside the target's own work (network, host, a "
            "dependency)")
        if others:
            text += "; " + "; ".join(others)
        explanations.append({"scenario": sc, "metrics": sorted(regressed[sc]), "candidates": candidates,
                             "nothing_moved": not candidates, "text": text, "elsewhere": others})
    return {
        "statements": texts,
        "explanations": explanations,
        "missing": missing,
        "notes": notes,
        "rows": [_compact(r) for r in rows],
    }


def format_text(run_id: str, verdict: str | None, attribution: Mapping[str, Any]) -> str:
    """What `loadwatch explain` prints: each regressed scenario's ranked candidates, then the missing sources."""
    lines = [f"run {run_id}: {verdict or 'unknown'}"]
    explanations = list(attribution.get("explanations") or [])
    if not explanations:
        lines.append("no regressed scenario to explain")
    for e in explanations:
        lines.append(f"{e.get('scenario')} ({', '.join(e.get('metrics') or [])}):")
        cands = list(e.get("candidates") or [])
        if not cands:
            lines.append(f"  {e.get('text')}")
        for c in cands:
            lines.append(f"  {c.get('rank')}. {c.get('text')}")
    lines += [f"not available: {m}" for m in attribution.get("missing") or []]
    lines += [str(n) for n in attribution.get("notes") or []]
    return "\n".join(lines)
