"""Every `LOADWATCH_*` environment variable, declared once (`Settings`) and read when used (`settings()`), never at
import time: a test, a worker or the CLI that sets one before a stage runs is heard.

The model is plain pydantic over a mapping rather than pydantic-settings' BaseSettings: BaseSettings always merges
`os.environ` into what it is given, and the Prometheus export and the tests judge settings from a mapping of their
own. Two processes read their variables without this module, to stay free of pydantic: the demo service
(`LOADWATCH_TARGET_DATABASE_URL`, `LOADWATCH_GIT_SHA`; its RSS is one of its own gated series, and pydantic alone adds
7 % to it) and the engine's spawned generators (`LOADWATCH_TLS_INSECURE`, read by loadwatch.engine.driver); both are
declared here all the same, so this is the one reference (docs/operations.md), and tests/unit/test_settings.py pins
that no other module reads a `LOADWATCH_*` variable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loadwatch.errors import InvalidInput

__all__ = ["PREFIX", "Settings", "data_dir", "settings"]

PREFIX = "LOADWATCH_"


def _env_name(field: str) -> str:
    return PREFIX + field.upper()


class Settings(BaseModel):
    """loadwatch's environment. An empty variable counts as unset."""

    model_config = ConfigDict(alias_generator=_env_name, populate_by_name=True, extra="ignore", frozen=True)

    home: Path | None = Field(None, description="where loadwatch keeps its files (default: the user data dir)")
    database_url: str | None = Field(None, description="the trend store (default: the embedded Postgres)")
    spool_dir: Path | None = Field(None, description="runs waiting for the store (default: <home>/spool)")
    allowed_hosts: str = Field("", description="comma-separated hosts beyond loopback that may be loaded")
    lock_wait_s: float = Field(600.0, ge=0, description="how long a run waits for another run's load on its target")
    cron: str = Field("0 2 * * *", description="the nightly schedule of `serve` and `deploy`")
    timezone: str = Field("UTC", description="the schedule's time zone")
    prom_textfile_dir: Path | None = Field(None, description="write the run's metrics for node_exporter here")
    pushgateway_url: str | None = Field(None, description="push the run's metrics to this Prometheus Pushgateway")
    dask_address: str | None = Field(None, description="an existing Dask scheduler for sharded loads")
    checkout: Path | None = Field(None, description="the checkout a Prefect worker runs the flow from "
                                                    "(read by deploy/prefect.yaml's pull step)")
    # read without this module (see the module's docstring), declared for the reference
    # "1" exactly, as the generator processes read it (a "true" there would be silently ignored: refused here)
    tls_insecure: Literal["0", "1"] = Field("0", description="1: do not verify the target's TLS certificate")
    target_database_url: str | None = Field(None, description="the demo service's database")
    git_sha: str | None = Field(None, description="the commit the demo service reports as its version")

    @property
    def allowed_host_list(self) -> list[str]:
        return [h.strip() for h in self.allowed_hosts.split(",") if h.strip()]


def settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from `environ` (default: this process's environment, now). A value of the wrong type is
    InvalidInput naming the variable."""
    env = os.environ if environ is None else environ
    values = {k: v for k, v in env.items() if k.startswith(PREFIX) and v.strip()}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "environment"
        raise InvalidInput(f"{err['msg']} (got {values.get(name)!r})", source="environment", field=name) from exc


def data_dir(current: Settings | None = None) -> Path:
    """Where loadwatch keeps its files (created): `LOADWATCH_HOME`, else the user data dir."""
    home = (current or settings()).home
    path = home if home is not None else Path(platformdirs.user_data_dir("loadwatch", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path
