"""Which build a run measured: the target's version, commit and branch (issue 25 item 3).

Each field comes from the first source that has it: the command line (`--version/--commit/--branch`, RunParams),
then the target's version endpoint (`target.version_path`), then the CI's variables (GitHub Actions, GitLab CI).
`source` names where each came from, so a reader can tell a stated version from one the target reported."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar

from typing_extensions import TypedDict

__all__ = ["CI_BRANCH", "CI_COMMIT", "Revision", "RevisionSource", "branch_of", "build_label", "main_line",
           "resolve_revision"]

RevisionSource = Literal["cli", "target", "ci"]

# GITHUB_HEAD_REF first: on a pull request GITHUB_REF_NAME is "<n>/merge", the head branch is the PR's own
CI_BRANCH = ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME")
CI_COMMIT = ("GITHUB_SHA", "CI_COMMIT_SHA")


class Revision(TypedDict):
    """summary.json's `revision`: None where no source had the field."""

    version: str | None
    commit: str | None
    branch: str | None
    source: dict[str, RevisionSource]  # field -> where it came from


def _first_env(names: tuple[str, ...], environ: Mapping[str, str]) -> str | None:
    for name in names:
        value = (environ.get(name) or "").strip()
        if value:
            return value[:200]
    return None


def branch_of(environ: Mapping[str, str] | None = None) -> str | None:
    """The CI's branch, or None outside CI."""
    return _first_env(CI_BRANCH, os.environ if environ is None else environ)


def resolve_revision(*, version: str | None = None, commit: str | None = None, branch: str | None = None,
                     target_version: str | None = None, environ: Mapping[str, str] | None = None) -> Revision:
    """The run's revision: stated values first, then what the target reported (its version), then the CI's."""
    env = os.environ if environ is None else environ
    out: Revision = {"version": None, "commit": None, "branch": None, "source": {}}
    candidates: dict[Literal["version", "commit", "branch"], list[tuple[str | None, RevisionSource]]] = {
        "version": [(version, "cli"), (target_version, "target")],
        "commit": [(commit, "cli"), (_first_env(CI_COMMIT, env), "ci")],
        "branch": [(branch, "cli"), (_first_env(CI_BRANCH, env), "ci")],
    }
    for field, options in candidates.items():
        for value, source in options:
            if value is not None and value.strip():
                out[field] = value.strip()
                out["source"][field] = source
                break
    return out


def build_label(version: str | None, commit: str | None) -> str | None:
    """A build as change points and open changes name it: "1.4.2 (3f2a9c1e1b2c)", the version or the short
    commit alone, None when neither is known."""
    short = commit[:12] if commit else None
    if version and short:
        return f"{version} ({short})"
    return version or short


_Run = TypeVar("_Run", bound=Mapping[str, Any])


def main_line(history: Sequence[_Run], branch: str | None, main_branch: str) -> tuple[list[_Run], str | None]:
    """The nightly baseline of a run of `branch` (docs/METHOD.md §14): the main line, the runs of `main_branch` and
    those that recorded no branch. A run of another branch is judged against it, never against that branch's own
    earlier runs (as Apache Otava's `--branch`); and the main line's baseline never holds another branch's runs.
    Returns the runs kept and a sentence for the verdict when the choice is worth saying: a branch judged against
    main, or one whose main has no comparable runs (then its own runs are the baseline, and the sentence says so and
    how to name the main branch). A run that knows no branch keeps every run (nothing to tell them apart by)."""
    if branch is None:
        return list(history), None
    main = [p for p in history if p.get("target_branch") in (None, main_branch)]
    if branch == main_branch:
        return main, None
    if main:
        n = len(main)
        return main, f"branch {branch}: judged against {main_branch}'s baseline ({n} run{'s' if n != 1 else ''})"
    own = [p for p in history if p.get("target_branch") == branch]
    return own, (f"branch {branch}: {main_branch} has no comparable runs, so {branch}'s own earlier runs are the "
                 f"baseline (--main-branch names the branch whose runs are)")
