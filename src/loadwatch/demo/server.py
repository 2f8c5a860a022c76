"""Serving the demo target: `serve()` (blocking, uvloop when available, clean exit on SIGTERM/SIGINT) and the
command-line options shared by `python -m loadwatch.demo` and `loadwatch demo-target`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web

from loadwatch.demo.app import make_app
from loadwatch.demo.faults import ENDPOINTS, Faults
from loadwatch.errors import InvalidInput

__all__ = [
    "DATABASE_ENV",
    "DEMO_DATABASE",
    "add_target_arguments",
    "demo_database_url",
    "faults_from_args",
    "git_sha",
    "serve",
]

log = logging.getLogger("loadwatch.demo")

DEMO_DATABASE = "loadwatch_demo"
# The database URL travels in the environment, not argv, so its password never shows in `ps`.
DATABASE_ENV = "LOADWATCH_TARGET_DATABASE_URL"
_PARENT_POLL_S = 0.5


def demo_database_url() -> str:
    """The embedded server's demo database (created with its extensions if missing)."""
    # imported here: a demo started by the pipeline gets its database's URL and never starts the server, and the
    # server's module reads the settings model (pydantic), which the demo's process stays without (its RSS is gated)
    from loadwatch.infra import postgres

    return postgres.ensure_database(postgres.admin_url(), DEMO_DATABASE, ("pg_trgm", "pg_stat_statements"))


def git_sha() -> str | None:
    """The commit this code runs from: `LOADWATCH_GIT_SHA`, else `git rev-parse` of a checkout, else None."""
    env = os.environ.get("LOADWATCH_GIT_SHA")
    if env:
        return env
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    database_url: str | None = None,
    faults: Faults | None = None,
    ready_file: Path | None = None,
    exit_with_parent: int | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT. `database_url` None -> the embedded demo database.

    `ready_file` receives {url, host, port, pid} once the socket listens; `exit_with_parent` is a pid:
    when this process is no longer its child (the parent died), it exits too."""
    url = database_url or os.environ.get(DATABASE_ENV) or demo_database_url()
    _run(_serve(host, port, url, faults, ready_file, exit_with_parent))


def _run(coro: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coro)


async def _serve(
    host: str,
    port: int,
    database_url: str,
    faults: Faults | None,
    ready_file: Path | None,
    exit_with_parent: int | None,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = make_app(database_url, faults, git_sha=git_sha())
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()  # opens the pool, creates and seeds the schema (raises StoreUnavailable)
    watcher: asyncio.Task[None] | None = None
    try:
        site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}", field="--port") from exc
        bound = runner.addresses[0]
        url = f"http://{_url_host(bound[0])}:{bound[1]}"
        print(f"loadwatch demo target listening on {url} (pid {os.getpid()})", flush=True)
        if ready_file is not None:
            tmp = ready_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"url": url, "host": bound[0], "port": bound[1], "pid": os.getpid()}))
            tmp.replace(ready_file)  # atomic: the parent never reads half a file
        if exit_with_parent is not None:
            watcher = asyncio.create_task(_watch_parent(exit_with_parent, stop))
        await stop.wait()
        print("loadwatch demo target stopping", flush=True)
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await runner.cleanup()


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    # Polling getppid() rather than PR_SET_PDEATHSIG: the death signal fires when the *thread* that forked
    # exits, and the flow may start the target from a short-lived worker thread.
    while os.getppid() == parent:
        await asyncio.sleep(_PARENT_POLL_S)
    log.warning("parent %d is gone; exiting", parent)
    stop.set()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# --- command line ----------------------------------------------------------------------------------------


def _number(text: str, kind: type[float] | type[int], ok: Callable[[float], bool], rule: str) -> Any:
    """An argparse type: `text` as a `kind` for which `ok` holds, else an error naming the `rule`."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a {'port ' if kind is int else ''}number: {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
    return value


def _fraction(text: str) -> float:
    return float(_number(text, float, lambda v: 0.0 <= v <= 1.0, "between 0 and 1"))


def _non_negative(text: str) -> float:
    return float(_number(text, float, lambda v: v >= 0.0 and v != float("inf"), "a finite number >= 0"))


