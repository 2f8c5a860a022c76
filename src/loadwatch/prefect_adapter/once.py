"""`loadwatch run`'s Prefect side: the nightly flow, once, in this process, against PREFECT_API_URL or Prefect's
temporary API server, which is started before Prefect is imported so that it boots while the flow's modules import
(loadwatch.prefect_adapter.ephemeral)."""

from __future__ import annotations

import os
import sys
from typing import Any

from loadwatch.params import RunParams

__all__ = ["run_flow_once"]


def run_flow_once(params: RunParams, *, verbose: bool) -> Any:
    """The flow's final state (a Prefect State) after one run with these parameters; SIGINT/SIGTERM stop the load and
    end the run as `aborted`."""
    from loadwatch.infra import interrupts
    from loadwatch.prefect_adapter.environment import prefect_env, quiet_prefect_console

    prefect_env(verbose)
    server = None
    if not os.environ.get("PREFECT_API_URL") and "prefect" not in sys.modules:
        from loadwatch.prefect_adapter.ephemeral import EphemeralServer
        from loadwatch.settings import data_dir

        server = EphemeralServer.start(data_dir() / "prefect-ephemeral.log")  # boots while we import
    from loadwatch.flows.nightly import nightly

    if server is not None:
        server.wait_ready(float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]))
    quiet_prefect_console(verbose)
    with interrupts.handle_signals():
        return nightly(**params.model_dump(), return_state=True)
