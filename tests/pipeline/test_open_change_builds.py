"""Open changes name the builds between which they happened (issue 25 item 3): the nightly chain against a loopback
server that becomes 13x slower with a new build, the builds stated as `loadwatch run --version/--commit` would."""

from __future__ import annotations

from pathlib import Path

import yaml
from plain_runner import plain_stages
from test_open_changes_chain import _seed, slow  # noqa: F401  (slow: the loopback server fixture)

from loadwatch.params import RunParams
from loadwatch.pipeline.chain import run_chain
from loadwatch.record import RunSummary

OLD, NEW = "aaaa1111bbbb2222cccc", "dddd3333eeee4444ffff"


def _night(plan: Path, out: Path, db: str, version: str, commit: str) -> RunSummary:
    params = RunParams(plan=str(plan), out_dir=str(out), trigger="cli", capacity=False, version=version,
                       commit=commit, branch="main")
    return run_chain(params, plain_stages(), store_url=db)


def test_an_open_change_names_the_build_before_and_after(fresh_db, tmp_path, slow):  # noqa: F811
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({
        "name": "builds", "target": {"url": slow.url},
        "load": {"model": "open", "rate": 40, "duration": 3, "warmup": 1, "workers": 1},
        "scenarios": [{"name": "items", "path": "/items"}]}))
    first = _night(plan, tmp_path / "n0", fresh_db, "1.4.1", OLD)
    _seed(fresh_db, first)  # ten earlier nights of the same build (their summaries carry its revision)
    slow.delay_s = 0.040
    night = _night(plan, tmp_path / "n1", fresh_db, "1.4.2", NEW)
    assert night.verdict == "regression", night.verdict_reasons
    assert night.open_changes
    for change in night.open_changes:
        assert (change.version_before, change.version_after) == ("1.4.1 (aaaa1111bbbb)", "1.4.2 (dddd3333eeee)")
