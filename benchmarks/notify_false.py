"""False notifications per 100 clean nights (issue 22 target: any event but "missed night" <= 1 per 100, counting
whole nights, change points included).

    .venv/bin/python benchmarks/notify_false.py [--quick] [--out notify_false]

Clean nights go through the comparison the pipeline runs (loadwatch.pipeline.compare.judge: the same-night gate,
change points over history, the verdict) and then the notification rules (loadwatch.notify.events.night_events),
oldest first, with the state carried from night to night as the store carries it. A night counts once when it
yields any event but "missed" (a new change, a reminder, a recovery, a closed change, an inconclusive streak, a
crash, a breach: none is true on a clean night).

Two sources:
- synthetic: the NOTIFY suites of benchmarks/stats/synth.py (every night clean), nights from the 11th on judged
  against all nights before them. The target's row is NOTIFY2 and NOTIFY3 together (both drawn after the rule and
  never used to choose it; decided before NOTIFY3 was drawn), each is listed on its own, and NOTIFY (drawn before
  the rule, its residue read while choosing it) is context. Rates carry a Clopper-Pearson 95 % interval;
- real: the recorded nights of the demo target in benchmarks/results/real_nights/ (clean: nothing changed between
  them but the machine's load), judged as benchmarks/replay_nights.py does. Their stored `generator_bound` flags
  come from an older rule (issue 22 item 9 re-grounds it); the headline judges them as measured, and a second pass
  honours the flags (those nights inconclusive) and counts the inconclusive notices apart.

Open changes come from the comparison's own lifecycle (docs/METHOD.md §11, `judge(..., changes=...)`) when this
checkout has it; otherwise they are modelled from the verdict's findings as that section describes them: a gating
regression row or a newly confirmed change point of a (scenario, metric) opens a change with the row's size and 99 %
interval; a night whose row is `regression` or `suspect` holds it (one more night open), `ok` or `improvement` makes
it "recovered", no row keeps it. Either way a night with a change held leaves the baseline as a whole (the store
drops only the held series' values: a simplification). The notification rules are the
plan's defaults (a new change told on its second night, or at once when its interval's low end is >= +100 % or
+1 point of errors). Nights of a real regression of the demo (benchmarks/summary.py's TRUE_REGRESSIONS) are not
clean and not counted.

The confirmation load (docs/METHOD.md §3.7, loadwatch.pipeline.confirm): a night whose first judgement has a new
regression (`to_confirm` on its comparison rows, with the changes open that night; never an inconclusive night) is
judged again as the chain judges it, `judge(..., confirmation=<the second load>)`: a series the second load does not
reproduce is `suspect`, not a regression. Where the second load comes from:
- synthetic: drawn for the same night (stats.synth.confirmation_night; the same per-scenario seeds in both models,
  SeedSequence([suite seed, CONFIRM_SALT, service, night, scenario]), so the models differ only in the factors),
  under two models, both reported: (a) "night persists" (pessimistic, the headline): the night's machine and
  scenario factors kept, only the requests (and the load's own cpu/rss readings) redrawn; (b) "transient"
  (optimistic): the machine and scenario factors redrawn too, as an independent clean night of the service draws
  them (factors from SeedSequence([suite seed, CONFIRM_SALT, service, night])). The second load carries the first's
  probe (the pipeline measures it once a night). "no confirmation" (every night on its first load) is kept as the
  figure before §3.7. Every night judged with a second load is listed in the raw file with its seeds and factors.
- real: the second load the record holds (record_nights.py exports the stored summary's `confirmation`: its metric
  vector; its histograms are not stored, so the checks that read tonight's histogram see its metrics only). A
  night that wants one and holds none (every file recorded before §3.7), or whose second load could not judge
  (`confirmation.reason`), stays on its first load, as the pipeline would have left it: those rows say "first load
  only". Nothing is drawn for real nights.

Raw output: benchmarks/results/<out>.json (per row the headline model's figures, every model's under `models`) and
.md."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scipy.stats import beta

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay_nights import point
from stats.synth import (
    CONFIRM_SALT,
    NOTIFY,
    NOTIFY2,
    NOTIFY3,
    Service,
    SuiteParams,
    build_run,
    confirmation_night,
    resized,
    service_suite,
)
from summary import TRUE_REGRESSIONS

from loadwatch.changes import OpenChange
from loadwatch.notify.events import Night, NotifyState, Rules, night_events
from loadwatch.pipeline.compare import GATING_OUTCOMES, judge, newly_confirmed
from loadwatch.pipeline.confirm import to_confirm
from loadwatch.stats.model import GateConfig, RunPoint

RESULTS = Path(__file__).resolve().parent / "results"
# the comparison's own open-change lifecycle when this checkout has it (branch `changes`), else OpenModel below
LIFECYCLE = "changes" in inspect.signature(judge).parameters
# the default rules against: no wait at all (every new change told on its first night), and a longer wait
VARIANTS = {
    "told on the first night": Rules(tell_after_nights=1),
    "told once open 2 nights, seen again or not (the rule before 2026-12-07)": Rules(tell_by_nights=2),
    "told after 3 nights (at once beyond +100 %)": Rules(tell_after_nights=3),
}
BEFORE = "told once open 2 nights, seen again or not (the rule before 2026-12-07)"
# real steps on the newest suite's services: scenario 0 x mult from night STEP_AT on, every later night too
STEP_AT = 20
STEP_MULTS = (1.2, 1.5, 2.0)
REAL = RESULTS / "real_nights"
# the night's second load for night i of a replay (its first load given), with what was drawn; None: it has none
SecondLoads = Callable[[int, RunPoint], tuple[RunPoint, dict[str, Any]] | None]
# synthetic second loads: model -> redraw the night's factors too (None: no second load, the figures before §3.7)
SYNTH_MODELS: dict[str, bool | None] = {"no confirmation": None, "night persists": False, "transient": True}
HEADLINE = "night persists"  # issue 22's figure: the pessimistic model
# real nights: model -> judge with the second load the record holds
REAL_MODELS = {"no confirmation": False, "recorded second loads": True}
REAL_HEADLINE = "recorded second loads"
FIRST_JUDGED = GateConfig().min_history
# the suites drawn after the rule and never used to choose it: together, the target's synthetic figure
AFTER_RULE = (NOTIFY2, NOTIFY3)


class OpenModel:
    """Open changes from the findings, night after night (see the module's docstring)."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, str], OpenChange] = {}

    def night(self, run: RunPoint, findings: dict[str, Any]) -> list[OpenChange]:
        rows = {(r["scenario"], r["metric"]): r for r in findings["comparison"]}
        opening: dict[tuple[str, str], tuple[float | None, tuple[float, float] | None]] = {}
        for key, r in rows.items():
            if r.get("outcome") in GATING_OUTCOMES:
                ci = r.get("ci")
                opening[key] = (r.get("change_percent"), (float(ci[0]), float(ci[1])) if ci else None)
        for c in newly_confirmed(findings["change_points"], findings["comparison"]):
            opening.setdefault((c["scenario"], c["metric"]), (c.get("forward_change_percent"), None))
        listed: list[OpenChange] = []
        for key in list(self.open):  # follow: held by regression or suspect, recovered by ok or improvement
            outcome = (rows.get(key) or {}).get("outcome")
            if outcome in ("ok", "improvement"):
                listed.append(self.open.pop(key).model_copy(update={"status": "recovered", "failing": False}))
            elif outcome in ("regression", "suspect"):
                self.open[key] = self.open[key].model_copy(update={"nights_open": self.open[key].nights_open + 1})
                listed.append(self.open[key])
            else:  # not judged tonight: kept as it is
                listed.append(self.open[key])
        for key, (size, ci) in opening.items():
            if key in self.open:
                continue
            self.open[key] = OpenChange(change_id=f"{key[0]}:{key[1]}@{run.run_id}", scenario=key[0], metric=key[1],
                                        status="open", change_percent=size, ci=ci, first_run_id=run.run_id,
                                        first_seen_at=run.started_at.isoformat(), nights_open=1, failing=True)
            listed.append(self.open[key])
        return listed


def replay(runs: list[RunPoint], *, inconclusive: list[bool] | None = None,
           second: SecondLoads | None = None) -> dict[str, Any]:
    """Judge runs[FIRST_JUDGED:] against everything before them, then the notification rules; per night its
    verdict and events. `second`: the night's confirmation load, asked for only when the first judgement would open
    a new change (docs/METHOD.md §3.7); None judges every night on its first load alone."""
    model = OpenModel()
    following: list[OpenChange] = []
    state, rules = NotifyState(), Rules()
    others = {name: (NotifyState(), r) for name, r in VARIANTS.items()}
    history: list[RunPoint] = []
    nights: list[dict[str, Any]] = []
    for i, run in enumerate(runs):
        if run.excluded:
            history.append(run)
            continue
        usable = [h for h in history if not h.excluded]
        if len(usable) < FIRST_JUDGED:
            history.append(run)
            continue
        bound = bool(inconclusive and inconclusive[i])
        confirm: dict[str, Any] | None = None
        if LIFECYCLE:  # the comparison follows open changes itself (docs/METHOD.md §11)
            findings = judge(run, history, thresholds=[], load=None, generator_bound=bound, changes=following)
            confirm = _confirm(i, run, history, findings, following, bound, second)
            if confirm is not None and confirm["second_run_id"] is not None:
                findings = confirm.pop("findings")
            changes = [OpenChange.model_validate(c) for c in findings.get("open_changes") or []]
            following = [c for c in changes if c.status in ("open", "confirmed")]
        else:
            findings = judge(run, history, thresholds=[], load=None, generator_bound=bound)
            changes = [] if bound else model.night(run, findings)
        night = Night(run_id=run.run_id, started_at=run.started_at, verdict=findings["verdict"],
                      reasons=findings["verdict_reasons"], open_changes=changes)
        events, state = night_events(state, night, rules, run.started_at)
        variant_kinds: dict[str, list[str]] = {}
        for name, (v_state, v_rules) in others.items():
            v_events, v_state = night_events(v_state, night, v_rules, run.started_at)
            others[name] = (v_state, v_rules)
            variant_kinds[name] = [e.kind for e in v_events if e.kind != "missed"]
        kinds = [e.kind for e in events if e.kind != "missed"]
        nights.append({"run_id": run.run_id, "verdict": findings["verdict"], "events": kinds,
                       "texts": [e.text for e in events if e.kind != "missed"], "variants": variant_kinds,
                       "clean": run.run_id not in TRUE_REGRESSIONS,
                       "confirm": confirm})
        still_open = any(c.status == "open" for c in changes)
        # an untriaged regression night never enters the baseline; an inconclusive one never does either
        history.append(replace(run, excluded=True) if still_open or bound else run)
    return {"judged": len(nights), "nights": nights}


def _confirm(i: int, run: RunPoint, history: list[RunPoint], findings: dict[str, Any],
             following: list[OpenChange], bound: bool, second: SecondLoads | None) -> dict[str, Any] | None:
    """The night judged again with its second load, as the chain does: only when its first judgement has a new
    regression (loadwatch.pipeline.confirm.to_confirm) and it is not inconclusive (the chain never re-measures one).
    None when no second load is wanted; `second_run_id` None when one is wanted but there is none."""
    series = [] if bound else to_confirm(findings["comparison"], following)
    if not series:
        return None
    drawn = second(i, run) if second is not None else None
    out: dict[str, Any] = {"series": [f"{s} {m}" for s, m in series], "second_run_id": None, "draw": None}
    if drawn is None:
        return out
    again, draw = drawn
    # the change points span nights, not loads: the first judgement's are reused (judge would find the same ones)
    rejudged = judge(run, history, thresholds=[], load=None, changes=following,
                     change_points=findings["change_points"], confirmation=again)
    rows = rejudged["confirmation_rows"]
    return {**out, "second_run_id": again.run_id, "draw": draw, "findings": rejudged,
            "reproduced": [f"{r['scenario']} {r['metric']}" for r in rows if r["reproduced"]],
            "not_reproduced": [f"{r['scenario']} {r['metric']}" for r in rows if not r["reproduced"]]}


def _rate(n_with: int, n: int) -> float | None:
    return 100.0 * n_with / n if n else None


def _ci95(n_with: int, n: int) -> list[float] | None:
    """Clopper-Pearson 95 % interval of the rate, per 100 nights."""
    if not n:
        return None
    low = float(beta.ppf(0.025, n_with, n - n_with + 1)) if n_with else 0.0
    high = float(beta.ppf(0.975, n_with + 1, n - n_with)) if n_with < n else 1.0
    return [round(100 * low, 3), round(100 * high, 3)]


def summarise(name: str, res: dict[str, Any], *, apart: tuple[str, ...] = ()) -> dict[str, Any]:
    nights = [n for n in res["nights"] if n["clean"]]
    counted = [n for n in nights if any(k not in apart for k in n["events"])]
    kinds: dict[str, int] = {}
    for n in nights:
        for k in n["events"]:
            kinds[k] = kinds.get(k, 0) + 1
    variants = {v: sum(any(k not in apart for k in n["variants"][v]) for n in nights) for v in VARIANTS}
    wanted = [n["confirm"] for n in nights if n.get("confirm")]
    judged = [c for c in wanted if c["second_run_id"] is not None]
    return {"source": name, "judged": len(nights), "nights_with_notification": len(counted),
            "per_100": _rate(len(counted), len(nights)), "ci95_per_100": _ci95(len(counted), len(nights)),
            "events_by_kind": kinds,
            "variants": {v: {"nights": c, "per_100": _rate(c, len(nights))} for v, c in variants.items()},
            "verdicts": {v: sum(n["verdict"] == v for n in nights) for v in sorted({n["verdict"] for n in nights})},
            "second_loads": {"nights_wanting_one": len(wanted), "nights_judged_with_one": len(judged),
                             "series": sum(len(c["series"]) for c in judged),
                             "reproduced": sum(len(c["reproduced"]) for c in judged),
                             "not_reproduced": sum(len(c["not_reproduced"]) for c in judged)},
            "confirmed_nights": [{"run_id": n["run_id"], "verdict": n["verdict"], **n["confirm"]}
                                 for n in nights if n.get("confirm")],
            "examples": [{"run_id": n["run_id"], "events": n["events"], "texts": n["texts"]} for n in counted[:10]]}


def _models(per_model: dict[str, dict[str, Any]], headline: str) -> dict[str, Any]:
    """One row of the raw file: the headline model's figures at the top (what benchmarks/summary.py reads), every
    model's under `models`."""
    return {**per_model[headline], "headline_model": headline, "models": per_model}


def _drawn(p: SuiteParams, svc: Service, si: int, transient: bool, *, effect: dict[str, Any] | None = None,
           step_at: int = 0) -> SecondLoads:
    """Second loads drawn for a synthetic service under one model (stats.synth.confirmation_night, key (si, t): the
    same per-scenario seeds in both models, so they differ only in the night's factors)."""

    def second(t: int, first: RunPoint) -> tuple[RunPoint, dict[str, Any]]:
        night = confirmation_night(p, svc, svc.nights[t], (si, t), transient=transient)
        metrics, hists = build_run(svc, night, effect if t >= step_at else None)
        draw = {"seed_sequence": [p.seed, CONFIRM_SALT, si, t], "seeds": night.seeds,
                "machine": [svc.nights[t].machine, night.machine],
                "scen_factor": {k: [svc.nights[t].scen_factor[k], v] for k, v in night.scen_factor.items()}}
        # the pipeline measures the probe once a night: the second load carries the first's
        return RunPoint(f"{first.run_id}-confirm", first.started_at, metrics, hists, probe=first.probe), draw

    return second


def synthetic(quick: bool) -> list[dict[str, Any]]:
    """The AFTER_RULE suites (drawn after the "seen again" rule) each, and together: the target's row, decided
    before NOTIFY3 was drawn (benchmarks/stats/synth.py); NOTIFY (drawn before it, read with the rule before) as
    context."""
    out = []
    after: dict[str, list[dict[str, Any]]] = {model: [] for model in SYNTH_MODELS}
    sizes: list[str] = []
    for suite in (*AFTER_RULE, NOTIFY):
        p = resized(suite, services=3, service_nights=14) if quick else suite
        name = f"synthetic {suite.name.upper()} ({p.services} services x {p.service_nights} nights)"
        services = service_suite(p)
        runs = [[_run_point(svc, t) for t in range(len(svc.nights))] for svc in services]
        per_model = {}
        for model, transient in SYNTH_MODELS.items():
            nights = [n for si, svc in enumerate(services)
                      for n in replay(runs[si], second=None if transient is None else _drawn(p, svc, si, transient))[
                          "nights"]]
            per_model[model] = summarise(name, {"nights": nights})
            if suite in AFTER_RULE:
                after[model] += nights
        if suite in AFTER_RULE:
            sizes.append(f"{suite.name.upper()} {p.services} x {p.service_nights}")
        out.append({**_models(per_model, HEADLINE), "target": False})
    name = f"synthetic {' + '.join(s.name.upper() for s in AFTER_RULE)} ({' + '.join(sizes)} nights)"
    pooled = {model: summarise(name, {"nights": nights}) for model, nights in after.items()}
    return [{**_models(pooled, HEADLINE), "target": True}, *out]


def steps(quick: bool) -> list[dict[str, Any]]:
    """What the wait costs a real regression: NOTIFY2's services with scenario 0 slowed x mult from night STEP_AT on
    (its second loads too, under "night persists"): the nights from the step on that fail, and the services told
    of it by the step's 2nd and 5th night, under the default rules and the rule before."""
    return step_table(resized(NOTIFY2, services=3, service_nights=24) if quick else NOTIFY2)


def step_table(p: SuiteParams) -> list[dict[str, Any]]:
    """Per step size: the services of `p` with scenario 0 slowed x mult from night STEP_AT on, replayed; the nights
    from the step on that fail, the night each service was first told (default rules and the rule before), and the
    "recovered" messages sent while the step lasts (false recoveries, default rules)."""
    services = service_suite(p)
    out = []
    for mult in STEP_MULTS:
        failing = nights_after = recovered = 0
        told: dict[str, list[int | None]] = {"default": [], BEFORE: []}
        for si, svc in enumerate(services):
            effect = {"kind": "step", "scenarios": [svc.scenarios[0].name], "mult": mult}
            runs = [_run_point(svc, t, effect if t >= STEP_AT else None) for t in range(len(svc.nights))]
            res = replay(runs, second=_drawn(p, svc, si, False, effect=effect, step_at=STEP_AT))
            after = [n for n in res["nights"] if int(n["run_id"][-3:]) >= STEP_AT]
            nights_after += len(after)
            failing += sum(n["verdict"] == "regression" for n in after)
            recovered += sum(n["events"].count("recovered") for n in after)
            for rule in told:
                kinds = [n["events"] if rule == "default" else n["variants"][rule] for n in after]
                first = next((i + 1 for i, k in enumerate(kinds) if "opened" in k), None)
                told[rule].append(first)
        n = len(services)
        out.append({"mult": mult, "services": n, "nights_after": nights_after, "failing": failing,
                    "recovered_messages": recovered,
                    "told": {rule: {"by_2nd": sum(1 for f in fs if f is not None and f <= 2),
                                    "by_5th": sum(1 for f in fs if f is not None and f <= 5),
                                    "ever": sum(1 for f in fs if f is not None), "first_night": fs}
                             for rule, fs in told.items()}})
    return out


def _run_point(svc: Service, t: int, effect: dict[str, Any] | None = None) -> RunPoint:
    metrics, hists = build_run(svc, svc.nights[t], effect)
    return RunPoint(f"{svc.name}-n{t:03d}", datetime(2027, 1, 1, 2, tzinfo=UTC).replace(day=1 + t % 28,
                    month=1 + t // 28), metrics, hists, probe=dict(svc.nights[t].probe))


def _stored(nights: list[dict[str, Any]]) -> SecondLoads:
    """The second loads a recorded night holds (record_nights.py exports the stored summary's `confirmation`): its
    metric vector, judged as the pipeline judged it; its histograms are not stored, so the tail checks that read
    tonight's histogram see the metrics only. A night without one, or whose second load could not judge (`reason`),
    stays on its first load, as the pipeline left it."""

    def second(i: int, first: RunPoint) -> tuple[RunPoint, dict[str, Any]] | None:
        c = nights[i].get("confirmation") or {}
        if c.get("reason") is not None or not c.get("metrics"):
            return None
        return (RunPoint(f"{first.run_id}-confirm", first.started_at, c["metrics"], {}, probe=first.probe),
                {"stored_outcome": c.get("outcome")})

    return second


def real(quick: bool) -> list[dict[str, Any]]:
    files = sorted(REAL.glob("*.json"))
    exports = [json.loads(path.read_text()) for path in files]
    names = ", ".join(p.stem for p in files)
    # recorded with the confirmation load in the chain (their nights carry `confirmation`), so after the busy-machine
    # and generator-bound rules of issue 22 item 9 (2026-12-07 08:39): their stored flags are the pipeline's own
    current = [i for i, e in enumerate(exports) if any("confirmation" in n for n in e["nights"])]
    now_names = ", ".join(files[i].stem for i in current)
    passes = {
        f"real demo nights, as measured ({names})": ((), False, range(len(exports))),
        f"real demo nights, stored generator-bound flags honoured ({names}); inconclusive notices counted apart":
            (("inconclusive",), True, range(len(exports))),
        f"real demo nights recorded with the current chain ({now_names}), as the pipeline judged them":
            ((), True, current),
    }
    out: list[dict[str, Any]] = []
    for name, (apart, honour, which) in passes.items():
        per_model = {}
        for model, use_stored in REAL_MODELS.items():
            nights: list[dict[str, Any]] = []
            for export in (exports[i] for i in which):
                recorded = export["nights"][: FIRST_JUDGED + 3] if quick else export["nights"]
                flags = [bool(n.get("generator_bound")) for n in recorded] if honour else None
                res = replay([point(n) for n in recorded], inconclusive=flags,
                             second=_stored(recorded) if use_stored else None)
                nights += res["nights"]
            per_model[model] = summarise(name, {"nights": nights}, apart=apart)
        out.append({**_models(per_model, REAL_HEADLINE), "target": "current chain" in name})
    return out


def _per(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _interval(r: dict[str, Any]) -> str:
    ci = r.get("ci95_per_100")
    return "" if ci is None else f" (95 % {ci[0]:.2f}-{ci[1]:.2f})"


def _loads(r: dict[str, Any]) -> str:
    sl = r["second_loads"]
    if not sl["nights_wanting_one"]:
        return "none wanted"
    return (f"{sl['nights_wanting_one']} wanted, {sl['nights_judged_with_one']} judged with one; series "
            f"{sl['reproduced']} reproduced, {sl['not_reproduced']} not")


def render(rows: list[dict[str, Any]], meta: dict[str, Any]) -> list[str]:
    lines = ["# False notifications on clean nights", "",
             f"- Command: `{meta['command']}`; {meta['date']}; {meta['seconds']:.0f} s.",
             "- Target (issue 22): any event but \"missed night\" <= 1 per 100 clean nights, whole nights counted.",
             "- Method: benchmarks/notify_false.py's docstring (the comparison of the pipeline, then "
             "loadwatch.notify.events with the plan's default rules; open changes "
             + ("from the comparison's own lifecycle" if LIFECYCLE else "modelled from the findings") + ").",
             "- Confirmation load (docs/METHOD.md §3.7): a night whose first judgement would open a new change is "
             "judged again with a second load. Synthetic nights: the second load is drawn under two models, "
             "**(a) night persists** (the headline: the night's machine and scenario factors kept, only the "
             "requests redrawn) and **(b) transient** (the factors redrawn as an independent clean night's); "
             f"seeds SeedSequence([suite seed, {CONFIRM_SALT:#x}, service, night, scenario]), listed per night "
             "in the raw file. Real demo nights: judged with the second load their record holds; "
             + (f"{meta['real_with_confirmation']} nights were recorded with the confirmation load in the chain "
                f"({', '.join(meta['real_files_with_confirmation']) or 'none'}) and the pipeline wanted a second load "
                "on none of them; the nights recorded before it hold none, so those rows are **first load only**."
                if not meta["real_second_loads"] else
                f"{meta['real_second_loads']} nights hold one; a night that wants one and holds none stays on its "
                "first load."), "",
             "Nights with a notification per 100 clean nights, before (no second load) and after:", "",
             "| source | no confirmation (before) | (a) night persists | (b) transient |", "|---|---|---|---|"]
    for r in rows:
        m = r["models"]
        if "night persists" in m:
            cells = [_per(m[k]["per_100"]) for k in SYNTH_MODELS]
        else:
            rec = m[REAL_HEADLINE]
            after = (f"first load only: {_per(rec['per_100'])}" if not rec["second_loads"]["nights_judged_with_one"]
                     else f"recorded second loads: {_per(rec['per_100'])}")
            cells = [_per(m["no confirmation"]["per_100"]), after, after]
        lines.append(f"| {r['source'].split(' (')[0]} | " + " | ".join(cells) + " |")
    lines += ["", "| source | second load | clean nights judged | nights with a notification | per 100 | events | "
              "verdicts | nights wanting a second load |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for model, x in r["models"].items():
            ev = ", ".join(f"{k} {v}" for k, v in sorted(x["events_by_kind"].items())) or "none"
            vd = ", ".join(f"{k} {v}" for k, v in x["verdicts"].items())
            lines.append(f"| {x['source']} | {model} | {x['judged']} | {x['nights_with_notification']} | "
                         f"{_per(x['per_100'])}{_interval(x)} | {ev} | {vd} | {_loads(x)} |")
    lines += ["", "The same nights under other rules (nights with a notification, per 100; headline second-load "
              "model):", "", "| source | " + " | ".join(VARIANTS) + " |", "|---|" + "---|" * len(VARIANTS)]
    for r in rows:
        cells = [f"{v['nights']}, {_per(v['per_100'])}" for v in r["variants"].values()]
        lines.append(f"| {r['source'].split(' (')[0]} ({r['headline_model']}) | " + " | ".join(cells) + " |")
    lines.append("")
    for r in rows:
        for model, x in r["models"].items():
            for ex in x["examples"]:
                lines.append(f"- {x['source'].split(' (')[0]}, {model}: {ex['run_id']}: " + "; ".join(ex["texts"]))
    return lines


def render_steps(step_rows: list[dict[str, Any]]) -> list[str]:
    lines = ["", f"What the wait costs a real regression (NOTIFY2's services, scenario 0 x mult from night {STEP_AT} "
             "on, second loads under \"night persists\"; services told by the step's 2nd / 5th night, and ever):", "",
             "| step | nights failing from the step on | told: default rules | told: the rule before |",
             "|---|---|---|---|"]
    for r in step_rows:
        cells = [f"{t['by_2nd']} / {t['by_5th']} / {t['ever']} of {r['services']}" for t in r["told"].values()]
        lines.append(f"| x{r['mult']:g} | {r['failing']} of {r['nights_after']} "
                     f"({100 * r['failing'] / max(r['nights_after'], 1):.1f} %) | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a smoke test: few services and nights; writes nothing")
    ap.add_argument("--out", default="notify_false", help="results file stem under benchmarks/results/")
    ns = ap.parse_args()
    t0 = time.perf_counter()
    rows = [*synthetic(ns.quick), *real(ns.quick)]
    step_rows = steps(ns.quick)
    stored = sum(r["models"][REAL_HEADLINE]["second_loads"]["nights_judged_with_one"]
                 for r in rows if REAL_HEADLINE in r["models"])
    # a night recorded with the confirmation load in the chain exports `confirmation` (None when none was wanted)
    with_confirmation = {p.stem: sum("confirmation" in n for n in json.loads(p.read_text())["nights"])
                         for p in sorted(REAL.glob("*.json"))}
    meta = {"command": "python " + " ".join(sys.argv), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "seconds": time.perf_counter() - t0, "open_changes": "lifecycle" if LIFECYCLE else "modelled",
            "headline_model": HEADLINE, "real_second_loads": stored,
            "real_with_confirmation": sum(with_confirmation.values()),
            "real_files_with_confirmation": [k for k, v in with_confirmation.items() if v],
            "second_load_seeds": {"suite_seed": {"notify2": NOTIFY2.seed, "notify3": NOTIFY3.seed,
                                                 "notify": NOTIFY.seed}, "salt": CONFIRM_SALT,
                                  "scenario": "SeedSequence([suite_seed, salt, service, night, scenario])",
                                  "factors": "SeedSequence([suite_seed, salt, service, night])"}}
    text = "\n".join([*render(rows, meta), *render_steps(step_rows)]) + "\n"
    print(text)
    if not ns.quick:
        (RESULTS / f"{ns.out}.json").write_text(json.dumps({"meta": meta, "rows": rows, "steps": step_rows},
                                                           indent=2))
        (RESULTS / f"{ns.out}.md").write_text(text)

if __name__ == "__main__":
    main()
