"""Replay recorded real nights through the current gate: false regressions per 100 clean nights.

    .venv/bin/python benchmarks/replay_nights.py [benchmarks/results/real_nights/<name>.json ...] [--out FILE.md]

Each exported night (benchmarks/record_nights.py) is judged with compare_run against all nights before it,
oldest first, as the pipeline passes its comparable history; the first `min_history` nights are skipped (the
gate cannot judge them). Every recorded night is clean (nothing changed between them but the machine's load),
so any `regression` row is a false one. Counted per night across all scenarios and metrics (a night with any
regression row counts once) and per metric. The machine-drift probe is passed to RunPoint when both the export
and RunPoint have one. A second pass excludes the nights the pipeline marked generator-bound (issue 13 item 4)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from loadwatch.stats.gate import compare_run
from loadwatch.stats.model import (
    METRICS,  # whatever metrics the gate of this checkout judges (p99.9 included)
    GateConfig,
    RunPoint,
)

RESULTS = Path(__file__).resolve().parent / "results"
HAS_PROBE = "probe" in RunPoint.__dataclass_fields__


def point(n: dict[str, Any]) -> RunPoint:
    kw: dict[str, Any] = {}
    if HAS_PROBE and n.get("probe"):
        kw["probe"] = n["probe"]
    return RunPoint(n["run_id"], datetime.fromisoformat(n["started_at"]), n["metrics"], n.get("histograms") or {},
                    bool(n.get("excluded")), **kw)


def replay(export: dict[str, Any], cfg: GateConfig, skip_generator_bound: bool = False) -> dict[str, Any]:
    """skip_generator_bound: what issue 13 item 4 asks for (such runs are inconclusive, never judged as a
    regression and never a baseline): they are passed as excluded history and not judged."""
    runs = [point(n) for n in export["nights"]]
    if skip_generator_bound:
        runs = [replace(r, excluded=True) if n.get("generator_bound") else r
                for r, n in zip(runs, export["nights"], strict=True)]
    judged: list[dict[str, Any]] = []
    for i, run in enumerate(runs):
        if run.excluded:
            continue
        history = runs[:i]
        if len([r for r in history if not r.excluded]) < cfg.min_history:
            continue
        rows = compare_run(run, history, cfg)
        outcomes: dict[str, int] = defaultdict(int)
        for r in rows:
            outcomes[f"{r['metric']}:{r['outcome']}"] += 1
        judged.append({
            "run_id": run.run_id,
            "generator_bound": bool(export["nights"][i].get("generator_bound")),
            "stored_verdict": export["nights"][i].get("verdict"),
            "regressions": [f"{r['scenario']} {r['metric']} {r['change_percent']:+.1f}% (ci {r.get('ci')})"
                            for r in rows if r["outcome"] == "regression"],
            "regression_metrics": sorted({r["metric"] for r in rows if r["outcome"] == "regression"}),
            "outcomes": dict(outcomes),
        })
    n = len(judged)
    per_metric = {m: 100 * sum(m in j["regression_metrics"] for j in judged) / n if n else 0.0 for m in METRICS}
    share: dict[str, dict[str, float]] = {}
    for m in METRICS:
        tot: dict[str, int] = defaultdict(int)
        for j in judged:
            for key, v in j["outcomes"].items():
                met, out = key.split(":")
                if met == m:
                    tot[out] += v
        if sum(tot.values()):
            share[m] = {o: v / sum(tot.values()) for o, v in sorted(tot.items())}
    return {
        "nights": len(runs),
        "judged": n,
        "with_probe": sum(bool(x.get("probe")) for x in export["nights"]),
        "generator_bound": sum(j["generator_bound"] for j in judged),
        "false_nights": sum(bool(j["regressions"]) for j in judged),
        "false_per_100": 100 * sum(bool(j["regressions"]) for j in judged) / n if n else None,
        "false_per_100_by_metric": per_metric,
        "outcome_share": share,
        "judged_nights": judged,
    }


def _robust_cv(values: list[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    med = float(np.median(arr))
    return 1.4826 * float(np.median(np.abs(arr - med))) / med if med > 0 else float("nan")


def series_stats(export: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per scenario: median requests, median p95, and the robust (MAD) CV of p95 and p99 over all nights."""
    out: dict[str, dict[str, float]] = {}
    scenarios = sorted({sc for n in export["nights"] for sc in n["metrics"]})
    for sc in scenarios:
        rows = [n["metrics"][sc] for n in export["nights"] if sc in n["metrics"] and "p95_ms" in n["metrics"][sc]]
        if not rows:
            continue
        out[sc] = {
            "requests": float(np.median([r.get("requests", 0.0) for r in rows])),
            "p95": float(np.median([r["p95_ms"] for r in rows])),
            "cv_p95": _robust_cv([r["p95_ms"] for r in rows]),
            "cv_p99": _robust_cv([r["p99_ms"] for r in rows]),
        }
    return out


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f}"


