"""`loadwatch init`: a plan for your own service from an OpenAPI document, a HAR recording or an access log
(loadwatch.plangen; docs/init.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loadwatch.commands.args import positive
from loadwatch.errors import EXIT_OK, EXIT_REGRESSION

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--openapi", metavar="FILE|URL", help="OpenAPI 3.0/3.1 document, JSON or YAML")
    src.add_argument("--har", metavar="FILE", help="HAR recording (browser dev tools, a proxy)")
    src.add_argument("--access-log", metavar="FILE", help="combined/common log format, or JSON lines")
    parser.add_argument("--base-url", help="the service's http(s)://host[:port] (default: from the source)")
    parser.add_argument("--out", default="plan.yaml", help="plan file to write (default ./plan.yaml)")
    parser.add_argument("--rate", type=positive(float), help="requests per second (default: 10, or a log's peak)")
    parser.add_argument("--include", action="append", default=[], metavar="GLOB",
                        help="only paths/operations matching (repeatable)")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="leave these out (repeatable)")
    parser.add_argument("--methods", help="methods to include (default GET,HEAD: read-only)")
    parser.add_argument("--check", action="store_true", help="send one request per scenario, report non-2xx/3xx")
    parser.add_argument("--no-probe", action="store_true",
                        help="OpenAPI: write the plan without sending anything (by default each scenario is sent once "
                             "first and what does not answer 2xx is left out, with the reason)")


def run(ns: argparse.Namespace) -> int:
    from loadwatch.plangen import Filters, InitRequest, Source, generate, parse_methods

    sources: tuple[tuple[Source, str | None], ...] = (
        ("openapi", ns.openapi), ("har", ns.har), ("access_log", ns.access_log))
    kind, location = next((k, v) for k, v in sources if v)
    filters = Filters(parse_methods(ns.methods), tuple(ns.include), tuple(ns.exclude))
    plan, draft = generate(InitRequest(kind=kind, location=location, out=Path(ns.out), base_url=ns.base_url,
                                       rate=ns.rate, filters=filters, probe=not ns.no_probe))
    print(f"wrote {ns.out}: {len(plan.scenarios)} scenario(s), {len(plan.pools)} pool(s), {plan.load.rate:g} req/s "
          f"against {plan.target.url}" + (f"; {len(draft.left_out)} thing(s) left out (listed at its end)"
                                           if draft.left_out else ""), file=sys.stderr)
    if not ns.check:
        return EXIT_OK
    from loadwatch.plangen.check import check_plan

    failed = 0
    for r in check_plan(plan):
        print(f"  {'ok  ' if r.ok else 'FAIL'} {r.scenario}: {r.request} -> {r.status or '-'}"
              + ("" if r.ok else f" ({r.reason})"), file=sys.stderr)
        failed += not r.ok
    if failed:
        print(f"loadwatch init --check: {failed} scenario(s) did not answer 2xx/3xx", file=sys.stderr)
    return EXIT_REGRESSION if failed else EXIT_OK