def _port(text: str) -> int:
    return int(_number(text, int, lambda v: 0 <= v <= 65535, "0-65535 (0 = any free port)"))


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo target's options (listen address, database, fault knobs)."""
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8080, help="listen port (default 8080; 0 = any free port)")
    parser.add_argument(
        "--database-url",
        default=None,
        help=f"Postgres for the catalogue (default ${DATABASE_ENV}, else the embedded server's "
        f"{DEMO_DATABASE!r} database)",
    )
    g = parser.add_argument_group("fault injection (all endpoints; override per endpoint with --endpoint-fault)")
    g.add_argument("--delay-ms", type=_non_negative, default=0.0, help="latency added to every response")
    g.add_argument(
        "--slowdown",
        type=_non_negative,
        default=0.0,
        help="each response also waits this fraction of its own handler time (0.3 = 30%% slower)",
    )
    g.add_argument("--error-rate", type=_fraction, default=0.0, help="fraction of requests answered 500")
    g.add_argument("--stall-at", type=_non_negative, default=None, help="seconds after start a stall begins")
    g.add_argument("--stall-for", type=_non_negative, default=0.0, help="how long the stall lasts (seconds)")
    g.add_argument("--no-cache", action="store_true", help="a cache that stops caching: every lookup misses")
    g.add_argument("--n-plus-one", action="store_true", help="list_tools loads its page one query per tool")
    g.add_argument(
        "--drop-index", action="append", default=[], metavar="NAME",
        help="drop this schema index in Postgres while serving (repeatable; e.g. idx_downloads_tool_day)",
    )
    g.add_argument("--fault-seed", type=int, default=0, help="seed of the injected-error RNG (default 0)")
    g.add_argument(
        "--endpoint-fault",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE",
        help=f"one knob for one endpoint ({', '.join(ENDPOINTS)}), e.g. list_tools:delay_ms=5, "
        "get_tool:cache=false or get_tool:miss_ms=3 (what the lookup behind the cache costs on each miss; repeatable)",
    )
    g.add_argument("--faults-json", default=None, help="all faults as one JSON object (as GET /admin/faults shows)")
    parser.add_argument("--ready-file", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--exit-with-parent", type=int, default=None, help=argparse.SUPPRESS)


def _knob_value(key: str, text: str) -> Any:
    if key in ("cache", "n_plus_one"):
        low = text.strip().lower()
        if low in ("true", "on", "1", "yes"):
            return True
        if low in ("false", "off", "0", "no"):
            return False
        return text  # rejected with a message by Faults.from_dict
    try:
        return float(text)
    except ValueError:
        return text


def faults_from_args(ns: argparse.Namespace) -> Faults:
    """The Faults the parsed options describe; raises InvalidInput naming the option."""
    if getattr(ns, "faults_json", None):
        try:
            base: dict[str, Any] = json.loads(ns.faults_json)
        except ValueError as exc:
            raise InvalidInput(f"not valid JSON ({exc})", field="--faults-json") from None
        if not isinstance(base, dict):
            raise InvalidInput("must be a JSON object", field="--faults-json")
    else:
        base = {}
    data: dict[str, Any] = {**base}
    if ns.delay_ms:
        data["delay_ms"] = ns.delay_ms
    if ns.slowdown:
        data["slowdown"] = ns.slowdown
    if ns.error_rate:
        data["error_rate"] = ns.error_rate
    if ns.stall_at is not None:
        data["stall_at"] = ns.stall_at
    if ns.stall_for:
        data["stall_for"] = ns.stall_for
    if ns.no_cache:
        data["cache"] = False
    if getattr(ns, "n_plus_one", False):
        data["n_plus_one"] = True
    if getattr(ns, "drop_index", None):
        data["drop_indexes"] = [*(data.get("drop_indexes") or []), *ns.drop_index]
    if ns.fault_seed:
        data["seed"] = ns.fault_seed
    endpoints: dict[str, dict[str, Any]] = (
        {k: dict(v) for k, v in (data.get("endpoints") or {}).items()}
        if isinstance(data.get("endpoints"), dict)
        else {}
    )
    for item in ns.endpoint_fault or []:
        name, sep, assignment = item.partition(":")
        key, eq, value = assignment.partition("=")
        if not sep or not eq or not name or not key:
            raise InvalidInput(
                f"expected NAME:KEY=VALUE (e.g. list_tools:delay_ms=5), got {item!r}", field="--endpoint-fault"
            )
        endpoints.setdefault(name.strip(), {})[key.strip()] = _knob_value(key.strip(), value)
    if endpoints:
        data["endpoints"] = endpoints
    if data.get("stall_for") and data.get("stall_at") is None:
        raise InvalidInput("--stall-for needs --stall-at (when the stall begins)", field="--stall-for")
    return Faults.from_dict(data, source="--faults-json" if base else "fault options")


def main(argv: list[str] | None = None) -> int:
    """`python -m loadwatch.demo`: serve in the foreground; exit codes as loadwatch's."""
    from loadwatch.errors import LoadwatchError

    parser = argparse.ArgumentParser(prog="python -m loadwatch.demo", description="The demo Tool Catalog service")
    add_target_arguments(parser)
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        serve(
            host=ns.host,
            port=ns.port,
            database_url=ns.database_url,
            faults=faults_from_args(ns),
            ready_file=ns.ready_file,
            exit_with_parent=ns.exit_with_parent,
        )
    except LoadwatchError as exc:
        print(f"loadwatch demo target: {exc.message}", file=sys.stderr, flush=True)
        return exc.exit_code
    return 0