def render(name: str, export: dict[str, Any], res: dict[str, Any], alt: dict[str, Any]) -> list[str]:
    lines = [
        f"## {name}",
        "",
        f"- Recorded: {export.get('recorded_at')} with `{export.get('command')}` "
        f"(loadwatch {export.get('loadwatch_git')}); {res['nights']} nights, {res['with_probe']} with a probe; "
        "the 2-core machine was shared with other engineers' work during the recording (builds, tests, "
        "benchmarks): that is the realistic noise these nights carry.",
        f"- Judged: {res['judged']} nights (each against all before it; the first {res['nights'] - res['judged']} "
        f"are history only); generator-bound among them: {res['generator_bound']}.",
        f"- **False regressions: {res['false_nights']} of {res['judged']} clean nights = "
        f"{_num(res['false_per_100'])} per 100 clean nights** (any row of any scenario or metric; target ≤1).",
        f"- With generator-bound nights excluded (issue 13 item 4: never judged, never a baseline): "
        f"{alt['judged']} nights judged, {alt['false_nights']} with a regression row = "
        f"{_num(alt['false_per_100'])} per 100.",
        "",
        "| metric | false regressions / 100 nights | outcome shares over rows |",
        "|---|---|---|",
    ]
    for m in METRICS:
        sh = res["outcome_share"].get(m)
        if sh is None:
            continue
        lines.append(f"| {m} | {res['false_per_100_by_metric'][m]:.1f} | "
                     + ", ".join(f"{o} {v * 100:.0f} %" for o, v in sh.items()) + " |")
    lines += ["", "What the nights look like (why the gate says what it says):", "",
              "| scenario | requests / night (median) | p95 ms (median) | p95 robust CV | p99 robust CV |",
              "|---|---|---|---|---|"]
    for sc, st in series_stats(export).items():
        lines.append(f"| {sc} | {st['requests']:.0f} | {st['p95']:.1f} | {st['cv_p95'] * 100:.0f} % | "
                     f"{st['cv_p99'] * 100:.0f} % |")
    verdicts: dict[str, int] = defaultdict(int)
    for n in export["nights"]:
        verdicts[str(n.get("verdict"))] += 1
    exits: dict[int, int] = defaultdict(int)
    for n in export.get("night_log", []):
        exits[int(n["exit_code"])] += 1
    lines += ["", "Verdicts the pipeline stored: " + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items()))
              + "; exit codes: " + ", ".join(f"{k}: {v}" for k, v in sorted(exits.items()))
              + f"; generator-bound nights: {sum(bool(n.get('generator_bound')) for n in export['nights'])} "
              f"of {len(export['nights'])}."]
    flagged = [j for j in res["judged_nights"] if j["regressions"]]
    if flagged:
        lines += ["", "Nights with a regression row:", ""]
        for j in flagged:
            gb = " (generator-bound)" if j["generator_bound"] else ""
            lines.append(f"- {j['run_id']}{gb}: " + "; ".join(j["regressions"][:6]))
    return [*lines, ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*")
    ap.add_argument("--out", default=str(RESULTS / "real_nights.md"))
    ap.add_argument("--no-write", action="store_true")
    ns = ap.parse_args()
    files = [Path(f) for f in ns.files] or sorted((RESULTS / "real_nights").glob("*.json"))
    if not files:
        sys.exit("no exported nights: run benchmarks/record_nights.py first")
    cfg = GateConfig()
    lines = [
        "# Real clean nights of the demo target, replayed through the current gate",
        "",
        f"- Command: `python {' '.join(sys.argv)}`; date {datetime.now(UTC):%Y-%m-%d %H:%M UTC}; "
        f"probe passed to RunPoint: {'yes' if HAS_PROBE else 'no (RunPoint has no probe field yet)'}.",
        "- Recorder: `benchmarks/record_nights.py` (real `loadwatch run` nights in a dedicated LOADWATCH_HOME); "
        "raw exports beside this file in real_nights/.",
        "",
    ]
    raw: dict[str, Any] = {}
    for f in files:
        export = json.loads(f.read_text())
        res = replay(export, cfg)
        alt = replay(export, cfg, skip_generator_bound=True)
        raw[f.stem] = {"all_nights": res, "generator_bound_excluded": alt}
        lines += render(f.stem, export, res, alt)
    text = "\n".join(lines)
    print(text)
    if not ns.no_write:
        Path(ns.out).write_text(text + "\n")
        Path(ns.out).with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str))


if __name__ == "__main__":
    main()
