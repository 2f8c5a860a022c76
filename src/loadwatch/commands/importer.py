"""`loadwatch import`: the seed scripts' result files become runs in the trend store, so a team moving
from those scripts keeps its history (formats: research/seed_origin.md §1–2).

`load_test_results_YYYYMMDD_HHMMSS.json` is one run (its time comes from the file name);
`resource_monitor_YYYYMMDD_HHMMSS.json` is attached to the load result nearest in time (the seed started
the monitor about 2 s before the load). A malformed file is reported by name and skipped whole."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Engine

from loadwatch.config import safe_name
from loadwatch.errors import EXIT_INVALID, EXIT_OK, InvalidInput
from loadwatch.record import SCHEMA_VERSION, read_summary
from loadwatch.store import save_run
from loadwatch.store.db import map_db_errors

__all__ = ["SEED_PLAN_HASH", "add_arguments", "import_files", "parse_load_file", "parse_monitor_file", "run"]

SEED_PLAN_HASH = "seed-tool-catalog"  # all imported seed runs form one comparable series
SEED_ENV_HASH = "seed-import"
_NAME = re.compile(r"^(load_test_results|resource_monitor)_(\d{8})_(\d{6})\.json$")
PAIR_WINDOW = timedelta(minutes=5)
# The seed's scenario labels, mapped to the names of plans/seed_2users.yaml so both histories line up.
SCENARIO_NAMES = {
    "List Tools": "list_tools",
    "Search by Name": "search_by_name",
    "Get Tool by Name": "get_tool",
    "Search Enabled Tools": "search_enabled",
    "Search Latest Version": "search_latest",
    "Performance Stats": "performance_stats",
}


class _Strictish(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _ResponseTimes(_Strictish):
    min_ms: float = Field(ge=0)
    max_ms: float = Field(ge=0)
    mean_ms: float = Field(ge=0)
    median_ms: float = Field(ge=0)
    p95_ms: float = Field(ge=0)
    p99_ms: float = Field(ge=0)


class _Scenario(_Strictish):
    total: int = Field(ge=0)
    success: int = Field(ge=0)
    failed: int = Field(ge=0)
    avg_response_ms: float = Field(ge=0)
    p95_response_ms: float = Field(ge=0)


class _LoadFile(_Strictish):
    duration_seconds: float = Field(gt=0)
    total_requests: int = Field(ge=0)
    successful_requests: int = Field(ge=0)
    failed_requests: int = Field(ge=0)
    requests_per_second: float = Field(ge=0)
    error_rate_percent: float = Field(ge=0, le=100)
    errors: dict[str, int] = {}
    response_times: _ResponseTimes
    scenarios: dict[str, _Scenario] = {}


class _Stat(_Strictish):
    min: float
    max: float
    avg: float


class _Analysis(_Strictish):
    samples_collected: int = Field(ge=0)
    duration_seconds: float = Field(ge=0)
    cpu: _Stat
    memory: _Stat


class _MonitorFile(_Strictish):
    analysis: _Analysis
    samples: list[dict[str, Any]] = []


class ImportProblem(Exception):
    pass


def _when(path: Path) -> tuple[str, datetime]:
    m = _NAME.match(path.name)
    if not m:
        raise ImportProblem(
            "file name must be load_test_results_YYYYMMDD_HHMMSS.json or resource_monitor_YYYYMMDD_HHMMSS.json "
            "(the time comes from the name)"
        )
    try:
        when = datetime.strptime(m.group(2) + m.group(3), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise ImportProblem(f"{m.group(2)}_{m.group(3)} is not a valid date and time") from None
    return m.group(1), when


def _read(path: Path, model: type[BaseModel]) -> Any:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ImportProblem(f"cannot read: {exc.strerror}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ImportProblem(f"not valid JSON: {exc}") from None
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"]) or "(document)"
        raise ImportProblem(f"field {field}: {err['msg']}") from None


def parse_load_file(path: Path) -> tuple[datetime, dict[str, Any]]:
    """(time, summary `load` object) of one seed load-test result."""
    kind, when = _when(path)
    if kind != "load_test_results":
        raise ImportProblem("not a load_test_results file")
    f: _LoadFile = _read(path, _LoadFile)
    rt = f.response_times
    scenarios = {}
    for label, sc in f.scenarios.items():
        name = SCENARIO_NAMES.get(label) or safe_name(label, "scenario").lower()
        scenarios[name] = {
            "requests": sc.total,
            "errors": sc.failed,
            "rps": sc.total / f.duration_seconds,
            "latency_ms": {"mean": sc.avg_response_ms, "p95": sc.p95_response_ms},
            "service_time_ms": {"mean": sc.avg_response_ms, "p95": sc.p95_response_ms},
            "errors_by_kind": {},
        }
    latency = {"mean": rt.mean_ms, "p50": rt.median_ms, "p95": rt.p95_ms, "p99": rt.p99_ms, "max": rt.max_ms}
    return when, {
        "requests": f.total_requests,
        "errors": f.failed_requests,
        "rps": f.requests_per_second,
        "dropped": 0,
        "late": 0,
        "generator_bound": False,
        # the seed timed from the actual send: its numbers are service times, not CO-corrected latency
        "latency_ms": latency,
        "service_time_ms": latency,
        "errors_by_kind": {msg: {"count": n, "sample": msg} for msg, n in f.errors.items()},
        "scenarios": scenarios,
        "duration_s": f.duration_seconds,
        "model": "closed",
    }


def parse_monitor_file(path: Path) -> tuple[datetime, dict[str, Any], list[dict[str, Any]]]:
    kind, when = _when(path)
    if kind != "resource_monitor":
        raise ImportProblem("not a resource_monitor file")
    f: _MonitorFile = _read(path, _MonitorFile)
    a = f.analysis
    resources = {
        "host": {
            "samples": a.samples_collected,
            "cpu_percent": {"avg": a.cpu.avg, "max": a.cpu.max},
            "mem_percent": {"avg": a.memory.avg, "max": a.memory.max},
            "note": "imported from the seed monitor: host-wide, sampled 1 s of every 6 s",
        }
    }
    samples = []
    for s in f.samples:
        system = s.get("system") if isinstance(s, dict) else None
        ts = s.get("timestamp") if isinstance(s, dict) else None
        if isinstance(system, dict) and isinstance(ts, str):
            try:
                t = datetime.fromisoformat(ts).replace(tzinfo=UTC) if "+" not in ts else datetime.fromisoformat(ts)
            except ValueError:
                continue
            samples.append({"t": t.timestamp(), "group": "host", "cpu_percent": system.get("cpu_percent")})
    return when, resources, samples


def import_files(engine: Engine, paths: Sequence[Path]) -> dict[str, Any]:
    """Store each load result (with its nearest monitor file) as one run; report what was skipped and why."""
    skipped: list[tuple[str, str]] = []
    loads: list[tuple[Path, datetime, dict[str, Any]]] = []
    monitors: list[tuple[Path, datetime, dict[str, Any], list[dict[str, Any]]]] = []
    for path in paths:
        try:
            if not path.exists():
                raise ImportProblem("file not found")
            kind, _ = _when(path)
            if kind == "load_test_results":
                loads.append((path, *parse_load_file(path)))
            else:
                monitors.append((path, *parse_monitor_file(path)))
        except ImportProblem as exc:
            skipped.append((str(path), str(exc)))
    stored: list[str] = []
    used: set[Path] = set()
    for path, when, load in sorted(loads, key=lambda x: x[1]):
        near = [m for m in monitors if abs(m[1] - when) <= PAIR_WINDOW and m[0] not in used]
        mon = min(near, key=lambda m: abs(m[1] - when)) if near else None
        if mon:
            used.add(mon[0])
        run_id = "seed-" + when.strftime("%Y%m%dT%H%M%SZ")
        summary = {
            "schema_version": SCHEMA_VERSION,
            "run_id": run_id,
            "status": "completed",
            "started_at": when.isoformat(),
            "finished_at": (when + timedelta(seconds=load["duration_s"])).isoformat(),
            "verdict": "imported",
            "verdict_reasons": [],
            "baseline_run_ids": [],
            "trigger": "import",
            "plan": {"name": "seed_tool_catalog", "hash": SEED_PLAN_HASH, "model": "closed", "users": 2,
                     "duration": load["duration_s"], "source": path.name,
                     "scenarios": [{"name": n} for n in load["scenarios"]]},
            "environment": {"hash": SEED_ENV_HASH, "source": "seed scripts"},
            "load": load,
            "resources": mon[2] if mon else {},
            "target_stats": {},
            "comparison": [],
            "change_points": [],
            "thresholds": [],
            "score": {},
        }
        try:  # only what the record model reads back (its verdict `imported`) is stored, as written
            read_summary(summary, source=f"{path} (imported as {run_id})")
        except InvalidInput as exc:
            skipped.append((str(path), exc.message))
            continue
        record = {"summary": summary, "status": "completed", "trigger": "import",
                  "resource_samples": mon[3] if mon else []}
        with map_db_errors():
            save_run(engine, record)
        stored.append(run_id)
    for m in monitors:
        if m[0] not in used:
            skipped.append((str(m[0]), "no load_test_results file within 5 minutes of it to attach to"))
    return {"stored": stored, "skipped": skipped}


# --- the `loadwatch import` command ---------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--database-url")


def run(ns: argparse.Namespace) -> int:
    from loadwatch.commands.store import open_store

    with open_store(ns) as engine:
        outcome = import_files(engine, [Path(f) for f in ns.files])
    for run_id in outcome["stored"]:
        print(f"stored {run_id}")
    for name, why in outcome["skipped"]:
        print(f"skipped {name}: {why}", file=sys.stderr)
    return EXIT_INVALID if outcome["skipped"] else EXIT_OK
