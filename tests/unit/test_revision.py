"""Where a run's version, commit and branch come from (loadwatch.revision): stated, reported by the target, or the
CI's variables, in that order."""

from __future__ import annotations

from loadwatch.revision import branch_of, main_line, resolve_revision


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


def _runs(*branches: str | None) -> list[dict]:
    return [{"run_id": f"r{i}", "target_branch": b} for i, b in enumerate(branches)]


def test_the_main_lines_baseline_keeps_main_and_runs_that_named_no_branch():
    history = _runs(None, "main", "feature-x", "main", "release-2")
    kept, note = main_line(history, "main", "main")
    assert [p["run_id"] for p in kept] == ["r0", "r1", "r3"] and note is None


def test_another_branch_is_judged_against_main_never_its_own_runs():
    history = _runs("main", "feature-x", "main", "feature-x")
    kept, note = main_line(history, "feature-x", "main")
    assert [p["run_id"] for p in kept] == ["r0", "r2"]
    assert note == "branch feature-x: judged against main's baseline (2 runs)"
    kept, note = main_line(_runs("trunk"), "feature-x", "trunk")
    assert [p["run_id"] for p in kept] == ["r0"] and note == "branch feature-x: judged against trunk's baseline (1 run)"


def test_a_branch_whose_main_has_no_runs_keeps_its_own_and_says_how_to_name_main():
    # a repository whose main line is `master`, run without --main-branch: never silently without a baseline
    history = _runs("master", "master", "feature-x")
    kept, note = main_line(history, "master", "main")
    assert [p["run_id"] for p in kept] == ["r0", "r1"]
    assert note == ("branch master: main has no comparable runs, so master's own earlier runs are the baseline "
                    "(--main-branch names the branch whose runs are)")
    assert main_line([], "master", "main") == ([], note)


def test_a_run_that_knows_no_branch_keeps_every_run():
    history = _runs("main", "feature-x", None)
    assert main_line(history, None, "main") == (history, None)


def test_the_run_command_has_main_branch():
    from loadwatch.cli import build_parser

    assert build_parser("run").parse_args(["run"]).main_branch == "main"  # RunParams' default
    assert build_parser("run").parse_args(["run", "--main-branch", "trunk"]).main_branch == "trunk"
