"""Where a run's version, commit and branch come from (loadwatch.revision): stated, reported by the target, or the
CI's variables, in that order."""

from __future__ import annotations

from loadwatch.revision import branch_of, resolve_revision


def test_stated_values_win_over_the_target_and_the_ci():
    env = {"GITHUB_SHA": "abc123", "GITHUB_REF_NAME": "main"}
    rev = resolve_revision(version="2.0", commit="def456", branch="feature", target_version="1.9", environ=env)
    assert rev == {"version": "2.0", "commit": "def456", "branch": "feature",
                   "source": {"version": "cli", "commit": "cli", "branch": "cli"}}


def test_github_actions_push_and_pull_request():
    push = resolve_revision(target_version="1.9", environ={"GITHUB_SHA": "abc123", "GITHUB_REF_NAME": "main"})
    assert push == {"version": "1.9", "commit": "abc123", "branch": "main",
                    "source": {"version": "target", "commit": "ci", "branch": "ci"}}
    # on a pull request GITHUB_REF_NAME is "<number>/merge": the PR's head branch is the one that names it
    pr = {"GITHUB_SHA": "abc123", "GITHUB_REF_NAME": "17/merge", "GITHUB_HEAD_REF": "fix-cache"}
    assert resolve_revision(environ=pr)["branch"] == "fix-cache"
    assert branch_of(pr) == "fix-cache"


def test_gitlab_ci_variables():
    rev = resolve_revision(environ={"CI_COMMIT_SHA": "0f0f", "CI_COMMIT_REF_NAME": "release-3"})
    assert (rev["commit"], rev["branch"]) == ("0f0f", "release-3")
    assert rev["version"] is None and "version" not in rev["source"]


def test_nothing_known_is_none_not_empty_text():
    rev = resolve_revision(version="  ", environ={"GITHUB_HEAD_REF": "", "GITHUB_SHA": " "})
    assert rev == {"version": None, "commit": None, "branch": None, "source": {}}
    assert branch_of({}) is None


def test_the_run_command_has_the_flags():
    from loadwatch.cli import build_parser

    # the run's flags are RunParams' fields (loadwatch.commands.run), built when `run` is the command parsed
    ns = build_parser("run").parse_args(["run", "--version", "2.0", "--commit", "def456", "--branch", "feature"])
    assert (ns.version, ns.commit, ns.branch) == ("2.0", "def456", "feature")
