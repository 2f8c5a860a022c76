"""The long-running Prefect modes of the CLI: `loadwatch serve` (the nightly schedule from one process, no work
pool), `loadwatch server` (a Prefect server whose database is the embedded Postgres) and `loadwatch deploy` (the
nightly deployment registered from the installed package, for a process worker without a checkout).

Prefect is imported inside the functions: the CLI imports this module only for these commands."""

from __future__ import annotations

import inspect
import os
import socket
import subprocess
import sys
from typing import Any

from loadwatch import __version__
from loadwatch.errors import InfrastructureError, InvalidInput
from loadwatch.infra import postgres
from loadwatch.infra.procs import stop_group, wait_healthy
from loadwatch.prefect_adapter.environment import CORE_LOGGER, EXTRA_LOGGERS_SETTING
from loadwatch.settings import data_dir
from loadwatch.urls import redact_url

__all__ = [
    "DEFAULT_POOL",
    "NIGHTLY_ENTRYPOINT",
    "deploy_nightly",
    "prefect_database_url",
    "prefect_server",
    "serve_nightly",
]

# A module path, not `path/to/file.py:func`: the worker imports the flow from the loadwatch installed in its
# environment, so it needs no checkout, no pull step and no working directory. Prefect 3 treats an entrypoint
# as a module path only when it has no colon (prefect.flows.load_flow_from_flow_run, 3.9): with a colon it
# puts the worker's cwd first on sys.path and "downloads" the code from the deployment's path, which is how
# a checkout's `loadwatch/` folder could shadow the installed package. The dotted form names the flow object
# (`nightly`), not its function (`_nightly`), which is what Prefect would derive by itself.
NIGHTLY_ENTRYPOINT = "loadwatch.flows.nightly.nightly"
DEFAULT_POOL = "loadwatch-process"


def serve_nightly(*, cron: str, timezone: str, name: str = "nightly",
                  params_overrides: dict[str, Any] | None = None) -> None:
    """Serve the flow on a cron schedule; the schedule is NOT paused when this process stops
    (restarts under systemd must not silently turn the nightly run off).

    Prefect's ephemeral API runs no scheduler, so without PREFECT_API_URL this starts its own Prefect
    server (on the embedded Postgres) for as long as it serves: one command, no other infrastructure."""
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        server = _start_local_server()
    try:
        _serve(cron=cron, timezone=timezone, name=name, params_overrides=params_overrides)
    finally:
        if server is not None:
            stop_group(server)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_local_server(timeout: float = 120.0) -> subprocess.Popen[bytes]:
    port = _free_port()
    env = dict(os.environ)
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = prefect_database_url()
    log_path = data_dir() / "prefect-server.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    api = f"http://127.0.0.1:{port}/api"
    wait_healthy(proc, api + "/health", timeout=timeout, what="the local Prefect server", log_path=log_path,
                 poll=0.5)
    os.environ["PREFECT_API_URL"] = api
    print(f"serving with a local Prefect server at http://127.0.0.1:{port} (UI there; log {log_path})",
          file=sys.stderr)
    return proc


def _serve(*, cron: str, timezone: str, name: str, params_overrides: dict[str, Any] | None) -> None:
    from prefect.schedules import Cron

    from loadwatch.flows.nightly import nightly
    from loadwatch.params import RunParams

    params = RunParams(trigger="serve", **(params_overrides or {}))
    nightly.serve(
        name=name,
        schedule=Cron(cron, timezone=timezone),
        parameters=params.model_dump(exclude_none=True),
        pause_on_shutdown=False,
        limit=1,  # two nightly runs must never overlap their load
    )


def prefect_database_url() -> str:
    """The embedded server's `prefect` database (pg_trgm enabled), as an asyncpg URL for Prefect."""
    admin = postgres.admin_url()
    url = postgres.ensure_database(admin, "prefect", ("pg_trgm",))
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


def prefect_server(*, host: str, port: int) -> int:
    env = dict(os.environ)
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = prefect_database_url()
    print(f"Prefect server on http://{host}:{port} with its database in the embedded Postgres "
          f"({redact_url(env['PREFECT_SERVER_DATABASE_CONNECTION_URL'])})", file=sys.stderr)
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
                            env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()


