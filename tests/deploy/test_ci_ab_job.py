"""The pull-request A/B job of the GitHub workflow: both builds installed side by side, `loadwatch ab` between
them, the result as the job summary and one PR comment kept up to date, the check failing on exit 1 or 3; every
`run:` script shellcheck-clean (expressions replaced by a word, as the runner substitutes them before bash)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / "deploy" / "github" / "loadwatch.yml"


def _job() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["pr-ab"]


def test_pr_ab_job_compares_base_and_pr_and_fails_on_regression() -> None:
    job = _job()
    assert job["if"] == "github.event_name == 'pull_request'" and job["timeout-minutes"] <= 60
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    checkouts = [s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout")]
    assert {c["with"]["path"] for c in checkouts} == {"base", "pr"}
    assert any(c["with"].get("ref") == "${{ github.event.pull_request.base.sha }}" for c in checkouts)
    ab = next(s for s in job["steps"] if s.get("id") == "ab")
    assert "loadwatch ab --plan" in ab["run"] and "--baseline-cmd" in ab["run"] and "--candidate-cmd" in ab["run"]
    assert "{port}" in ab["run"] and "--markdown ab.md" in ab["run"] and "GITHUB_STEP_SUMMARY" in ab["run"]
    comment = next(s for s in job["steps"] if "PATCH" in s.get("run", ""))
    assert "<!-- loadwatch-ab -->" in comment["run"] and comment["continue-on-error"] is True
    last = job["steps"][-1]
    assert last["env"]["CODE"] == "${{ steps.ab.outputs.code }}" and 'exit "${CODE:-3}"' in last["run"]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_pr_ab_scripts_are_shellcheck_clean() -> None:
    for step in _job()["steps"]:
        if "run" not in step:
            continue
        script = re.sub(r"\$\{\{[^}]*\}\}", "X", step["run"])
        proc = subprocess.run(["shellcheck", "-s", "bash", "-"], input=script, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, f"{step.get('name')}: {proc.stdout}"
