"""`loadwatch load`: the ad-hoc load command (no Prefect, no database), in the spirit of oha and wrk2.

Prints a progress line on stderr while it runs and a short summary on stdout: latency corrected for
coordinated omission (from the intended send) *and* service time (from the actual send), errors by kind,
how every due request was counted (dropped, censored, clamped, protocol errors, late vs late_target; see
docs/METHOD.md "How requests are counted"; "≥" marks a statistic that is a lower bound), a per-scenario table and
a generator-bound warning. `--json FILE` writes `LoadResult.to_json()`, which carries the same counts."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from loadwatch.commands.args import positive
from loadwatch.config import HTTP_METHODS, Plan, load_plan, plan_from_url
from loadwatch.errors import InvalidInput
from loadwatch.plangen.draft import literal, literal_json

__all__ = ["LiveLine", "add_arguments", "format_summary", "run"]

PROGRESS_EVERY_S = 5.0  # non-TTY stderr: one progress line this often


class LiveLine:
    """A progress line on `stream` (shared by `loadwatch load` and `loadwatch capacity`): rewritten in place in a
    terminal; elsewhere (a CI log) one line at most every `every` seconds, so a log does not fill with them."""

    def __init__(self, stream: TextIO, every: float = PROGRESS_EVERY_S) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.every = every
        self.last = 0.0
        self.live = False  # a live line is on the terminal's last row

    def show(self, line: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + line)
            self.live = True
        elif time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            self.stream.write(line + "\n")
        else:
            return
        self.stream.flush()

    def print(self, line: str) -> None:
        """A line that stays (it replaces the live one in a terminal, which the next show() redraws)."""
        self.stream.write(("\r\033[K" if self.live else "") + line + "\n")
        self.live = False
        self.stream.flush()

    def done(self, *, keep: bool = True) -> None:
        """End the live line: kept (ended with a newline) or cleared."""
        if self.live:
            self.stream.write("\n" if keep else "\r\033[K")
            self.stream.flush()
        self.live = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", nargs="?", help="target URL (http[s]://host[:port]/path); with --plan: its base URL")
    parser.add_argument("--plan", help="YAML plan (scenarios, pools, checks); flags below override its load")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--rate", type=positive(float), help="open model: requests per second (latency from intended send)",
    )
    mode.add_argument("--users", type=positive(int), help="closed model: virtual users (no think time for a URL)")
    parser.add_argument("--duration", type=positive(float), help="seconds (default 10 for a URL, else the plan's)")
    parser.add_argument("--warmup", type=float, help="seconds excluded from the statistics (default 0 for a URL)")
    parser.add_argument("--workers", type=positive(int), help="generator processes (default: CPU count)")
    parser.add_argument("--json", help="write the result (the `load` object, histograms, timeline) to FILE")
    parser.add_argument("--arrival", choices=["constant", "poisson"], help="open model: arrival process")
    parser.add_argument("--connections", type=positive(int), help="open model: keep-alive connections per process")
    parser.add_argument("--max-in-flight", type=positive(int), help="open model: in-flight cap per process (then drop)")
    parser.add_argument("--max-requests", type=positive(int), help="stop after this many requests")
    parser.add_argument("--think-time", type=float, help="closed model: seconds between a user's requests")
    parser.add_argument("--timeout", type=positive(float), help="total per-request timeout in seconds")
    parser.add_argument("--method", choices=HTTP_METHODS, type=str.upper, help="HTTP method (URL mode)")
    parser.add_argument("--header", "-H", action="append", default=[], help="'Name: value' (repeatable, URL mode)")
    parser.add_argument("--body", help="JSON request body (URL mode)")
    parser.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def build_plan(ns: argparse.Namespace) -> Plan:
    """The plan the command will run: a plan file with overrides, or an ad-hoc one-scenario plan."""
    timeout = None
    if ns.timeout is not None:
        timeout = {"connect": min(5.0, ns.timeout), "total": ns.timeout}
    overrides: dict[str, Any] = {
        "rate": ns.rate,
        "users": ns.users,
        "duration": ns.duration,
        "warmup": ns.warmup,
        "workers": ns.workers,
        "arrival": ns.arrival,
        "connections": ns.connections,
        "max_in_flight": ns.max_in_flight,
        "max_requests": ns.max_requests,
        "think_time": ns.think_time,
        "timeout": timeout,
    }
    if ns.plan:
        plan = load_plan(ns.plan)
        if ns.url:
            plan = plan.with_target_url(ns.url)
        if plan.target.url == "demo":
            raise InvalidInput(
                "`loadwatch load` needs a URL: pass the target's base URL as the first argument "
                "(`loadwatch run` starts the demo target)",
                source=ns.plan,
                field="target.url",
            )
        return plan.with_load(**overrides)
    if not ns.url:
        raise InvalidInput("give a URL or --plan FILE", source="command line", field="url")
    if ns.rate is None and ns.users is None:
        raise InvalidInput(
            "give --rate R (open model) or --users N (closed model)", source="command line", field="--rate/--users"
        )
    plan = plan_from_url(ns.url, rate=ns.rate, users=ns.users, duration=ns.duration or 10.0, warmup=ns.warmup or 0.0)
    sc = plan.scenarios[0]
    changes: dict[str, Any] = {}
    if ns.method:
        changes["method"] = ns.method
    if ns.header:
        headers = dict(sc.headers)
        for h in ns.header:
            name, sep, value = h.partition(":")
            if not sep or not name.strip() or any(c in h for c in "\r\n"):
                raise InvalidInput("expected 'Name: value'", source="command line", field=f"--header {h!r}")
            headers[name.strip()] = literal(value.strip())  # URL mode has no values to template: sent as given
        changes["headers"] = headers
    if ns.body is not None:
        try:
            changes["json_body"] = literal_json(json.loads(ns.body))  # sent as given, braces included
        except ValueError:
            raise InvalidInput("not valid JSON", source="command line", field="--body") from None
    if changes:
        plan = plan.model_copy(update={"scenarios": [sc.model_copy(update=changes)]})
    rest = {k: v for k, v in overrides.items() if k not in ("rate", "users", "duration", "warmup")}
    return plan.with_load(**rest) if any(v is not None for v in rest.values()) else plan


def _cell(s: dict[str, float | None], key: str, at_least: list[str], width: int = 10) -> str:
    """One statistic; "≥" in front when censored or clamped values make it a lower bound; "–" without answers."""
    value = s.get(key)
    if value is None:
        return f"{'–':>{width}}"
    text = f"{value:.2f}"
    return f"{('≥' + text) if key in at_least else text:>{width}}"


def _fmt_stats(label: str, s: dict[str, float | None], at_least: list[str] | None = None) -> str:
    keys = ("mean", "p50", "p90", "p95", "p99", "p999", "max")
    return f"  {label:<34}" + "".join(_cell(s, k, at_least or []) for k in keys)


def format_summary(summary: Mapping[str, Any], url: str) -> str:
    s = summary
    lines = []
    mode = f"open model, {s['intended_rate'] or 0:.0f} req/s intended" if s["model"] == "open" else "closed model"
    lines.append(
        f"loadwatch load {url}: {mode}, {s['duration_s']:g} s ({s['warmup_s']:g} s warm-up excluded), "
        f"{len(s['workers'])} worker(s)"
    )
    lines.append(
        f"  requests {s['requests']}  ({s['rps']:.1f} req/s)   errors {s['errors']} "
        f"({100 * s['error_rate']:.2f}%, dropped sends included)   dropped {s['dropped']}   "
        f"protocol errors {s.get('protocol_errors', 0)}"
    )
    lines.append(
        f"  late sends {s['late']} with a connection free (the generator's), {s.get('late_target', 0)} with every "
        f"connection busy (the target's)   censored {s.get('censored', 0)}   clamped {s.get('clamped', 0)}"
    )
    lines.append(
        f"  {'milliseconds':<34}" + "".join(f"{k:>10}" for k in ("mean", "p50", "p90", "p95", "p99", "p99.9", "max"))
    )
    lines.append(_fmt_stats("latency (from intended send)", s["latency_ms"], s.get("latency_at_least")))
    lines.append(_fmt_stats("service time (from actual send)", s["service_time_ms"], s.get("service_time_at_least")))
    if s.get("latency_at_least") or s.get("service_time_at_least"):
        lines.append(
            "  ≥ = a lower bound: timed-out requests are recorded at the time they had waited (censored), values "
            "beyond the histogram at its edge (clamped)"
        )
    if s["errors_by_kind"]:
        lines.append("  errors by kind:")
        for kind, v in s["errors_by_kind"].items():
            lines.append(f"    {kind:<17}{v['count']:>9}   e.g. {v['sample']}")
    if s.get("protocol_errors"):
        lines.append(f"  protocol errors (connection dropped): e.g. {s.get('protocol_error_sample', '')}")
    if len(s["scenarios"]) > 1:
        lines.append(f"  {'scenario':<24}{'requests':>10}{'req/s':>10}{'errors':>8}{'p50':>10}{'p95':>10}{'p99':>10}")
        for name, v in s["scenarios"].items():
            lat = v["latency_ms"]
            low = v.get("latency_at_least") or []
            lines.append(
                f"  {name:<24}{v['requests']:>10}{v['rps']:>10.1f}{v['errors']:>8}"
                + "".join(_cell(lat, k, low) for k in ("p50", "p95", "p99"))
            )
    if len(s["workers"]) > 1:
        parts = ", ".join(f"#{w['index']} {w['requests']} req, CPU {w['cpu_percent']:.0f}%" for w in s["workers"])
        lines.append(f"  workers: {parts}")
    if s["generator_bound"]:
        lines.append("  WARNING generator-bound: these latencies describe the generator, not only the target:")
        for r in s["generator"]["reasons"]:
            lines.append(f"    - {r}")
    lines += _format_state(s)
    if s.get("stopped"):
        lines.append("  (stopped early on request)")
    return "\n".join(lines)


def _format_state(s: Mapping[str, Any]) -> list[str]:
    """Data sources, sessions and journeys: what the run did with them, and what ran out."""
    lines: list[str] = []
    for name, u in (s.get("data") or {}).items():
        line = f"  data {name} ({u['strategy']}): {u['used']} draws from {u['rows']} rows"
        if u["exhausted"]:
            what = "stopped sending" if u["on_exhausted"] == "stop" else f"started over {u['wraps']} time(s)"
            line += f"; WARNING ran out after {u['exhausted_at_s']} s and {what}"
        lines.append(line)
    ss = s.get("sessions")
    if ss:
        by = ", ".join(f"{k} {n}" for k, n in (ss.get("refresh") or {}).get("by_trigger", {}).items())
        lines.append(f"  sessions {ss['sessions']}: logins {ss['logins']} ({ss['login_failures']} failed), "
                     f"refreshes {ss['refreshes']} ({ss['refresh_failures']} failed"
                     + (f"; timed by {by}" if by else "") + "); login steps, timed apart:")
        for name, v in ss["steps"].items():
            lines.append(_fmt_stats(f"  {name} ({v['requests']} req, {v['errors']} err)", v["latency_ms"],
                                    v.get("latency_at_least")))
    for name, v in (s.get("journeys") or {}).items():
        lines.append(_fmt_stats(f"journey {name} end to end ({v['requests']}, {v['errors']} err)", v["latency_ms"],
                                v.get("latency_at_least")))
    return lines


class _Progress(LiveLine):
    def __call__(self, p: dict[str, Any]) -> None:
        self.show(
            f"[{p['phase']:<7}] {p['elapsed']:>5.0f}/{p['duration']:.0f} s  {p['requests']:>9} req  "
            f"{p['rps']:>8.0f} req/s  p95 {p['p95_ms']:.2f} ms  errors {p['errors']}  in flight {p['in_flight']}"
        )


def run(ns: argparse.Namespace) -> int:
    import os

    from loadwatch import engine
    from loadwatch.infra import interrupts

    plan = build_plan(ns)
    if ns.insecure:
        os.environ["LOADWATCH_TLS_INSECURE"] = "1"  # inherited by the spawned generator processes
    progress = None if ns.quiet else _Progress(sys.stderr)
    with interrupts.handle_signals() as stop:
        result = engine.run_load(plan, workers=ns.workers, stop=stop, progress=progress)
    if progress is not None:
        progress.done()
    print(format_summary(result.summary, plan.target.url))
    if ns.json:
        try:
            Path(ns.json).write_text(json.dumps(result.to_json(), indent=1))
        except OSError as exc:
            raise InvalidInput(f"cannot write: {exc.strerror}", source=ns.json) from None
    return 0
