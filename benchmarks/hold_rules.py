"""How an open change should be held (docs/METHOD.md §11 "Why any bad check holds"), measured on a tuning draw.

    .venv/bin/python benchmarks/hold_rules.py [--variants any,z_hold,floor_only,nearer] [--quick]
    # two halves side by side on two cores, then joined:
    .venv/bin/python benchmarks/hold_rules.py --variants any,z_hold --out hold_rules_a &
    .venv/bin/python benchmarks/hold_rules.py --variants floor_only,nearer --out hold_rules_b
    .venv/bin/python benchmarks/hold_rules.py --merge hold_rules_a hold_rules_b

A draw of its own (FRESH's parameters, seed 55_117_204, 15 services x 40 nights, no spikes or drifts; never a judge
set: the notification rules are judged on NOTIFY2 by notify_false.py) goes through notify_false.replay (the
pipeline's comparison, open-change lifecycle and notification rules, second loads under "night persists") once
clean and once with scenario 0 slowed x1.2, x1.5, x2 from night 20 on (its second loads too). Per variant of the
hold rule: clean nights notified and failed, and per step the nights from the step on that fail, the services told
by the step's 2nd / 5th night, and the "recovered" messages sent while the step lasts (false recoveries).

Variants (a judged `suspect` night that the variant calls back recovers the change; everything else as shipped):
- any: the shipped rule, any bad check holds;
- z_hold: back unless past the floor with z >= the one-sided 2.5 % bar (Student t, Qn's degrees of freedom: 2.1 at
  20 nights);
- floor_only: back when the floor is its only bad check (its interval spans no change, z short);
- nearer: floor_only, and only when tonight's value is nearer the baseline than the change's level (log scale).
Raw output: benchmarks/results/hold_rules.json and .md."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import notify_false as nf
from scipy.special import stdtrit
from stats.synth import FRESH, resized, service_suite

import loadwatch.pipeline.open_changes as oc
from loadwatch.changes import OpenChange
from loadwatch.stats.gate import QN_EFFICIENCY
from loadwatch.stats.model import GateConfig

RESULTS = Path(__file__).resolve().parent / "results"
DRAW = resized(FRESH, name="holdtune", seed=55_117_204, services=15, service_nights=40, spike_prob=0.0,
               drift_service_share=0.0)
SHIPPED_FOLLOW = oc._follow


def _floor_only(row: dict[str, Any]) -> bool:
    checks = row.get("checks") or {}
    return bool(checks.get("floor")) and checks.get("ci") is False and not checks.get("z")


def _z_short(row: dict[str, Any]) -> bool:
    n = int(row.get("n_baseline") or 0)
    cfg = GateConfig()
    bar = float(stdtrit(max(QN_EFFICIENCY * (min(n, cfg.window) - 1), 1.0), 0.975))
    z = row.get("robust_z")
    checks = row.get("checks") or {}
    return z is not None and not (checks.get("floor") and int(row.get("direction", 1)) * float(z) >= bar)


def _nearer_baseline(c: OpenChange, row: dict[str, Any]) -> bool:
    value, base, level = row.get("value"), row.get("baseline"), c.level
    if value is None or base is None or level is None or min(float(value), float(base), level) <= 0:
        return False
    return abs(math.log(float(value) / float(base))) < abs(math.log(float(value) / level))


BACK_IF = {
    "any": lambda c, row: False,
    "z_hold": lambda c, row: _z_short(row),
    "floor_only": lambda c, row: _floor_only(row),
    "nearer": lambda c, row: _floor_only(row) and _nearer_baseline(c, row),
}


def use(variant: str) -> None:
    back = BACK_IF[variant]

    def follow(c: OpenChange, row: Any, policy: Any) -> OpenChange:
        if row is not None and row.get("outcome") == "suspect" and back(c, row):
            return c.model_copy(update={"nights_open": c.nights_open + 1, "held": False, "failing": False,
                                        "status": "recovered", "seen_tonight": False})
        return SHIPPED_FOLLOW(c, row, policy)

    oc._follow = follow


def measure(p: Any) -> dict[str, Any]:
    services = service_suite(p)
    clean = [n for si, svc in enumerate(services)
             for n in nf.replay([nf._run_point(svc, t) for t in range(len(svc.nights))],
                                second=nf._drawn(p, svc, si, False))["nights"]]
    steps = [{"mult": r["mult"], "services": r["services"], "nights": r["nights_after"], "failing": r["failing"],
              "told_by_2nd": r["told"]["default"]["by_2nd"], "told_by_5th": r["told"]["default"]["by_5th"],
              "recovered_messages": r["recovered_messages"]} for r in nf.step_table(p)]
    return {"clean": {"nights": len(clean), "notified": sum(bool(n["events"]) for n in clean),
                      "notified_rule_before": sum(bool(n["variants"][nf.BEFORE]) for n in clean),
                      "failed": sum(n["verdict"] == "regression" for n in clean)}, "steps": steps}


def render(res: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = ["# Holding an open change: variants on a tuning draw", "",
             f"- Command: `{meta['command']}`; {meta['date']}; {meta['seconds']:.0f} s.",
             "- Method: benchmarks/hold_rules.py's docstring (FRESH's parameters, seed 55,117,204, 15 services x 40 "
             "nights; steps on scenario 0 from night 20).", "",
             "| variant | clean nights notified (told once open 2 nights, the rule before) | clean nights failed | "
             + " | ".join(
                 f"x{m:g}: nights failing / told by 2nd, 5th / 'recovered' during it" for m in nf.STEP_MULTS) + " |",
             "|---|---|---|" + "---|" * len(nf.STEP_MULTS)]
    for v, r in res.items():
        c = r["clean"]
        cells = [f"{s['failing']} of {s['nights']} ({100 * s['failing'] / s['nights']:.1f} %) / {s['told_by_2nd']}, "
                 f"{s['told_by_5th']} of {s['services']} / {s['recovered_messages']}" for s in r["steps"]]
        lines.append(f"| {v} | {c['notified']} of {c['nights']} ({c['notified_rule_before']}) | {c['failed']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default=",".join(BACK_IF))
    ap.add_argument("--quick", action="store_true", help="3 services x 24 nights; writes nothing")
    ap.add_argument("--out", default="hold_rules")
    ap.add_argument("--merge", nargs="+", metavar="STEM",
                    help="join earlier runs' raw files (results/STEM.json, e.g. two halves run side by side) into "
                         "--out; runs nothing")
    ns = ap.parse_args()
    if ns.merge:
        parts = [json.loads((RESULTS / f"{stem}.json").read_text()) for stem in ns.merge]
        res = {v: r for part in parts for v, r in part["variants"].items()}
        meta = {"command": " + ".join(part["meta"]["command"] for part in parts),
                "date": max(part["meta"]["date"] for part in parts),
                "seconds": max(part["meta"]["seconds"] for part in parts)}
        (RESULTS / f"{ns.out}.json").write_text(json.dumps({"meta": meta, "variants": res}, indent=2))
        (RESULTS / f"{ns.out}.md").write_text(render(res, meta))
        for stem in ns.merge:
            for ext in ("json", "md"):
                (RESULTS / f"{stem}.{ext}").unlink(missing_ok=True)
        return
    p = resized(DRAW, services=3, service_nights=24) if ns.quick else DRAW
    t0 = time.perf_counter()
    res = {}
    for v in ns.variants.split(","):
        use(v)
        res[v] = measure(p)
        print(v, json.dumps(res[v]), flush=True)
    oc._follow = SHIPPED_FOLLOW
    meta = {"command": "python " + " ".join(sys.argv), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "seconds": time.perf_counter() - t0}
    text = render(res, meta)
    print(text)
    if not ns.quick:
        (RESULTS / f"{ns.out}.json").write_text(json.dumps({"meta": meta, "variants": res}, indent=2))
        (RESULTS / f"{ns.out}.md").write_text(text)


if __name__ == "__main__":
    main()
