"""The end-to-end proofs on one history: twelve clean nights against the real demo target and its real Postgres, then
each fault in turn through the real flow.

- Caught: one endpoint made twice as slow (a sleep, no CPU), run through the CLI as a CI job would: exit 1, the
  verdict a regression for that scenario only, the report says so. Each scenario is judged against its own
  night-to-night spread (here ±3 % for p50 with every answer's base wait, ±8-16 % without on this machine's vCPU),
  and a doubling is well beyond that band.
- Explained (issue 17): each realistic fault's night fails on the scenario the fault is behind, and its explanation
  names the cause first: the statement whose mean rose (a dropped index), calls per request (an N+1), the cache hit
  rate (a cache that stops caching); no other scenario is explained.

The two shared one history since 2026-12-07 (they were two tests with twelve and ten clean nights of their own: two
minutes of CI for the same baseline)."""

from __future__ import annotations

import json
import os
import statistics
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from loadwatch.cli import main
from loadwatch.params import RunParams

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]

# More than the gate's min_history (10): z* 4.72 at twelve nights against 5.18 at ten (METHOD §3), a margin for the
# smallest fault here, the N+1's; short nights pay for them (the spread that matters is between nights)
CLEAN_NIGHTS = 12
RATE = 150  # as the regression proof: enough samples per scenario that p50 is steady night to night
NIGHT_S = 5
API = "/api/v1/tools"
# list_tools' page: under the N+1 fault, 18 statements per request instead of one. Each fault must cost its own
# scenario a lot and the service as a whole little (on a shared 2-core runner): a 5-tool page (list_tools about
# 1.7x) and a 10-tool page (+25-38 % over the base wait below, z 3.2-9.8) were judged only `suspect` on some runs of
# a fresh machine of this kind (issue 23.7).
PAGE = 16
# Every answer waits this long first (the demo's delay_ms knob, a sleep: no CPU), every night. On this machine a
# night's latency moves with the vCPU's speed, which scales the CPU work (±13-16 % of get_tool's 0.5 ms p50 between
# clean nights, 2026-12-07), not a sleep; the faults add work of a fixed size. On the log scale the gate works in, a
# fixed effect over that noise shows more clearly above a base a real service has anyway (log(1 + D/B) * B / noise
# grows with B), less than that formula says because the sleep has its own jitter (whole-millisecond timers).
# Measured 2026-12-07, z of the faulted scenario's p50 without the wait (3 runs) and with it (5 runs): slow
# 5.8-15.7 -> 9.0-33.8, index 10.2-13.3 -> 11.9-34.8, N+1 3.5-8.7 -> 3.2-9.8 (hence the larger page), cache 4.4-8.2 ->
# 3.2-15.8 (hence MISS_MS).
BASE_DELAY_MS = 3.0
# What get_tool's lookup behind the cache costs besides its statement (the demo's miss_ms: a remote call), every
# night; paid only on a miss. The demo's own lookup is one indexed statement (about +0.6 ms a miss): a cache that
# stops caching then cost get_tool +14-22 % over the base wait, and with the nights' spread ±1-3.5 % that was z
# 3.2-15.8, judged `suspect` on 3 of 7 runs. A cache is there because the lookup costs something; 3 ms makes its
# loss about x2.
MISS_MS = 3.0
SLOW_SCENARIO = "search_by_name"  # the one scenario on the search route, never touched by the other faults
SLOW_ENDPOINT = "search"


def _faults(drop_indexes: list[str] | None = None, **endpoints: dict[str, Any]) -> dict[str, Any]:
    """The demo's knobs for a night: every night's base wait and lookup cost, with a fault's own on top."""
    knobs: dict[str, dict[str, Any]] = {"get_tool": {"miss_ms": MISS_MS}}
    for name, extra in endpoints.items():
        knobs[name] = {**knobs.get(name, {}), **extra}
    return {"delay_ms": BASE_DELAY_MS, "endpoints": knobs, "drop_indexes": drop_indexes or []}


