"""Prometheus exposition of one run's key results: a textfile-collector file and/or a Pushgateway push.

Every sample is a gauge describing the *latest* run of a plan (the file is rewritten, the push replaces the
group), so alert rules compare plain values and detect staleness from `loadwatch_run_timestamp_seconds`.
Latencies are in seconds (Prometheus base units) and measured from the intended send time. Publishing is
best effort: a broken exporter path or an unreachable Pushgateway is logged and never fails the run."""

from __future__ import annotations

import base64
import logging
import math
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from loadwatch.record import RunSummary
from loadwatch.settings import settings
from loadwatch.vocabulary import VERDICTS

__all__ = [
    "PUSHGATEWAY_ENV",
    "TEXTFILE_DIR_ENV",
    "VERDICTS",
    "escape_label_value",
    "publish",
    "push_to_gateway",
    "render_metrics",
    "textfile_name",
    "write_textfile",
]

TEXTFILE_DIR_ENV = "LOADWATCH_PROM_TEXTFILE_DIR"
PUSHGATEWAY_ENV = "LOADWATCH_PUSHGATEWAY_URL"
PUSH_TIMEOUT_S = 5.0
# every verdict is exported (1 for the current one, 0 for the others) so a rule can match on the label
QUANTILES = (("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99"))
ALL_SCENARIOS = "*"
_HIT_RATE = re.compile(r"[._]?hit_rate_window$")  # window ratios from loadwatch.observe.deltas.counter_deltas

log = logging.getLogger("loadwatch.report.prometheus")


def escape_label_value(value: object) -> str:
    """Text-format label escaping: backslash, double quote and line feed."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: Any) -> float | None:
    """A finite float, or None for missing/non-numeric/NaN values (they are left out, not exported as 0)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        f = float(value)
        return f if math.isfinite(f) else None
    return None


def _format(value: float) -> str:
    return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


