"""The Grafana dashboard: valid JSON importable with a `${DS}` Postgres data source, and every query it holds
(panels, variables, annotations) runs against a real migrated trend store filled through the real writer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from loadwatch.store.db import make_engine, migrate
from loadwatch.store.repo import save_run

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "loadwatch-dashboard.json"
PLUGIN = "grafana-postgresql-datasource"
T0 = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)


def load() -> dict[str, Any]:
    dash: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dash


def queries(dash: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(where, format, sql) of every SQL statement in the dashboard."""
    for panel in dash["panels"]:
        for t in panel.get("targets", []):
            yield f"panel {panel['title']}", t["format"], t["rawSql"]
    for a in dash["annotations"]["list"]:
        if "target" in a:
            yield f"annotation {a['name']}", a["target"]["format"], a["target"]["rawSql"]
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            yield f"variable {v['name']}", "table", v["query"]


def substitute(sql: str) -> str:
    """What Grafana sends: macros expanded, multi-value variables as quoted lists."""
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)", r"\1 BETWEEN '2025-01-01T00:00:00Z' AND '2026-01-01T00:00:00Z'", sql)
    sql = sql.replace("$plan", "'tool_catalog'").replace("$scenario", "'*','list_tools'")
    assert "$" not in sql, f"unhandled macro or variable in: {sql}"
    return sql


def record(
    i: int,
    *,
    p95: float,
    verdict: str = "pass",
    comparison: list[Any] | None = None,
    change_points: list[Any] | None = None,
) -> dict[str, Any]:
    started = T0 + timedelta(days=i)
    run_id = started.strftime("%Y%m%dT%H%M%SZ") + f"-{i:06x}"
    block = {"requests": 3000, "errors": 3, "rps": 50.0, "latency_ms": {"p50": p95 / 3, "p95": p95, "p99": p95 * 1.5}}
    summary = {
        "schema_version": 1,
        "run_id": run_id,
        "status": "completed",
        "verdict": verdict,
        "started_at": started.isoformat(),
        "finished_at": (started + timedelta(seconds=70)).isoformat(),
        "plan": {
            "name": "tool_catalog",
            "hash": "plan1",
            "target_url": "demo",
            "scenarios": [{"name": "list_tools", "weight": 35, "method": "GET", "path": "/api/v1/tools"}],
        },
        "environment": {"hash": "env1"},
        "load": {**block, "scenarios": {"list_tools": {**block, "requests": 1000, "errors": 0}}},
        "resources": {
            "target": {"samples": 5, "cpu_percent": {"avg": 30.0, "max": 50.0}, "rss_mb": {"avg": 80.0, "max": 90.0}}
        },
        "thresholds": [
            {"expr": "p95 < 50ms", "scenario": "*", "metric": "p95_ms", "value": p95, "limit": 50.0, "passed": p95 < 50}
        ],
        "comparison": comparison or [],
        "change_points": change_points or [],
    }
    return {"summary": summary, "status": "completed", "trigger": "schedule", "tags": ["nightly"]}


@pytest.fixture
def store(fresh_db: str) -> str:
    engine = make_engine(fresh_db)
    try:
        migrate(engine)
        for i in range(5):
            save_run(engine, record(i, p95=6.0 + 0.1 * i))
        bad = record(
            5,
            p95=60.0,
            verdict="regression",
            comparison=[
                {
                    "scenario": "list_tools",
                    "metric": "p95_ms",
                    "outcome": "regression",
                    "value": 60.0,
                    "baseline": 6.2,
                    "change_percent": 867.7,
                    "ci": [800.0, 900.0],
                    "robust_z": 40.0,
                },
                {"scenario": "*", "metric": "rps", "outcome": "ok", "value": 50.0, "baseline": 50.0},
            ],
        )
        bad["summary"]["change_points"] = [
            {
                "run_id": bad["summary"]["run_id"],
                "scenario": "list_tools",
                "metric": "p95_ms",
                "forward_change_percent": 867.7,
                "p_value": 1e-5,
                "mean_before": 6.2,
                "mean_after": 60.0,
                "direction": "worse",
            }
        ]
        save_run(engine, bad)
    finally:
        engine.dispose()
    return fresh_db


def test_dashboard_is_an_importable_postgres_dashboard() -> None:
    dash = load()
    assert [i["name"] for i in dash["__inputs"]] == ["DS"]
    assert dash["__inputs"][0]["pluginId"] == PLUGIN and dash["__inputs"][0]["type"] == "datasource"
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 36
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for needed in ("p95", "throughput", "error rate", "verdicts", "change points"):
        assert needed in titles
    names = {a["name"] for a in dash["annotations"]["list"]}
    assert "Change points" in names
    refs = [p["datasource"] for p in dash["panels"]] + [t["datasource"] for p in dash["panels"] for t in p["targets"]]
    assert all(r == {"type": PLUGIN, "uid": "${DS}"} for r in refs)
    # panels do not overlap on the 24-column grid
    cells: set[tuple[int, int]] = set()
    for p in dash["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, p["title"]
        cells |= mine


def test_every_query_runs_against_a_real_store(store: str) -> None:
    results: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(store, autocommit=True) as conn:
        for where, fmt, sql in queries(load()):
            cur = conn.execute(substitute(sql))  # no parameters: psycopg sends the text as is
            cols = [d.name for d in cur.description or []]
            rows = cur.fetchall()
            assert rows, f"{where}: no rows"
            if fmt == "time_series":
                assert cols[0] == "time" and cols[1] == "metric" and len(cols) == 3, (where, cols)
                times = [r[0] for r in rows]
                assert times == sorted(times), f"{where}: Grafana needs time-ordered rows"
            results[where] = rows
    p95 = {(r[0], r[1]): r[2] for r in results["panel p95 latency per scenario"]}
    assert p95[(T0 + timedelta(days=5), "list_tools")] == 60.0
    assert {m for _, m in p95} == {"*", "list_tools"}
    assert {r[1] for r in results["panel Throughput (whole run)"]} == {"*"}
    verdicts = results["panel Runs and verdicts"]
    assert len(verdicts) == 6 and verdicts[0][5] == "regression" and verdicts[0][6] == 1  # newest first
    assert verdicts[0][8] == 1  # its p95 threshold breached
    (regression,) = results["panel Regressions and suspects"]
    assert regression[2:5] == ("list_tools", "p95_ms", "regression")
    (annotation,) = results["annotation Change points"]
    assert annotation[1].startswith("list_tools p95_ms worse 867.7 %") and annotation[2] == "change-point,pending"
    assert results["variable plan"] == [("tool_catalog",)]
    assert results["panel Latest verdict"][0][1] == "regression"
