"""The compare stage: this run against its own history, its thresholds, and the seed's score.

Pure: takes the run's summary parts and the comparable history (oldest first), returns the findings and
the verdict. `judge` is the one comparison: the nightly run (`compare_stage`) and the trend review
(`loadwatch report`) both call it, on history chosen the same way (store.comparable_history: plan hash +
environment fingerprint, since the last `expected` change, excluded and inconclusive runs left out). The
statistics themselves live in loadwatch.stats (method: docs/METHOD.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from loadwatch.changes import OpenChange
from loadwatch.config import VerdictSpec
from loadwatch.findings import Findings
from loadwatch.metrics import Measured, run_metrics
from loadwatch.pipeline import attribution
from loadwatch.pipeline.capacity_verdict import capacity_finding
from loadwatch.pipeline.confirm import SecondLoad, confirmation_block, not_reproduced_reasons, reproduce, to_confirm
from loadwatch.pipeline.open_changes import OpenChangesPolicy, Tracked, track
from loadwatch.revision import build_label
from loadwatch.stats.gate import short_of_z
from loadwatch.stats.history import group_incidents, history_change_points
from loadwatch.stats.model import GateConfig, RunPoint
from loadwatch.stats.safe_defaults import default_checks
from loadwatch.stats.score import score
from loadwatch.stats.thresholds import evaluate_thresholds

if TYPE_CHECKING:  # the store's module imports SQLAlchemy, which the comparison itself never needs
    from loadwatch.store.repo import HistoryPoint

__all__ = [
    "CONFIRM_AFTER",
    "GATING_OUTCOMES",
    "compare_stage",
    "decide_verdict",
    "format_change",
    "gate_config",
    "judge",
    "machine_busy",
    "new_regressions",
    "newly_confirmed",
    "recorded_gate_config",
    "to_point",
]

# a flow run's logs get these lines through PREFECT_LOGGING_EXTRA_LOGGERS=loadwatch (loadwatch.prefect_adapter)
log = logging.getLogger(__name__)
GATING_OUTCOMES = ("regression",)
CONFIRM_AFTER = 3
ERROR_REASON_MIN_PERCENT = 1.0  # errors above this share are named in the reasons even with nothing to compare
GENERATOR_BOUND_ADVICE = (
    "the load generator could not keep up, so tonight's latencies describe the generator, not the target; "
    "the run is stored but never used as a baseline. Give the generator room: fewer target workers on the "
    "generator's cores (taskset), more generator processes (--workers), or a lower rate"
)


def machine_busy(summary: Mapping[str, Any]) -> str | None:
    """The reason a run was measured on a busy machine (loadwatch.observe.contention), or None."""
    c = (summary.get("target_stats") or {}).get("contention") or {}
    return str(c.get("reason")) if c.get("busy") else None


def to_point(p: Mapping[str, Any]) -> RunPoint:
    """A stored (or just measured) run as the statistics see it: without the values an open change holds out of
    the baseline (`held`, from store.comparable_history; docs/METHOD.md §11)."""
    probe = p.get("probe")
    metrics = p.get("metrics") or {}
    held = p.get("held") or []
    if held:
        out = {sc: dict(block) for sc, block in metrics.items()}
        for scenario, metric in held:
            (out.get(scenario) or {}).pop(metric, None)
        metrics = out
    return RunPoint(
        run_id=p["run_id"],
        started_at=p["started_at"],
        metrics=metrics,
        histograms=p.get("histograms") or {},
        excluded=bool(p.get("excluded")),
        probe=dict(probe) if isinstance(probe, Mapping) else None,
    )


def name_versions(change_points: Sequence[Mapping[str, Any]],
                  builds: Sequence[tuple[str, str | None]]) -> list[dict[str, Any]]:
    """The change points with the builds between which each happened: `builds` is (run id, build label) of the
    series' runs, oldest first; `version_before` is the label of the nearest earlier run that has one (a night
    without a version endpoint does not hide the build before it), `version_after` the label of its run."""
    index = {run_id: i for i, (run_id, _) in enumerate(builds)}
    out = []
    for cp in change_points:
        i = index.get(str(cp.get("run_id")))
        before = next((b for _, b in reversed(builds[:i]) if b), None) if i is not None else None
        after = builds[i][1] if i is not None else None
        out.append({**cp, "version_before": before, "version_after": after})
    return out


def builds_of(history: Sequence[Mapping[str, Any]]) -> list[tuple[str, str | None]]:
    """(run id, build label) of stored runs (loadwatch.store.HistoryPoint), oldest first."""
    return [(str(p["run_id"]), build_label(p.get("target_version"), p.get("target_commit"))) for p in history]


def format_change(row: Mapping[str, Any]) -> str:
    """"+41.7 %" for ratios, "+17.2 pts" for the error rate (a change from 0 % has no ratio)."""
    change = row.get("change", row.get("change_percent"))
    if change is None:
        return "n/a"
    if row.get("change_unit") == "points" or row.get("metric") == "error_rate":
        return f"{change:+.1f} pts"
    return f"{change:+.1f} %"


def newly_confirmed(
    change_points: Sequence[Mapping[str, Any]],
    comparison: Sequence[Mapping[str, Any]] = (),
    confirm_after: int = CONFIRM_AFTER,
) -> list[Mapping[str, Any]]:
    """Regression change points that this run confirms (exactly `confirm_after` runs after the change):
    a slow drift the same-night gate missed fails one run, the one that confirms it, not every run after.
    A series without enough history for the gate is reported, never failing; nor is an attribution series (it
    explains a regression, it is not one)."""
    change_points = [c for c in change_points if c.get("metric") not in attribution.ATTRIBUTION_METRICS]
    judged = {(c["scenario"], c["metric"]) for c in comparison if c.get("outcome") != "insufficient_history"}
    return [
        c for c in change_points
        if c.get("direction") == "regression" and c.get("state") == "confirmed"
        and c.get("runs_after") == confirm_after and (c.get("scenario"), c.get("metric")) in judged
    ]


def _error_reasons(load: Mapping[str, Any]) -> list[str]:
    """Errors worth naming whatever else is known: a run with 25 % errors never says only "insufficient history"."""
    out: list[str] = []
    blocks = [("the run", load), *((f"scenario {n}", b) for n, b in (load.get("scenarios") or {}).items())]
    for who, block in blocks:
        requests = float(block.get("requests") or 0)
        errors = float(block.get("errors") or 0)
        if requests <= 0 or errors <= 0:
            continue
        rate = 100.0 * errors / requests
        if rate < ERROR_REASON_MIN_PERCENT:
            continue
        kinds = ", ".join(f"{v.get('count', 0)} {k}" for k, v in sorted((block.get("errors_by_kind") or {}).items()))
        answered = (block.get("latency_ms") or {}).get("p50") is not None
        out.append(f"errors: {who} {rate:.1f} % of {int(requests)} requests failed ({kinds})"
                   + ("" if answered else "; no answers to measure"))
    return out


def _not_established(comparison: Sequence[Mapping[str, Any]], excused: set[tuple[str, str]]) -> list[str]:
    """A change past its floor and its interval that the history is too short or too noisy to establish (the z
    check alone short): the night does not fail on it, and says so rather than passing in silence (rule 5).
    Rows a second load did not reproduce have their own line (confirm.not_reproduced_reasons)."""
    out: list[str] = []
    for c in comparison:
        if ("confirmation" in c or (c["scenario"], c["metric"]) in excused
                or not short_of_z(c, interval_required=False)):
            continue
        z, crit = c.get("robust_z"), c.get("z_critical")
        band = f"z {z:.1f} of the {crit:.1f} needed" if z is not None and crit is not None else "z short"
        out.append(f"not established: {c['scenario']} {c['metric']} {format_change(c)} past its floor, {band} with "
                   f"{c.get('n_baseline')} baseline night(s): suspect, not failing")
    return out


def decide_verdict(
    comparison: Sequence[Mapping[str, Any]],
    thresholds: Sequence[Mapping[str, Any]],
    *,
    n_baseline: int,
    min_history: int,
    change_points: Sequence[Mapping[str, Any]] = (),
    load: Mapping[str, Any] | None = None,
    generator_bound: bool = False,
    machine_busy: str | None = None,
    changes: Tracked | None = None,
    capacity: Mapping[str, Any] | None = None,
) -> tuple[str, list[str]]:
    """pass · regression · threshold_breach · insufficient_history · inconclusive, with reasons.

    `changes`: tonight's open changes (loadwatch.pipeline.open_changes): a failing one fails the night, and the
    series a non-failing one follows (confirmed at its level, or `warn` after its first night) fail no longer.
    `capacity`: the capacity stage's block; a search with no answer is a breach, one cut short is said so
    (loadwatch.pipeline.capacity_verdict).

    A generator-bound run is inconclusive whatever it measured: its latencies describe the generator; so is a run
    during which other work on the machine made the target wait for a CPU (`machine_busy`, the reason why)."""
    reasons: list[str] = []
    if generator_bound:
        gen = ((load or {}).get("generator") or {}).get("reasons") or []
        reasons.append(GENERATOR_BOUND_ADVICE + (f" ({'; '.join(gen)})" if gen else ""))
    if machine_busy:
        reasons.append(machine_busy)
    if reasons:
        # an inconclusive night still says what its capacity stage could not answer (or found wrong)
        cap = capacity_finding(capacity)
        return "inconclusive", reasons + ([cap[1]] if cap is not None else [])
    comparison = [c for c in comparison if c.get("metric") not in attribution.ATTRIBUTION_METRICS]
    breached = [t for t in thresholds if not t.get("passed")]
    excused = changes.excused if changes is not None else set()
    regressions = [c for c in comparison if c.get("outcome") in GATING_OUTCOMES
                   and (c["scenario"], c["metric"]) not in excused]
    confirmed = [c for c in newly_confirmed(change_points, comparison)
                 if (c["scenario"], c["metric"]) not in excused]
    failing_changes = changes.failing if changes is not None else []
    for t in breached:
        why = t.get("reason") or f"value {t.get('value')}"
        reasons.append(f"threshold breached: {t['expr']} ({why})")
    for c in regressions:
        reasons.append(f"regression: {c['scenario']} {c['metric']} {format_change(c)}")
    for c in confirmed:
        reasons.append(f"change point confirmed: {c['scenario']} {c['metric']} "
                       f"{c.get('forward_change_percent') or 0:+.1f}% since run {c['run_id']}")
    reasons.extend(_not_established(comparison, excused))
    cap = capacity_finding(capacity)
    if cap is not None:
        reasons.append(cap[1])
    for ch in changes.changes if changes is not None else []:
        reasons.append(f"{'open change' if ch.failing else 'listed, not failing'}: {ch.reason}")
    reasons.extend(r for r in _error_reasons(load or {}) if not any(r in x for x in reasons))
    if regressions or confirmed or failing_changes:
        return "regression", reasons
    if breached or (cap is not None and cap[0] == "breach"):
        return "threshold_breach", reasons
    if n_baseline < min_history:
        reasons.append(f"insufficient history: {n_baseline} comparable run(s), the gate needs {min_history}")
        return "insufficient_history", reasons
    return "pass", reasons


def judge(
    current: RunPoint,
    history: Sequence[RunPoint],
    *,
    thresholds: Sequence[Mapping[str, Any]],
    load: Mapping[str, Any] | None,
    generator_bound: bool = False,
    machine_busy: str | None = None,
    config: GateConfig | None = None,
    change_points: Sequence[Mapping[str, Any]] | Callable[[], Sequence[Mapping[str, Any]]] | None = None,
    changes: Sequence[OpenChange] | None = None,
    policy: OpenChangesPolicy = "fail",
    versions: tuple[str | None, str | None] = (None, None),
    capacity: Mapping[str, Any] | None = None,
    confirmation: RunPoint | None = None,
) -> dict[str, Any]:
    """The comparison, change points, incidents and verdict of `current` against `history` (oldest first,
    comparable runs only). `change_points` may be given when already computed, or as a function that collects
    them (the report finds them in a worker process while the gate runs here); an inconclusive run (generator-bound,
    or measured on a busy machine) is never a point of them. `changes`: the open and confirmed changes this night
    follows (None: none are followed, as in the trend review); an inconclusive night follows none and opens none.
    `confirmation`: the night's second load (loadwatch.pipeline.confirm), judged against the same history; a new
    regression it does not reproduce is `suspect` (docs/METHOD.md §3.7)."""
    from loadwatch.stats.gate import compare_run  # numpy and scipy: loaded when a run is judged, not on import

    cfg = config or GateConfig()
    usable = [p for p in history if not p.excluded]
    comparison = compare_run(current, history, cfg)
    confirmed_rows: list[Any] = []
    if confirmation is not None:
        series = to_confirm([r for r in comparison if r["metric"] not in attribution.ATTRIBUTION_METRICS],
                            changes or [])
        comparison, confirmed_rows = reproduce(comparison, compare_run(confirmation, history, cfg), series)
    if callable(change_points):
        change_points = change_points()
    if change_points is None:
        inconclusive = generator_bound or bool(machine_busy)
        change_points = history_change_points([*history] if inconclusive else [*history, current],
                                                    confirm_after=CONFIRM_AFTER)
    # attribution series are judged like the rest but kept apart: they explain a regression, never are one
    attributing = attribution.ATTRIBUTION_METRICS
    own_points = [c for c in change_points if c.get("metric") not in attributing]
    tracked = None
    if changes is not None and not (generator_bound or machine_busy):
        own_rows = [r for r in comparison if r["metric"] not in attributing]
        tracked = track(own_rows, newly_confirmed(own_points, own_rows), changes, run_id=current.run_id,
                        started_at=current.started_at.isoformat(), versions=versions, policy=policy)
    verdict, reasons = decide_verdict(
        comparison, thresholds, n_baseline=len(usable[-cfg.window:]), min_history=cfg.min_history,
        change_points=own_points, load=load, generator_bound=generator_bound, machine_busy=machine_busy,
        changes=tracked, capacity=capacity,
    )
    reasons.extend(not_reproduced_reasons(confirmed_rows))
    return {
        "verdict": verdict,
        "verdict_reasons": reasons,
        "baseline_run_ids": [p.run_id for p in usable[-cfg.window:]],
        "comparison": [r for r in comparison if r["metric"] not in attributing],
        "change_points": own_points,
        "incidents": group_incidents([dict(c) for c in own_points]),
        "attribution_rows": [r for r in comparison if r["metric"] in attributing],
        "attribution_change_points": [c for c in change_points if c.get("metric") in attributing],
        # the followed ones as they were when the night could not judge (inconclusive): listed, never failing
        "open_changes": tracked.changes if tracked is not None else [
            c.model_copy(update={"failing": False, "held": False}) for c in changes or []],
        "confirmation_rows": confirmed_rows,
    }


def gate_config(verdict: VerdictSpec) -> GateConfig:
    """The gate's settings a plan can change (its `verdict:` section); the rest are the method's."""
    return GateConfig(min_history=verdict.min_history)


def recorded_gate_config(plan_block: Mapping[str, Any]) -> GateConfig:
    """The gate's settings of the plan a stored run measured (its summary's `plan.verdict`); the method's defaults
    for a run stored before the plan could set them, or with a section this version cannot read."""
    try:
        return gate_config(VerdictSpec.model_validate(plan_block.get("verdict") or {}))
    except ValidationError:
        return GateConfig()


def compare_stage(
    *,
    run_id: str,
    started_at: datetime,
    summary: Measured,
    histograms: Mapping[str, Mapping[str, str]],
    history: Sequence[HistoryPoint],
    threshold_exprs: Sequence[str],
    plan_source: str,
    config: GateConfig | None = None,
    metrics: Mapping[str, Mapping[str, float]] | None = None,
    commit: str | None = None,
    changes: Sequence[OpenChange] | None = None,
    policy: OpenChangesPolicy = "fail",
    second: SecondLoad | None = None,
) -> Findings:
    """The nightly comparison of one run: `metrics` is the run's metric vector (the chain derives it once and the
    record carries it; derived from `summary` when not given); `commit` the run's target commit (the change points
    name the builds between which they happened); `changes` the open and confirmed changes it follows under the
    plan's `verdict.open_changes` (`policy`); `second` the night's confirmation load, when the chain ran one
    (loadwatch.pipeline.confirm)."""
    load = summary.get("load") or {}
    # the builds (version and short commit, loadwatch.revision.build_label) of the last earlier night that knew its
    # build and of tonight: what open changes and change points name (docs/METHOD.md §14)
    env = summary.get("environment") or {}
    builds = [*builds_of(history), (run_id, build_label(env.get("target_version"), commit))]
    versions = (next((b for _, b in reversed(builds[:-1]) if b), None), builds[-1][1])
    current = _point(run_id, started_at, summary, metrics, histograms)
    again = None
    if second is not None and second.why_not is None:
        again = _point(f"{run_id}-confirm", started_at, summary, second.metrics, second.histograms)
    thresholds = evaluate_thresholds(threshold_exprs, load, source=plan_source)
    thresholds += default_checks(threshold_exprs, load)  # from night 1, whatever the plan says (METHOD §5.1)
    findings = judge(current, [to_point(p) for p in history], thresholds=thresholds, load=load,
                     generator_bound=bool(load.get("generator_bound")), machine_busy=machine_busy(summary),
                     config=config, changes=changes, policy=policy, versions=versions,
                     capacity=summary.get("capacity"), confirmation=again)
    confirmation = None
    if second is not None:
        confirmation = confirmation_block(second, findings.pop("confirmation_rows"))
        if second.why_not is not None:
            findings["verdict_reasons"].append(f"a second load could not confirm the new regression(s) "
                                               f"({second.why_not}): the first load's verdict stands")
    findings.pop("confirmation_rows", None)
    rows = findings.pop("attribution_rows")
    explained = attribution.explain(
        summary=summary, current=current.metrics, comparison=findings["comparison"], rows=rows,
        history=history, baseline_run_ids=findings["baseline_run_ids"],
        min_history=(config or GateConfig()).min_history,
    )
    explained["change_points"] = findings.pop("attribution_change_points")
    findings["change_points"] = name_versions(findings["change_points"], builds)
    findings["incidents"] = group_incidents([dict(c) for c in findings["change_points"]])
    log.info("verdict %s", findings["verdict"])
    return Findings.model_validate({**findings, "thresholds": thresholds, "score": score(load),
                                    "attribution": explained, "confirmation": confirmation})


def _point(run_id: str, started_at: datetime, summary: Measured, metrics: Mapping[str, Mapping[str, float]] | None,
           histograms: Mapping[str, Mapping[str, str]]) -> RunPoint:
    return RunPoint(
        run_id=run_id,
        started_at=started_at,
        metrics={sc: dict(ms) for sc, ms in metrics.items()} if metrics is not None else run_metrics(summary),
        histograms={sc: h["latency"] for sc, h in histograms.items() if h.get("latency")},
        probe=summary.get("probe"),
    )


def new_regressions(
    *,
    run_id: str,
    started_at: datetime,
    summary: Measured,
    metrics: Mapping[str, Mapping[str, float]],
    histograms: Mapping[str, Mapping[str, str]],
    history: Sequence[HistoryPoint],
    changes: Sequence[OpenChange] | None,
    config: GateConfig | None = None,
) -> list[tuple[str, str]]:
    """The series whose gate row would open a new change tonight: what a confirmation load must reproduce
    (loadwatch.pipeline.confirm). None on a night that cannot judge (generator-bound, busy machine): it opens none."""
    from loadwatch.stats.gate import compare_run

    if (summary.get("load") or {}).get("generator_bound") or machine_busy(summary):
        return []
    rows = compare_run(_point(run_id, started_at, summary, metrics, histograms), [to_point(p) for p in history],
                       config or GateConfig())
    own: list[dict[str, Any]] = [r for r in rows if r["metric"] not in attribution.ATTRIBUTION_METRICS]
    return to_confirm(own, changes or [])
