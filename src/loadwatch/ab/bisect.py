"""`loadwatch bisect`: narrow a regression between two git revisions of the user's repository to one commit, with
an A/B session (loadwatch.ab.session) at each step.

The commits are the first-parent line from good (exclusive) to bad (inclusive). First the session good→bad must
find the regression (otherwise there is nothing to narrow). Then binary search: with lo known fast and hi known
slow, the midpoint m is compared with lo: a regression puts the culprit in (lo, m], anything else in (m, hi]; an
inconclusive step compares m with hi as well and fails (exit 3) when neither says regression. The culprit is the
first commit of the last (lo, hi] of length one; its change is measured against its parent (reused when that step
was already run).

Each commit is checked out once into a git worktree of the user's repository and built once (the build command
templated with `{dir}`), whatever the number of sessions it takes part in; the worktrees are removed at the end."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from loadwatch.ab.builds import render_command
from loadwatch.ab.session import AbResult
from loadwatch.errors import InfrastructureError, InvalidInput

__all__ = ["Bisection", "Commit", "Step", "Worktrees", "bisect", "commits_between"]


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str


@dataclass(frozen=True)
class Step:
    baseline: Commit
    candidate: Commit
    result: AbResult


@dataclass
class Bisection:
    good: Commit
    bad: Commit
    commits: list[Commit]  # good (exclusive) .. bad (inclusive), oldest first
    steps: list[Step] = field(default_factory=list)
    culprit: Commit | None = None
    culprit_step: Step | None = None
    verdict: str = "inconclusive"  # "found", "no_regression" (good vs bad), "inconclusive"
    reason: str = ""
    builds: list[str] = field(default_factory=list)  # shas built, in order (each once)

    @property
    def exit_code(self) -> int:
        return {"found": 1, "no_regression": 0}.get(self.verdict, 3)


def _git(repo: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False,
                             timeout=120)
    except FileNotFoundError:
        raise InfrastructureError("git is not installed (loadwatch bisect needs it)") from None
    if out.returncode != 0:
        raise InvalidInput(f"git {' '.join(args)}: {out.stderr.strip() or 'failed'}", source=str(repo))
    return out.stdout


def _commit(repo: Path, rev: str, flag: str) -> Commit:
    try:
        line = _git(repo, "log", "-1", "--format=%H%x00%s", f"{rev}^{{commit}}", "--")
    except InvalidInput:
        raise InvalidInput(f"not a commit of this repository: {rev!r}", source=str(repo), field=flag) from None
    sha, _, subject = line.strip().partition("\x00")
    return Commit(sha=sha, subject=subject)


def commits_between(repo: Path, good: str, bad: str) -> tuple[Commit, Commit, list[Commit]]:
    """good, bad and the first-parent commits after good up to bad (oldest first); InvalidInput when `repo` is not
    a git repository, a revision does not exist, or good is not an ancestor of bad."""
    if not repo.is_dir():
        raise InvalidInput("not a directory", source=str(repo), field="--repo")
    try:
        inside = _git(repo, "rev-parse", "--is-inside-work-tree").strip() == "true"
    except InvalidInput:
        inside = False
    if not inside:
        raise InvalidInput("not a git work tree", source=str(repo), field="--repo")
    g, b = _commit(repo, good, "--good"), _commit(repo, bad, "--bad")
    if subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", g.sha, b.sha],
                      capture_output=True, check=False).returncode != 0 or g.sha == b.sha:
        raise InvalidInput(f"--good {good} must be an ancestor of --bad {bad} (and not the same commit)",
                           source=str(repo), field="--good")
    lines = _git(repo, "log", "--first-parent", "--reverse", "--format=%H%x00%s", f"{g.sha}..{b.sha}").splitlines()
    commits = [Commit(*ln.split("\x00", 1)) for ln in lines if ln]
    return g, b, commits


class Worktrees:
    """One detached worktree per commit, each built once; removed on close."""

    def __init__(self, repo: Path, build_cmd: str | None, *, timeout: float = 1800.0) -> None:
        self.repo = repo
        self.build_cmd = build_cmd
        self.timeout = timeout
        self.root = Path(tempfile.mkdtemp(prefix="loadwatch-bisect-"))
        self.dirs: dict[str, Path] = {}
        self.built: list[str] = []

    def dir_for(self, c: Commit) -> Path:
        if c.sha in self.dirs:
            return self.dirs[c.sha]
        d = self.root / c.sha[:12]
        _git(self.repo, "worktree", "add", "--detach", str(d), c.sha)
        self.dirs[c.sha] = d
        if self.build_cmd:
            argv = render_command(self.build_cmd, {"dir": str(d)}, field="--build-cmd", need_port=False)
            log = d.parent / f"build-{c.sha[:12]}.log"
            with log.open("wb") as out:
                try:
                    rc = subprocess.run(argv, cwd=d, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        timeout=self.timeout, check=False).returncode
                except (OSError, subprocess.TimeoutExpired) as exc:
                    raise InfrastructureError(f"build of {c.sha[:12]} failed: {exc}; see {log}") from None
            if rc != 0:
                raise InfrastructureError(f"build of {c.sha[:12]} ({c.subject}) exited with {rc}; see {log}")
        self.built.append(c.sha)
        return d

    def close(self) -> None:
        for d in self.dirs.values():
            subprocess.run(["git", "-C", str(self.repo), "worktree", "remove", "--force", str(d)],
                           capture_output=True, check=False)
        subprocess.run(["git", "-C", str(self.repo), "worktree", "prune"], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def worktrees(repo: Path, build_cmd: str | None) -> Iterator[Worktrees]:
    w = Worktrees(repo, build_cmd)
    try:
        yield w
    finally:
        w.close()


Compare = Callable[[Commit, Commit], AbResult]


def bisect(good: Commit, bad: Commit, commits: list[Commit], compare: Compare,
           say: Callable[[str], None] = lambda _m: None) -> Bisection:
    """The search over `commits` (good exclusive .. bad inclusive) with `compare(baseline, candidate)` an A/B
    session. Pure apart from `compare`."""
    out = Bisection(good=good, bad=bad, commits=commits)

    def run(a: Commit, b: Commit) -> AbResult:
        say(f"step {len(out.steps) + 1}: {a.sha[:12]} vs {b.sha[:12]} ({b.subject})")
        res = compare(a, b)
        out.steps.append(Step(baseline=a, candidate=b, result=res))
        say(f"  {res.verdict}")
        return res

    first = run(good, bad)
    if first.verdict != "regression":
        out.verdict = "no_regression" if first.verdict == "no_regression" else "inconclusive"
        out.reason = f"good {good.sha[:12]} vs bad {bad.sha[:12]}: {first.verdict.replace('_', ' ')}"
        return out
    line = [good, *commits]
    lo, hi = 0, len(line) - 1  # line[lo] fast, line[hi] slow
    while hi - lo > 1:
        mid = (lo + hi) // 2
        res = run(line[lo], line[mid])
        if res.verdict == "regression":
            hi = mid
            continue
        if res.verdict == "no_regression":
            lo = mid
            continue
        if run(line[mid], line[hi]).verdict == "regression":
            lo = mid
            continue
        out.reason = (f"neither {line[lo].sha[:12]}..{line[mid].sha[:12]} nor {line[mid].sha[:12]}.."
                      f"{line[hi].sha[:12]} shows the regression (inconclusive steps): raise --budget")
        return out
    out.culprit = line[hi]
    done = [s for s in out.steps if s.baseline == line[lo] and s.candidate == line[hi]]
    out.culprit_step = done[-1] if done else None
    if out.culprit_step is None or out.culprit_step.result.verdict != "regression":
        run(line[lo], line[hi])  # its parent against it: the culprit's own measured change
        out.culprit_step = out.steps[-1]
    if out.culprit_step.result.verdict == "regression":
        out.verdict = "found"
    else:
        out.reason = f"the last step narrowed to {line[hi].sha[:12]}, but its parent vs it did not confirm it"
    return out