def _plan(folder: Path, url: str, database_url: str) -> str:
    doc: dict[str, Any] = {
        "name": "attribution_proof",
        "target": {"url": url, "database_url": database_url, "stats_path": f"{API}/performance/stats",
                   "version_path": f"{API}/version", "health_path": f"{API}/health"},
        "load": {"model": "open", "rate": RATE, "duration": NIGHT_S, "warmup": 1,
                 "timeout": {"connect": 5, "total": 10}},
        "pools": {"tool": {"from_path": f"{API}?page_size=100&latest=true&enabled=true&status=active",
                           "json_path": "tools[*].tool_name"},
                  "term": {"values": ["net", "disk", "log", "scan", "git"]}},
        # one scenario per route, so each fault is behind exactly one scenario; search_by_name is never touched
        "scenarios": [
            {"name": "list_tools", "weight": 20, "path": API, "query": {"page": "2", "page_size": str(PAGE)},
             "expect": {"status": [200], "json_field": "tools"}},
            {"name": "tool_versions", "weight": 25, "path": API + "/{tool}/versions",
             "expect": {"status": [200], "json_field": "versions"}},
            {"name": "get_tool", "weight": 35, "path": API + "/{tool}", "expect": {"status": [200]}},
            {"name": "search_by_name", "weight": 20, "path": API + "/search/query", "query": {"q": "{term}"},
             "expect": {"status": [200], "json_field": "results"}},
        ],
        "thresholds": [],
    }
    path = folder / "attribution_plan.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def _warm_cache(url: str) -> None:
    """Look up every tool the plan can draw, so the cache is as warm each night as a long-running service's
    (otherwise its hit rate climbs over the first nights and dips when the TTL expires: a moving baseline)."""
    with urllib.request.urlopen(f"{url}{API}?page_size=100&latest=true&enabled=true&status=active") as r:
        names = [t["tool_name"] for t in json.loads(r.read())["tools"]]
    for name in names:
        with urllib.request.urlopen(f"{url}{API}/{name}") as r:
            r.read()


def _versions_queryid(database_url: str) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT s.queryid::text FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
            " WHERE d.datname = current_database() AND s.query LIKE %s AND s.query NOT LIKE %s"
            " ORDER BY s.calls DESC LIMIT 1", ("%tool_downloads d WHERE%", "%INSERT%"),
        ).fetchone()
    assert row, "the versions statement is not in pg_stat_statements"
    return str(row[0])


def _night(plan: str, demo: Any, out: Path) -> tuple[Any, dict[str, Any]]:
    from loadwatch.flows.nightly import nightly

    _warm_cache(demo.url)
    params = RunParams(plan=plan, duration=NIGHT_S, warmup=1, rate=RATE, out_dir=str(out), trigger="ci",
                       thresholds=[], capacity=False)
    state = nightly(**params.model_dump(), return_state=True)
    return state, json.loads((out / "summary.json").read_text())


def _explained(s: dict[str, Any], scenario: str) -> dict[str, Any]:
    regressed = {c["scenario"] for c in s["comparison"] if c["outcome"] == "regression"} - {"*"}
    outcomes = {(c["scenario"], c["metric"]): c["outcome"] for c in s["comparison"] if c["scenario"] != "*"}
    assert scenario in regressed, (s["verdict_reasons"], outcomes)
    by_scenario = {e["scenario"]: e for e in s["attribution"]["explanations"]}
    assert set(by_scenario) == regressed  # an explanation for every regressed scenario, none for the others
    own = by_scenario[scenario]
    assert own["candidates"], own
    # On two cores the faulted endpoint's work can slow a neighbour too (its table scans hold the CPU the other
    # endpoint needs: a real slowdown, seen on some runs of this test). Such a victim is never explained by a cause
    # of its own: it leads with the same first cause, or, when that cause is a statement the nights' traffic mix
    # shows to be the faulted scenario's (METHOD §9), with the database figure and that statement named as the
    # faulted scenario's.
    own_first = own["candidates"][0]
    for other in regressed - {scenario}:
        first = by_scenario[other]["candidates"][0]
        same = (first["kind"], first.get("queryid")) == (own_first["kind"], own_first.get("queryid"))
        named = first["kind"] == "database" and f"but it is {scenario}'s" in by_scenario[other]["text"]
        assert same or named, by_scenario
    return dict(own)


