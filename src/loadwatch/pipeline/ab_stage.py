"""The nightly A/B stage (issue 25 item 2): after the fixed-rate load, the plan's scenarios against two builds (the
plan's `ab:` section: the previous release and tonight's) in alternating rounds, judged pair by pair
(loadwatch.ab.session, docs/METHOD.md §13). Its rows join the night's verdict as same-night comparisons: a
regression fails the night like a gate row; a session that could not answer says so and fails nothing."""

from __future__ import annotations

import logging
import math
import threading
from contextlib import ExitStack

from loadwatch.ab.builds import Build, started
from loadwatch.ab.session import AbResult, AbSettings, run_ab
from loadwatch.config import AbSpec, Plan
from loadwatch.errors import Interrupted, LoadwatchError
from loadwatch.findings import AbBlock, AbRow, Findings
from loadwatch.stats.paired import AB_FLOORS, PairedConfig, Row, round_seconds

__all__ = ["ab_settings", "judge_with_ab", "run_ab_stage"]

_PERCENTILE_ORDER = ("p50", "p90", "p95", "p99", "p999")


def ab_settings(spec: AbSpec, rate: float | None) -> AbSettings:
    """The session's settings from the plan's `ab:` section (validated with the plan)."""
    pcts = tuple(spec.percentiles)
    floors = {**AB_FLOORS, **{k: v / 100.0 for k, v in spec.floors.items()}}
    cfg = PairedConfig(alpha=spec.alpha, looks=spec.looks, percentiles=pcts, floors=floors)
    top = max(pcts, key=_PERCENTILE_ORDER.index)
    round_s = spec.round or (round_seconds(rate, top, cfg.min_above) if rate else 5.0)
    return AbSettings(budget_s=spec.budget, round_s=round_s, settle_s=spec.settle, max_pairs=spec.max_pairs,
                      warmup_rounds=spec.warmup_rounds, stats=cfg)


def _finite(v: float) -> float | None:
    return round(v, 3) if math.isfinite(v) else None


def _row(r: Row) -> AbRow:
    est = lo = hi = None
    if r.paired is not None:
        e, low, high = r.paired.percent()
        est, lo, hi = _finite(e), _finite(low), _finite(high)
    return AbRow(scenario=r.scenario, percentile=r.percentile, verdict=r.verdict, reason=r.reason, pairs=r.pairs,
                 change_percent=est, ci_low_percent=lo, ci_high_percent=hi, same_night=True)


def _block(result: AbResult) -> AbBlock:
    return AbBlock(status="completed", verdict=result.verdict, reason=None, baseline=result.baseline,
                   candidate=result.candidate, pairs=len(result.rounds) // 2, elapsed_s=result.elapsed_s,
                   warnings=list(result.warnings), rows=[_row(r) for r in result.rows])


def _side(stack: ExitStack, label: str, value: str, spec_field: str, plan: Plan) -> Build:
    if value.startswith(("http://", "https://")):
        return Build(label=label, url=value)
    return stack.enter_context(started(label, value, field=f"ab.{spec_field}", health_path=plan.target.health_path,
                                       timeout=plan.target.startup_timeout))


# a flow run's logs get these lines through PREFECT_LOGGING_EXTRA_LOGGERS=loadwatch (loadwatch.prefect_adapter)
log = logging.getLogger(__name__)


def run_ab_stage(plan: Plan, stop: threading.Event) -> AbBlock:
    """The session of the plan's `ab:` section. Never raises for a build that cannot be started or reached, nor for
    an interrupt (the chain sees that itself): the block says why it has no answer."""
    spec = plan.ab
    assert spec is not None, "the chain runs this stage only for a plan with an ab: section"
    settings = ab_settings(spec, plan.load.rate if plan.load.model == "open" else None)
    try:
        with ExitStack() as stack:
            a = _side(stack, "A", spec.baseline, "baseline", plan)
            b = _side(stack, "B", spec.candidate, "candidate", plan)
            log.info("A/B: %s against %s, %g s rounds, budget %g s", b.url, a.url, settings.round_s,
                     settings.budget_s)
            result = run_ab(plan, a, b, settings, stop=stop, progress=log.info)
    except (LoadwatchError, Interrupted) as exc:
        why = "interrupted" if isinstance(exc, Interrupted) else getattr(exc, "message", str(exc))
        log.warning("A/B stage without an answer: %s", why)
        return AbBlock(status="failed", verdict="inconclusive", reason=why, baseline=spec.baseline,
                       candidate=spec.candidate, pairs=0, elapsed_s=0.0, warnings=[], rows=[])
    return _block(result)


def _fmt(row: AbRow) -> str:
    if row["change_percent"] is None:
        return f"{row['scenario']} {row['percentile']}: {row['reason']}"
    lo, hi = row["ci_low_percent"], row["ci_high_percent"]
    interval = f" [{'-∞' if lo is None else f'{lo:+.1f}'}, {'+∞' if hi is None else f'{hi:+.1f}'} %]"
    return f"{row['scenario']} {row['percentile']} {row['change_percent']:+.1f} %{interval}"


def judge_with_ab(findings: Findings, block: AbBlock) -> Findings:
    """The night's verdict with the same-night A/B rows: a regression there fails the night as a gate row does
    (`regression`, unless the night already fails); a session without an answer is said in the reasons."""
    reasons = list(findings.verdict_reasons)
    verdict = findings.verdict
    if block["status"] == "failed":
        reasons.append(f"same-night A/B: no answer ({block['reason']})")
    elif block["verdict"] == "regression":
        worse = [_fmt(r) for r in block["rows"] if r["verdict"] == "regression"]
        reasons.insert(0, f"same-night A/B regression, {block['candidate']} against {block['baseline']}: "
                       + "; ".join(worse))
        if verdict in ("pass", "insufficient_history", "inconclusive"):
            verdict = "regression"
    elif block["verdict"] == "inconclusive":
        reasons.append(f"same-night A/B inconclusive after {block['pairs']} pair(s): "
                       + "; ".join(_fmt(r) for r in block["rows"] if r["verdict"] == "inconclusive"))
    return findings.model_copy(update={"verdict": verdict, "verdict_reasons": reasons})
