"""Why a run regressed: what it cost per request, judged like latency, and what moved with a regression.

Pure functions over a run's summary and its gate rows (no Prefect, no I/O); method in docs/METHOD.md §9. The
per-request figures themselves (database time, calls, blocks and rows per request, target CPU per request, the
cache hit rate, per statement its mean time and calls per request) are metrics of the run, derived below the store
with the rest of the metric vector (loadwatch.metrics.attribution_metrics), so the gate and the change-point
detector judge them with the same history and the same rule as latency.

`explain(...)`: for each regressed scenario, the candidates whose own gate rows moved the same night in the
direction that would explain it, ranked, each as one sentence; `missing_sources`: the sources that were missing,
named.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from loadwatch.findings import StatementOwner
from loadwatch.metrics import cache_hit_rate
from loadwatch.metrics import finite_number as _num
from loadwatch.observations import StatementIntervals
from loadwatch.pipeline import ownership
from loadwatch.statements import statements
from loadwatch.vocabulary import ALL, ATTRIBUTION_METRICS, STATEMENT_METRICS, STMT_PREFIX

__all__ = [
    "ATTRIBUTION_METRICS",
    "MAX_CANDIDATES",
    "STATEMENT_METRICS",
    "STMT_PREFIX",
    "explain",
    "format_text",
    "missing_sources",
    "moved",
    "owner_of",
    "statement_owner",
]

MAX_CANDIDATES = 5
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


def owner_of(qid: str, intervals: StatementIntervals | None, baseline: Sequence[Mapping[str, Any]],
             scenarios: Sequence[str]) -> StatementOwner:
    """Whose statement it is: from this night's intervals when they can tell (loadwatch.pipeline.ownership), else
    from the baseline nights' traffic mix (statement_owner), else nobody's that can be told (`owners` [])."""
    night = ownership.night_owners(intervals, [qid]).get(qid)
    found: StatementOwner = {"owners": [], "method": "none", "reason": "", "coefficients": {}, "intervals": 0,
                             "dispersion": None}
    if night is not None:
        found["coefficients"] = dict(night["coefficients"])
        found["intervals"] = night["intervals"]
        found["dispersion"] = night["dispersion"]
        if night["owners"]:
            found["owners"], found["method"], found["reason"] = list(night["owners"]), "night", night["reason"]
            return found
    why = night["reason"] if night is not None else "the run has no calls per interval of it"
    by_nights = statement_owner(qid, baseline, scenarios)
    if by_nights is not None:
        found["owners"], found["method"] = [by_nights], "nights"
        found["reason"] = (f"its calls per request follow {by_nights}'s share of the traffic over the baseline nights "
                           f"(within the night: {why})")
    else:
        found["reason"] = f"within the night: {why}; over the nights: the traffic mix cannot tell"
    return found


def _whose(owners: Sequence[str]) -> str:
    return f"{owners[0]}'s" if len(owners) == 1 else "shared by " + " and ".join(owners)


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
    stmts: list[dict[str, Any]], owners: Mapping[str, StatementOwner], scenario: str, texts: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The statement candidates that can be `scenario`'s (its own, one it shares, or one whose owner the data cannot
    tell, said in their text), and a note for each that is another scenario's (or others' only)."""
    own: list[dict[str, Any]] = []
    others: list[str] = []
    for c in stmts:
        found = owners.get(str(c.get("queryid")))
        who = list(found["owners"]) if found is not None else []
        in_night = found is not None and found["method"] == "night"
        if scenario == ALL:
            own.append(c)
        elif not who:
            own.append({**c, "text": c["text"] + " (which scenario runs it cannot be told from the nights' traffic "
                                                  "mix)"})
        elif scenario in who:
            how = ("" if not in_night else f" ({scenario}'s: it runs with {scenario}'s requests second by second)"
                   if len(who) == 1 else f" ({_whose(who)}: it runs with their requests second by second)")
            own.append({**c, "text": c["text"] + how})
        else:
            query = texts.get(str(c["queryid"]), str(c["queryid"]))
            why = ((f"it runs with {who[0]}'s requests second by second" if len(who) == 1
                    else "it runs with their requests second by second") if in_night
                   else f"its calls per request follow {who[0]}'s share of the traffic")
            others.append(f"statement `{query}` moved too, but it is {_whose(who)} ({why})")
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
    intervals = ((summary.get("resources") or {}).get("database") or {}).get("statement_intervals")
    owners: dict[str, StatementOwner] = {}
    explanations = []
    for sc in targets:
        sc_requests = _num(((load.get("scenarios") or {}).get(sc) or {}).get("requests"))
        share = sc_requests / total if sc != ALL and sc_requests and total else 1.0
        stmts = _statement_candidates(by_key, current, texts, baseline, share, sc)
        for c in stmts:
            qid = str(c["queryid"])
            if qid not in owners:
                owners[qid] = owner_of(qid, intervals, baseline, scenario_names)
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
        "owners": owners,
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