def test_each_fault_is_caught_and_explained_by_its_own_cause(prefect_harness, fresh_db, tmp_path, monkeypatch):
    from loadwatch import store
    from loadwatch.demo import DemoTarget

    monkeypatch.setenv("LOADWATCH_DATABASE_URL", fresh_db)
    demo = DemoTarget.start()
    demo.set_faults(_faults())
    plan = _plan(tmp_path, demo.url, demo.database_url)
    own_cpus = os.sched_getaffinity(0)
    if len(own_cpus) >= 2:  # generator and target on different cores (BENCHMARKING.md)
        first, second = sorted(own_cpus)[:2]
        os.sched_setaffinity(demo.pid, {second})
        os.sched_setaffinity(0, {first})
    faults = [
        ("index", _faults(drop_indexes=["idx_downloads_tool_day"]), "tool_versions"),
        ("n_plus_one", _faults(list_tools={"n_plus_one": True}), "list_tools"),
        ("cache", _faults(get_tool={"cache": False}), "get_tool"),
    ]
    results: dict[str, dict[str, Any]] = {}
    try:
        clean_p50 = []
        for night in range(CLEAN_NIGHTS):
            state, s = _night(plan, demo, tmp_path / f"night{night:02d}")
            assert s["load"]["errors"] == 0, s["load"]["errors_by_kind"]
            assert state.is_completed(), (night, s["verdict"], s["verdict_reasons"])
            clean_p50.append(s["load"]["scenarios"][SLOW_SCENARIO]["latency_ms"]["p50"])
        assert not s["attribution"]["missing"], s["attribution"]["missing"]
        versions_qid = _versions_queryid(demo.database_url)
        engine = store.connect(fresh_db)
        try:
            # caught: search_by_name twice as slow, through the CLI (exit code) as a CI job runs it
            slowed = BASE_DELAY_MS + statistics.median(clean_p50)  # its own wait, then as long again
            demo.set_faults(_faults(**{SLOW_ENDPOINT: {"delay_ms": round(slowed, 3)}}))
            _warm_cache(demo.url)
            slow_out = tmp_path / "fault_slow"
            slow_code = main(["run", "--plan", plan, "--target", demo.url, "--duration", str(NIGHT_S), "--warmup", "1",
                              "--rate", str(RATE), "--out", str(slow_out), "--trigger", "ci", "--no-thresholds"])
            demo.set_faults(_faults())
            slow = json.loads((slow_out / "summary.json").read_text())
            store.exclude_run(engine, slow["run_id"], "injected fault: slow search")
            for name, fault, _ in faults:
                demo.set_faults(fault)
                out = tmp_path / f"fault_{name}"
                state, s = _night(plan, demo, out)
                demo.set_faults(_faults())
                results[name] = {"state": state, "summary": s, "out": out}
                # an operator excludes a night whose cause is known, so it is not part of the next baseline
                store.exclude_run(engine, s["run_id"], f"injected fault: {name}")
        finally:
            engine.dispose()
        # the CLI explains a stored run the same way
        explain_json = tmp_path / "explain.json"
        code = main(["explain", results["index"]["summary"]["run_id"], "--json", str(explain_json)])
    finally:
        os.sched_setaffinity(0, own_cpus)
        demo.stop()

    # every fault night is checked before any assertion fails, so one run of this test says all that went wrong
    problems = []
    regressed = {c["scenario"] for c in slow["comparison"] if c["outcome"] == "regression"}
    latency = [c for c in slow["comparison"] if c["scenario"] == SLOW_SCENARIO and c["outcome"] == "regression"]
    md = (slow_out / "report.md").read_text()
    # the aggregate "*" contains the slowed scenario; no other scenario may be blamed
    if not (slow_code == 1 and slow["verdict"] == "regression" and regressed - {"*"} == {SLOW_SCENARIO}
            and any(c["change_percent"] > 50 for c in latency)):
        outcomes = {(c["scenario"], c["metric"]): c["outcome"] for c in slow["comparison"] if c["outcome"] != "ok"}
        problems.append(f"slow: exit {slow_code}, {slow['verdict']}, {slow['verdict_reasons']}, {outcomes}")
    elif not (SLOW_SCENARIO in md and "regression" in md.lower()
              and SLOW_SCENARIO in (slow_out / "report.html").read_text()):
        problems.append("slow: the report does not name the regression")
    for name, _, scenario in faults:
        s = results[name]["summary"]
        mine = {c["metric"]: c["outcome"] for c in s["comparison"] if c["scenario"] == scenario}
        if not (results[name]["state"].is_failed() and s["verdict"] == "regression"):
            problems.append(f"{name}: verdict {s['verdict']}, {scenario} outcomes {mine}")
            continue
        try:
            results[name]["explanation"] = _explained(s, scenario)
        except AssertionError as exc:
            problems.append(f"{name}: {exc}")
    assert not problems, "\n".join(problems)

    first = results["index"]["explanation"]["candidates"][0]
    assert (first["kind"], first["queryid"]) == ("statement_time", versions_qid), first
    assert "(calls per request unchanged)" in first["text"]

    first = results["n_plus_one"]["explanation"]["candidates"][0]
    assert first["kind"] == "statement_calls" and first["n_plus_one"], first

    first = results["cache"]["explanation"]["candidates"][0]
    assert first["kind"] == "cache" and first["value"] < 10, first

    md = (results["index"]["out"] / "report.md").read_text()
    assert "Why it regressed" in md and results["index"]["explanation"]["candidates"][0]["text"] in md
    assert "Why it regressed" in (results["index"]["out"] / "report.html").read_text()
    assert code == 0
    doc = json.loads(explain_json.read_text())
    assert doc["explanations"][0]["candidates"][0]["text"] == results["index"]["explanation"]["candidates"][0]["text"]
    # for the record (the final report quotes these)
    print(json.dumps({n: results[n]["explanation"]["text"] for n in results}, indent=1))