class _Families:
    """Metric families in first-seen order; each rendered once with its HELP and TYPE."""

    def __init__(self) -> None:
        self._meta: dict[str, tuple[str, str]] = {}
        self._samples: dict[str, list[str]] = {}

    def add(
        self,
        name: str,
        help_text: str,
        labels: Mapping[str, object],
        value: Any,
        *,
        kind: str = "gauge",
        suffix: str = "",
    ) -> None:
        v = _number(value)
        if v is None:
            return
        self._meta.setdefault(name, (help_text, kind))
        body = ",".join(f'{k}="{escape_label_value(val)}"' for k, val in labels.items())
        self._samples.setdefault(name, []).append(f"{name}{suffix}{{{body}}} {_format(v)}")

    def render(self) -> str:
        lines: list[str] = []
        for name, samples in self._samples.items():
            help_text, kind = self._meta[name]
            lines.append(f"# HELP {name} {_escape_help(help_text)}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(samples)
        return "\n".join(lines) + "\n" if lines else ""


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _plan_info(summary: Mapping[str, Any]) -> Mapping[str, Any]:
    info = summary.get("plan")
    return info if isinstance(info, Mapping) else {}


def _plan_name(summary: Mapping[str, Any]) -> str:
    return str(_plan_info(summary).get("name") or "unknown")


def _load_block(fam: _Families, base: Mapping[str, str], scenario: str, block: Mapping[str, Any]) -> None:
    labels = {**base, "scenario": scenario}
    requests = _number(block.get("requests"))
    for kind, metric in (
        ("latency_ms", "loadwatch_latency_seconds"),
        ("service_time_ms", "loadwatch_service_time_seconds"),
    ):
        lat = block.get(kind) or {}
        what = "intended send time (coordinated-omission corrected)" if kind == "latency_ms" else "actual send"
        help_text = f"Latency of the latest run's requests, from the {what}"
        for quantile, key in QUANTILES:
            ms = _number(lat.get(key))
            if ms is not None:
                fam.add(metric, help_text, {**labels, "quantile": quantile}, round(ms / 1000.0, 9), kind="summary")
        # _sum/_count make it a complete summary (and let PromQL derive the mean)
        mean = _number(lat.get("mean"))
        if mean is not None and requests is not None:
            fam.add(metric, help_text, labels, round(mean * requests / 1000.0, 9), kind="summary", suffix="_sum")
            fam.add(metric, help_text, labels, requests, kind="summary", suffix="_count")
    errors = _number(block.get("errors"))
    fam.add("loadwatch_requests", "Requests completed in the latest run's measured window", labels, requests)
    fam.add(
        "loadwatch_errors",
        "Failed requests (HTTP >= 400, timeouts, connection errors) in the latest run",
        labels,
        errors,
    )
    if requests is not None and errors is not None and requests > 0:
        fam.add("loadwatch_error_ratio", "errors / requests of the latest run (0..1)", labels, errors / requests)
    fam.add("loadwatch_throughput_rps", "Completed requests per second of the latest run", labels, block.get("rps"))


def render_metrics(summary: RunSummary | Mapping[str, Any]) -> str:
    """The Prometheus text exposition (format 0.0.4) of one run's summary (the run record, or a summary.json read
    back, which may be of any version: every value is checked before it is exported). Families appear in the order
    of FAMILIES."""
    if isinstance(summary, RunSummary):
        summary = summary.to_json()
    base = {"plan": _plan_name(summary)}
    fam = _Families()
    for add_family in FAMILIES:
        add_family(fam, base, summary)
    return fam.render()


def _run_info(fam: _Families, base: Mapping[str, str], summary: Mapping[str, Any]) -> None:
    fam.add(
        "loadwatch_run_info",
        "The latest run of a plan (value always 1; identity in the labels)",
        {
            **base,
            "run_id": summary.get("run_id") or "",
            "verdict": _verdict(summary),
            "status": summary.get("status") or "",
            "trigger": summary.get("trigger") or "",
            "plan_hash": _plan_info(summary).get("hash") or "",
        },
        1,
    )


def _run_timestamps(fam: _Families, base: Mapping[str, str], summary: Mapping[str, Any]) -> None:
    fam.add(
        "loadwatch_run_timestamp_seconds",
        "Start of the latest run (Unix time)",
        base,
        _timestamp(summary.get("started_at")),
    )
    fam.add(
        "loadwatch_run_finished_timestamp_seconds",
        "End of the latest run (Unix time)",
        base,
        _timestamp(summary.get("finished_at")),
    )


def _verdict(summary: Mapping[str, Any]) -> str:
    return str(summary.get("verdict") or "unknown")


def _verdicts(fam: _Families, base: Mapping[str, str], summary: Mapping[str, Any]) -> None:
    verdict = _verdict(summary)
    for v in (*VERDICTS, *(() if verdict in VERDICTS else (verdict,))):
        fam.add(
            "loadwatch_verdict",
            "1 for the latest run's verdict, 0 for the others",
            {**base, "verdict": v},
            1 if v == verdict else 0,
        )


def _load(fam: _Families, base: Mapping[str, str], summary: Mapping[str, Any]) -> None:
    """Latency, service time, requests, errors and throughput, of the whole run and per scenario; the generator's
    drops, late sends and whether it kept up."""
    load = summary.get("load") or {}
    if not isinstance(load, Mapping) or not load:
        return
    _load_block(fam, base, ALL_SCENARIOS, load)
    for name, block in (load.get("scenarios") or {}).items():
        if isinstance(block, Mapping):
            _load_block(fam, base, str(name), block)
    fam.add(
        "loadwatch_dropped_requests",
        "Sends the generator dropped (it fell behind the schedule)",
        base,
        load.get("dropped"),
    )
    fam.add("loadwatch_late_requests", "Sends that left later than intended", base, load.get("late"))
    fam.add(
        "loadwatch_generator_bound",
        "1 when the load generator could not keep up (latencies suspect)",
        base,
        bool(load.get("generator_bound")),
    )


def _thresholds(fam: _Families, base: Mapping[str, str], summary: Mapping[str, Any]) -> None:
    for t in (t for t in summary.get("thresholds") or [] if isinstance(t, Mapping)):
        fam.add(
            "loadwatch_threshold_passed",
            "1 when the plan's threshold held in the latest run, 0 when breached",
            {**base, "scenario": t.get("scenario") or ALL_SCENARIOS, "expr": t.get("expr") or ""},
            bool(t.get("passed")),
        )


def _outcomes(summary: Mapping[str, Any]) -> list[object]:
    return [c.get("outcome") for c in summary.get("comparison") or [] if isinstance(c, Mapping)]


def _comparisons(fam: _Families, base: Mapping[str, str], summary: Mapping[str, Any]) -> None:
    outcomes = _outcomes(summary)
    for outcome in ("regression", "suspect"):
        fam.add(
            "loadwatch_comparisons",
            "Scenario x metric comparisons of the latest run by outcome",
            {**base, "outcome": outcome},
            outcomes.count(outcome),
        )


def _regressions(fam: _Families, base: Mapping[str, str], summary: Mapping[str, Any]) -> None:
    fam.add(
        "loadwatch_regressions",
        "Regressions the same-night gate found in the latest run",
        base,
        _outcomes(summary).count("regression"),
    )


def _change_points(fam: _Families, base: Mapping[str, str], summary: Mapping[str, Any]) -> None:
    fam.add(
        "loadwatch_change_points",
        "Change points over the plan's history reported by the latest run",
        base,
        len([c for c in summary.get("change_points") or [] if isinstance(c, Mapping)]),
    )


def _score(fam: _Families, base: Mapping[str, str], summary: Mapping[str, Any]) -> None:
    score = summary.get("score") or {}
    if not isinstance(score, Mapping):
        return
    for component, value in score.items():
        fam.add(
            "loadwatch_score",
            "The seed's 100-point score of the latest run, by component",
            {**base, "component": component},
            value,
        )


def _resources(fam: _Families, base: Mapping[str, str], summary: Mapping[str, Any]) -> None:
    """CPU and resident memory per process group (avg and max); the two families interleave by group, as before."""
    resources = summary.get("resources") or {}
    if not isinstance(resources, Mapping):
        return
    for group, res in resources.items():
        if not isinstance(res, Mapping) or not res.get("samples"):
            continue
        for stat in ("avg", "max"):
            fam.add(
                "loadwatch_cpu_percent",
                "CPU of a process group during the latest run (% of one core)",
                {**base, "group": group, "stat": stat},
                (res.get("cpu_percent") or {}).get(stat),
            )
            rss = _number((res.get("rss_mb") or {}).get(stat))
            fam.add(
                "loadwatch_rss_bytes",
                "Resident memory of a process group during the latest run",
                {**base, "group": group, "stat": stat},
                None if rss is None else round(rss * 1024 * 1024),
            )


def _target_hit_ratio(fam: _Families, base: Mapping[str, str], summary: Mapping[str, Any]) -> None:
    target_stats = summary.get("target_stats") or {}
    delta = target_stats.get("delta") if isinstance(target_stats, Mapping) else None
    if not isinstance(delta, Mapping):
        return
    for key, value in delta.items():
        if _HIT_RATE.search(str(key)) and _number(value) is not None:
            fam.add(
                "loadwatch_target_hit_ratio",
                "Target cache hit ratio over the load window (0..1)",
                {**base, "counter": _HIT_RATE.sub("", str(key))},
                round(float(value) / 100.0, 6),
            )


# One function per metric family (or per pair that shares its samples' loop), in exposition order.
FAMILIES: tuple[Callable[[_Families, Mapping[str, str], Mapping[str, Any]], None], ...] = (
    _run_info,
    _run_timestamps,
    _verdicts,
    _load,
    _thresholds,
    _comparisons,
    _regressions,
    _change_points,
    _score,
    _resources,
    _target_hit_ratio,
)


def textfile_name(plan: str) -> str:
    """One file per plan, so two plans never overwrite each other's metrics."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", plan).strip("._") or "unknown"
    return f"loadwatch_{safe}.prom"


def write_textfile(text: str, directory: Path, plan: str) -> Path:
    """Atomic write: the collector never sees a half-written file (tmp name without .prom, then rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / textfile_name(plan)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".loadwatch-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # node_exporter often runs as another user
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _group_path(plan: str) -> str:
    # Pushgateway grouping: a value with "/" (or empty) must use the base64url form
    if plan and "/" not in plan:
        return "plan/" + urllib.parse.quote(plan, safe="")
    return "plan@base64/" + (base64.urlsafe_b64encode(plan.encode()).decode() or "=")


def push_to_gateway(text: str, gateway_url: str, plan: str, timeout: float = PUSH_TIMEOUT_S) -> str:
    """HTTP PUT (replace the whole group) to <gateway>/metrics/job/loadwatch/plan/<plan>; returns the URL."""
    url = gateway_url.rstrip("/") + "/metrics/job/loadwatch/" + _group_path(plan)
    req = urllib.request.Request(
        url,
        data=text.encode("utf-8"),
        method="PUT",
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        resp.read()
    return url


def _redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def publish(summary: RunSummary | Mapping[str, Any], env: Mapping[str, str] | None = None) -> list[str]:
    """Publish a run's metrics where the environment asks; returns the file paths/URLs that succeeded.

    LOADWATCH_PROM_TEXTFILE_DIR: write <dir>/loadwatch_<plan>.prom for node_exporter's textfile collector.
    LOADWATCH_PUSHGATEWAY_URL: PUT to the Pushgateway. Neither set: nothing happens. Errors are logged."""
    current = settings(env)
    textfile_dir = str(current.prom_textfile_dir or "")
    gateway = (current.pushgateway_url or "").strip()
    if not textfile_dir and not gateway:
        return []
    if isinstance(summary, RunSummary):
        summary = summary.to_json()
    plan = _plan_name(summary)
    try:
        text = render_metrics(summary)
    except Exception as exc:  # a malformed summary must not fail the run that produced it
        log.warning("prometheus: could not render metrics: %s: %s", type(exc).__name__, exc)
        return []
    done: list[str] = []
    if textfile_dir:
        try:
            done.append(str(write_textfile(text, Path(textfile_dir), plan)))
        except OSError as exc:
            log.warning("prometheus: could not write the textfile in %s: %s", textfile_dir, exc)
    if gateway:
        try:
            done.append(_redact(push_to_gateway(text, gateway, plan)))
        except (OSError, ValueError, urllib.error.URLError) as exc:
            log.warning("prometheus: push to %s failed: %s", _redact(gateway), exc)
    return done
