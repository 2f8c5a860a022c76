"""`loadwatch bisect`: which commit between --good and --bad made the service slower? Each commit of the user's
repository is checked out into a git worktree and built once; each step is an A/B session (`loadwatch ab`) between
two of them, started with --start-cmd on loopback ports (loadwatch.ab.bisect).

Exit codes: 1 the regression was narrowed to one commit (named in the report), 0 good vs bad shows no regression
(nothing to narrow), 2 bad input, 3 inconclusive (a step could not decide, a build failed), 130 interrupted."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from loadwatch.commands.ab import add_session_arguments, check_outputs, settings_from, write_output

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", required=True, help="YAML plan: scenarios, rate, pools (its target URL is ignored)")
    parser.add_argument("--repo", default=".", help="the git repository of the service (default: .)")
    parser.add_argument("--good", required=True, metavar="REV", help="a revision without the regression")
    parser.add_argument("--bad", required=True, metavar="REV", help="a later revision with it")
    parser.add_argument("--build-cmd", metavar="CMD", help="builds the checkout in {dir} (run there, once per commit)")
    parser.add_argument("--start-cmd", required=True, metavar="CMD",
                        help="starts the build in {dir} on loopback port {port}, e.g. '{dir}/server --port {port}'")
    add_session_arguments(parser)


def run(ns: argparse.Namespace) -> int:
    from loadwatch.ab import render
    from loadwatch.ab.bisect import Commit, bisect, commits_between, worktrees
    from loadwatch.ab.builds import render_command, started
    from loadwatch.ab.session import AbResult, run_ab
    from loadwatch.config import load_plan
    from loadwatch.infra import interrupts

    plan = load_plan(ns.plan)
    if ns.rate is not None:
        plan = plan.with_load(rate=ns.rate)
    check_outputs(ns)
    settings = settings_from(ns, plan.load.rate if plan.load.model == "open" else None)
    render_command(ns.start_cmd, {"port": "0", "dir": "."}, field="--start-cmd")
    if ns.build_cmd:
        render_command(ns.build_cmd, {"dir": "."}, field="--build-cmd", need_port=False)
    repo = Path(ns.repo).resolve()
    good, bad, commits = commits_between(repo, ns.good, ns.bad)

    def say(msg: str) -> None:
        if not ns.quiet:
            print(f"loadwatch bisect: {msg}", file=sys.stderr, flush=True)

    say(f"{len(commits)} commit(s) after {good.sha[:12]} up to {bad.sha[:12]}")
    with worktrees(repo, ns.build_cmd) as trees, interrupts.handle_signals() as stop:

        def compare(a: Commit, b: Commit) -> AbResult:
            da, db = trees.dir_for(a), trees.dir_for(b)
            hp, to = plan.target.health_path, plan.target.startup_timeout
            with started(a.sha[:12], ns.start_cmd, field="--start-cmd", health_path=hp, timeout=to,
                         extra={"dir": str(da)}, cwd=da) as ba, \
                 started(b.sha[:12], ns.start_cmd, field="--start-cmd", health_path=hp, timeout=to,
                         extra={"dir": str(db)}, cwd=db) as bb:
                return run_ab(plan, ba, bb, settings, stop=stop)

        result = bisect(good, bad, commits, compare, say)
        result.builds = list(trees.built)
    md = render.bisection_markdown(result)
    print(md)
    if ns.json:
        write_output(ns.json, json.dumps(render.bisection_json(result), indent=1))
    write_output(ns.markdown, md)
    return result.exit_code
