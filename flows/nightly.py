"""loadwatch-nightly: preflight → baseline → load ∥ monitor → capacity → A/B → compare → store → publish → notify →
report.

Composition only: the parameters (the Prefect UI form, `prefect deployment run --param`), the chain
(loadwatch.pipeline.chain.run_chain) run with the tasks of tasks/ as its stage runners, and the final
state from the run's summary: Failed on a failing verdict (regression, threshold breach, inconclusive, aborted),
Completed otherwise, with the summary (loadwatch.record.RunSummary) as the state's data."""

# No `from __future__ import annotations` here: `flow.serve` cloudpickles the flow into a spawned process,
# where string annotations cannot be resolved and Prefect rejects the parameters ("not fully defined").
import logging
from typing import Annotated, Any

from prefect import flow, runtime
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed
from pydantic import Field

from loadwatch.params import RunParams
from loadwatch.pipeline.chain import Done, Stages, run_chain
from loadwatch.record import RunSummary
from loadwatch.tasks.notify import notify_task
from loadwatch.tasks.report import report_task
from loadwatch.tasks.shards import sharded_load
from loadwatch.tasks.stages import (
    Submitted,
    ab_task,
    capacity_task,
    capture_after_task,
    capture_before_task,
    compare_task,
    load_task,
    monitor_task,
    open_target_task,
    preflight_task,
    publish_metrics_task,
    store_task,
)


def _p(name: str, *, nullable: bool = False) -> Any:
    """Title, description and bounds of a parameter, from RunParams: one definition for the CLI, the flow and
    the Prefect UI form (flat parameters, so `prefect deployment run ... --param duration=5` works)."""
    f = RunParams.model_fields[name]
    annotation = f.annotation | None if nullable else f.annotation  # type: ignore[operator]
    return Annotated[annotation, *f.metadata, Field(title=f.title, description=f.description,
                                                     json_schema_extra=f.json_schema_extra)]


def _args_doc(names: list[str]) -> str:
    """A Google-style Args section from RunParams: Prefect takes flat parameters' descriptions from it."""
    lines = ["Run the nightly chain once.", "", "Args:"]
    for name in names:
        f = RunParams.model_fields[name]
        lines.append(f"    {name}: {f.title}. {f.description or ''}".rstrip())
    return "\n".join(lines)


def _nightly(
    plan: _p("plan") = None,  # type: ignore[valid-type]
    duration: _p("duration") = None,  # type: ignore[valid-type]
    rate: _p("rate") = None,  # type: ignore[valid-type]
    users: _p("users") = None,  # type: ignore[valid-type]
    warmup: _p("warmup") = None,  # type: ignore[valid-type]
    target_url: _p("target_url") = None,  # type: ignore[valid-type]
    thresholds: _p("thresholds") = None,  # type: ignore[valid-type]
    workers: _p("workers") = None,  # type: ignore[valid-type]
    shards: _p("shards") = 1,  # type: ignore[valid-type]
    out_dir: _p("out_dir") = None,  # type: ignore[valid-type]
    notes: _p("notes") = None,  # type: ignore[valid-type]
    tags: _p("tags", nullable=True) = None,  # type: ignore[valid-type]
    trigger: _p("trigger") = "ui",  # type: ignore[valid-type]
    capacity: _p("capacity") = True,  # type: ignore[valid-type]
    notify: _p("notify", nullable=True) = None,  # type: ignore[valid-type]
    version: _p("version") = None,  # type: ignore[valid-type]
    commit: _p("commit") = None,  # type: ignore[valid-type]
    branch: _p("branch") = None,  # type: ignore[valid-type]
    main_branch: _p("main_branch") = "main",  # type: ignore[valid-type]
) -> State[Any]:
    params = RunParams(
        plan=plan, duration=duration, rate=rate, users=users, warmup=warmup, target_url=target_url,
        thresholds=thresholds, workers=workers, shards=shards, out_dir=out_dir, notes=notes, tags=tags or [],
        trigger=trigger, capacity=capacity, notify=notify or [], version=version, commit=commit, branch=branch,
        main_branch=main_branch,
    )
    return run_nightly(params)


_nightly.__doc__ = _args_doc(list(RunParams.model_fields))
nightly = flow(name="loadwatch-nightly", description=__doc__, log_prints=False)(_nightly)


def _core_logs_at_info() -> None:
    """The core's module loggers ("loadwatch.*") reach this run's logs through PREFECT_LOGGING_EXTRA_LOGGERS, which
    gives them Prefect's handlers but not a level: without one they would inherit the root logger's WARNING. (The
    CLI sets its own level, and its terminal handler's, first.)"""
    core = logging.getLogger("loadwatch")
    if core.level == logging.NOTSET:
        core.setLevel(logging.INFO)


def prefect_stages() -> Stages:
    """The chain's runners: the tasks of tasks/; the load and the monitor submitted side by side, a
    sharded load on Dask (it returns when every shard has)."""
    return Stages(
        preflight=preflight_task,
        open_target=open_target_task,
        capture_before=capture_before_task,
        start_monitor=lambda run, stop, interval, max_duration: Submitted(
            monitor_task.submit(run, stop, interval, max_duration)),
        start_load=lambda plan, stop, workers, shards: (
            Done(sharded_load(plan, stop, shards, workers)) if shards > 1
            else Submitted(load_task.submit(plan, stop, workers))),
        capture_after=capture_after_task,
        capacity=capacity_task,
        ab=ab_task,
        compare=compare_task,
        store=store_task,
        publish=publish_metrics_task,
        notify=notify_task,
        report=report_task,
    )


def run_nightly(params: RunParams) -> State[Any]:
    """The flow's body, on one validated parameter model: the chain, then Completed or Failed by the verdict."""
    _core_logs_at_info()
    flow_run_id = str(runtime.flow_run.id) if runtime.flow_run.id else None
    summary: RunSummary = run_chain(params, prefect_stages(), flow_run_id=flow_run_id)
    if summary.failing:
        return Failed(message=summary.message, data=summary)
    return Completed(message=summary.message, data=summary)


if __name__ == "__main__":
    nightly()
