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

from loadwatch.stats import GateConfig, RunPoint, compare_run

RESULTS = Path(__file__).resolve().parent / "results"
METRICS = ("p50_ms", "p95_ms", "p99_ms", "rps", "error_rate", "cpu_percent", "rss_mb")
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
