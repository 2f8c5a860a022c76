"""Commit-aware history through the chain (plain runners, the real demo target, a real Postgres): every run records
the build it measured, from the target's version endpoint, the CI's variables or the stated values, in summary.json,
the store's columns and the report."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
from plain_runner import plain_stages

from loadwatch import __version__
from loadwatch.params import RunParams
from loadwatch.pipeline.chain import run_chain

CI_VARS = ("GITHUB_SHA", "GITHUB_REF_NAME", "GITHUB_HEAD_REF", "CI_COMMIT_SHA", "CI_COMMIT_REF_NAME")


def _params(out: Path, **overrides) -> RunParams:
    return RunParams(**{"duration": 2, "rate": 30, "warmup": 0.5, "out_dir": str(out), "trigger": "ci",
                        "capacity": False, **overrides})


def _stored(url: str, run_id: str) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT target_version, target_commit, target_branch FROM runs WHERE run_id = %s",
                            (run_id,)).fetchone()


def test_the_target_reports_the_version_and_the_ci_the_commit_and_branch(fresh_db, tmp_path, monkeypatch):
    for name in CI_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_SHA", "3f2a9c1e")
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    # the bundled plan reads the demo's /api/v1/tools/version, which answers {"version": loadwatch's version, ...}
    night = run_chain(_params(tmp_path / "a"), plain_stages(), store_url=fresh_db)
    written = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert written["revision"] == {"version": __version__, "commit": "3f2a9c1e", "branch": "main",
                                   "source": {"version": "target", "commit": "ci", "branch": "ci"}}
    assert _stored(fresh_db, night.run_id) == (__version__, "3f2a9c1e", "main")
    html = (tmp_path / "a" / "report.html").read_text()
    md = (tmp_path / "a" / "report.md").read_text()
    for text in (html, md):
        assert f"version {__version__} · commit 3f2a9c1e · branch main" in text


def test_stated_values_win_and_name_the_environment_version(fresh_db, tmp_path, monkeypatch):
    for name in CI_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CI_COMMIT_SHA", "gitlab-sha")
    monkeypatch.setenv("CI_COMMIT_REF_NAME", "release-3")
    night = run_chain(_params(tmp_path / "b", version="7.1.0-rc2", commit="b0b0b0", branch="feature-x"),
                      plain_stages(), store_url=fresh_db)
    assert night.revision == {"version": "7.1.0-rc2", "commit": "b0b0b0", "branch": "feature-x",
                              "source": {"version": "cli", "commit": "cli", "branch": "cli"}}
    # the attribution's version change and the open changes read the version from the environment
    assert night.environment["target_version"] == "7.1.0-rc2"
    assert _stored(fresh_db, night.run_id) == ("7.1.0-rc2", "b0b0b0", "feature-x")


def test_a_gitlab_run_without_a_version_endpoint(fresh_db, tmp_path, monkeypatch):
    for name in CI_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CI_COMMIT_SHA", "gitlab-sha")
    monkeypatch.setenv("CI_COMMIT_REF_NAME", "release-3")
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: no-version\ntarget:\n  url: demo\n  health_path: /health\nload:\n  rate: 30\n"
                    "  duration: 2\nscenarios:\n  - name: health\n    path: /health\n")
    night = run_chain(_params(tmp_path / "c", plan=str(plan)), plain_stages(),
                      store_url=fresh_db)
    assert night.revision == {"version": None, "commit": "gitlab-sha", "branch": "release-3",
                              "source": {"commit": "ci", "branch": "ci"}}
    assert _stored(fresh_db, night.run_id) == (None, "gitlab-sha", "release-3")


def _baseline_runs(summary) -> int:
    """How many comparable runs the night's gate had: its insufficient-history reason says (10 are needed)."""
    reason = next(r for r in summary.verdict_reasons if r.startswith("insufficient history: "))
    return int(reason.split(": ")[1].split(" ")[0])


def test_the_nightly_baseline_is_the_main_line(fresh_db, tmp_path, monkeypatch):
    for name in CI_VARS:
        monkeypatch.delenv(name, raising=False)

    def night(name: str, **revision) -> object:
        return run_chain(_params(tmp_path / name, **revision), plain_stages(), store_url=fresh_db)

    first = night("main1", branch="main")
    assert first.verdict == "insufficient_history" and _baseline_runs(first) == 0
    # a branch is judged against main's runs, and says so; its own earlier run is never its baseline
    feature = night("feature1", branch="feature-x")
    assert _baseline_runs(feature) == 1
    assert "branch feature-x: judged against main's baseline (1 run)" in feature.verdict_reasons
    # main's baseline never holds the branch's runs; a night that names no branch keeps every run
    assert _baseline_runs(night("main2", branch="main")) == 1
    assert _baseline_runs(night("unknown")) == 3
    # a repository whose main line is called trunk names it: feature-x's run is no baseline of trunk's either
    named = night("trunk", branch="trunk", main_branch="trunk")
    assert _baseline_runs(named) == 1  # the one that named no branch
    assert not any(r.startswith("branch ") for r in named.verdict_reasons)
    stored = json.loads((tmp_path / "feature1" / "summary.json").read_text())
    assert "branch feature-x: judged against main's baseline (1 run)" in stored["verdict_reasons"]
