"""Capacity in the verdict (issue 22): a search that finds no rate meeting the SLO breaches the night (exit 1),
through the chain with its plain runners, a real loopback server of known speed and the embedded store; the
other outcomes' wording is pinned on the pure rule."""

from __future__ import annotations

from pathlib import Path

import yaml
from plain_runner import plain_stages

from loadwatch.params import RunParams
from loadwatch.pipeline.capacity_verdict import capacity_finding
from loadwatch.pipeline.chain import run_chain


def _plan(folder: Path, url: str) -> str:
    doc = {"name": "slow", "target": {"url": url},
           "load": {"model": "open", "rate": 10, "duration": 2, "warmup": 0.5, "workers": 1},
           "scenarios": [{"name": "request", "path": "/"}],
           # every answer takes 20 ms: no rate can meet p99 < 5ms
           "capacity": {"slos": ["p99 < 5ms"], "start_rate": 4, "growth": 4, "max_rate": 64, "budget": 30,
                        "settle": 0.5, "step": 1.5, "max_step": 2, "min_requests": 5}}
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_a_capacity_search_with_no_answer_breaches_the_night(fresh_db, tmp_path, server):
    url = server("--mode", "pool", "--workers", "2", "--service-ms", "20")
    params = RunParams(plan=_plan(tmp_path, url), out_dir=str(tmp_path / "out"), trigger="cli")
    summary = run_chain(params, plain_stages(), store_url=fresh_db)
    assert summary.capacity is not None and summary.capacity["outcome"] == "no_capacity", summary.capacity
    assert summary.verdict == "threshold_breach" and summary.exit_code == 1
    reason = next(r for r in summary.verdict_reasons if r.startswith("capacity breached"))
    assert "no rate up to 4 req/s meets p99 < 5ms" in reason
    assert "capacity breached" in (tmp_path / "out" / "report.md").read_text()


def test_a_search_cut_short_is_inconclusive_and_said_so():
    for outcome, words in (("budget", "cut short by its budget"), ("generator_bound", "cut short by the generator"),
                           ("failed", "failed")):
        finding = capacity_finding({"outcome": outcome, "reason": "why", "steps": []})
        assert finding is not None and finding[0] == "inconclusive" and words in finding[1] and "(why)" in finding[1]
    assert capacity_finding({"outcome": "found", "capacity_rps": 10.0}) is None
    assert capacity_finding({"outcome": "max_rate", "capacity_rps": 64.0}) is None
    assert capacity_finding(None) is None