def deploy_nightly(*, pool: str = DEFAULT_POOL, cron: str = "0 2 * * *", timezone: str = "UTC",
                   name: str = "nightly", params_overrides: dict[str, Any] | None = None) -> str:
    """Register (create or update) the nightly deployment with the Prefect API in PREFECT_API_URL, the same
    deployment as deploy/prefect.yaml but with a module entrypoint, and create the process work pool when it
    is missing. Returns the deployment's id.

    Raises InvalidInput for a missing API URL, a bad cron, time zone or parameter; InfrastructureError when
    the API cannot be reached or refuses the deployment."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from loadwatch.params import RunParams

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {timezone!r} (an IANA name such as UTC or Europe/Berlin)",
                           source="command line", field="--timezone") from None
    overrides = dict(params_overrides or {})
    try:
        RunParams(**overrides)  # the same bounds the server enforces on each run, checked before deploying
    except ValueError as exc:
        raise InvalidInput(str(exc).splitlines()[-1].strip(), source="command line",
                           field="/".join(overrides)) from None

    from prefect.settings import get_current_settings

    api = get_current_settings().api.url  # the environment or the active Prefect profile
    if not api:
        # Without it Prefect would start a temporary API that lives as long as this command: no worker could
        # ever see the deployment.
        raise InvalidInput("no Prefect server: set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api; "
                           "`loadwatch server` starts one)", source="environment", field="PREFECT_API_URL")

    import httpx
    from prefect.client.orchestration import get_client
    from prefect.deployments.runner import DeploymentApplyError
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    from loadwatch.flows.nightly import nightly

    try:
        # deploy/prefect.yaml's slug: the server updates schedules by slug, so deploying either way (or with
        # another --cron) replaces the one nightly schedule instead of adding a second
        schedule = Cron(cron, timezone=timezone, active=True, slug="nightly-0200",
                        parameters={"trigger": "schedule"})
    except ValueError as exc:
        raise InvalidInput(f"invalid cron expression {cron!r} ({_first_line(exc)})", source="command line",
                           field="--cron") from None

    # what the server or the network can answer (refused, unauthorised, rejected); anything else is a bug of ours
    server_errors = (DeploymentApplyError, PrefectHTTPStatusError, httpx.HTTPError)
    with get_client(sync_client=True) as client:
        unreachable = client.api_healthcheck()
        if unreachable is not None:
            raise InfrastructureError(f"the Prefect API at {api} cannot be reached: {_first_line(unreachable)}")
        try:
            created_pool = _ensure_process_pool(client, pool)
        except server_errors as exc:
            raise InfrastructureError(f"the Prefect API at {api} refused the work pool {pool!r}: "
                                      f"{_first_line(exc)}") from exc

    deployment = nightly.to_deployment(
        name=name,
        description=("The nightly load test: preflight, baseline, load with the monitor, comparison against "
                     "the target's own history, trend store, report. Fails on a regression or a breached "
                     "threshold."),
        tags=["loadwatch", "nightly"],
        # the installed package's version, not the flow file's hash: what a worker must have installed
        version=f"loadwatch {__version__}",
        schedule=schedule,
        # every run takes the flow's defaults plus these; scheduled runs also say trigger "schedule", runs by
        # hand keep the default "ui"
        parameters=overrides,
        enforce_parameter_schema=True,
        concurrency_limit=1,  # two runs never overlap their load: further runs wait until the running one ends
        work_pool_name=pool,
        work_queue_name="default",
        # the flow run's process imports Prefect with this set: the core's module loggers reach its logs
        job_variables={"env": {EXTRA_LOGGERS_SETTING: CORE_LOGGER}},
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    # to_deployment and apply are sync-compatible: called outside an event loop they return their results
    assert not inspect.isawaitable(deployment)
    deployment.entrypoint = NIGHTLY_ENTRYPOINT
    try:
        deployment_id = deployment.apply(work_pool_name=pool)
    except server_errors as exc:  # the server's message is the useful part
        raise InfrastructureError(f"the Prefect API at {api} refused the deployment: {_first_line(exc)}") from exc
    print(f"deployment {nightly.name}/{name} ({deployment_id}): entrypoint {NIGHTLY_ENTRYPOINT}, "
          f"work pool {pool}{' (created, type process)' if created_pool else ''}, "
          f"schedule {cron!r} {timezone}", file=sys.stderr)
    print(f"start a worker where loadwatch is installed: prefect worker start --pool {pool} --limit 1",
          file=sys.stderr)
    return str(deployment_id)


def _ensure_process_pool(client: Any, pool: str) -> bool:
    """Create `pool` as a process work pool when the server has none of that name; True when created.
    An existing pool is used as it is, whatever its type (a pool whose workers have loadwatch installed, e.g.
    in an image, runs the module entrypoint too)."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    try:
        client.read_work_pool(pool)
    except ObjectNotFound:  # missing: created below
        exists = False
    else:
        exists = True
    if exists:
        return False
    try:
        # the process worker's own default job template, as `prefect work-pool create --type process` uses
        client.create_work_pool(work_pool=WorkPoolCreate(
            name=pool, type="process", base_job_template=ProcessWorker.get_default_base_job_template()))
    except ObjectAlreadyExists:  # created meanwhile by another deploy or a `worker start --type process`
        return False
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
