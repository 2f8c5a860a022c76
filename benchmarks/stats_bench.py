# ruff: noqa: E501
"""Statistics benchmark: loadwatch's change-point detector against Apache Otava, and the same-night gate.

    /work/venv/bin/python benchmarks/stats_bench.py [--otava-python /work/otava-venv/bin/python] [--quick]

Change points: synthetic nightly series (benchmarks/stats/synth.py) plus the real TigerBeetle series; recall
within +-2 nights, false change points per 100 nights, F1; Otava runs in its own venv through a subprocess.
The old suite's output is unchanged; a last section adds the tuning and held-out suites (issue 13 item 8, also
reported by benchmarks/gate_bench.py next to the gate).
Gate: a long clean p95 history built from real HdrHistograms; every night is judged against the 20 before it,
as is and with its latencies scaled by 1.10 and 1.20 (the first night of a step)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stats.synth import HELDOUT, TUNING, Case, SuiteParams, series_suite, suite

from loadwatch.hist import encode, new_hist, record_many, stats_ms
from loadwatch.stats.edivisive import detect_change_points
from loadwatch.stats.gate import compare_run
from loadwatch.stats.model import GateConfig, RunPoint

TOL = 2
DATA = Path(__file__).resolve().parents[1] / "tests" / "stats" / "golden" / "tigerbeetle_nightly.csv"


def match(found: list[int], truth: list[int]) -> tuple[int, int]:
    """(true positives, false positives): each true change matches at most one detection within +-TOL."""
    left = sorted(truth)
    tp = 0
    for f in sorted(found):
        hit = next((t for t in left if abs(t - f) <= TOL), None)
        if hit is not None:
            left.remove(hit)
            tp += 1
    return tp, len(found) - tp


def otava(series: list[list[float]], python: str, window: int, p: float, mag: float) -> list[list[int]]:
    req = json.dumps({"window": window, "max_pvalue": p, "min_magnitude": mag, "series": series})
    runner = Path(__file__).resolve().parent / "stats" / "otava_runner.py"
    out = subprocess.run([python, str(runner)], input=req, capture_output=True, text=True, check=True, timeout=1800)
    return [list(map(int, x)) for x in json.loads(out.stdout)]


def score(cases: list[Case], found: list[list[int]]) -> dict[str, Any]:
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # tp, fp, truth, nights
    for c, f in zip(cases, found, strict=True):
        tp, fp = match(f, c.changes)
        for key in (c.kind, "all"):
            row = by_kind[key]
            row[0] += tp
            row[1] += fp
            row[2] += len(c.changes)
            row[3] += len(c.values)
    out: dict[str, Any] = {}
    for kind, (tp, fp, truth, nights) in by_kind.items():
        recall = tp / truth if truth else None
        precision = tp / (tp + fp) if tp + fp else None
        f1 = 2 * recall * precision / (recall + precision) if recall and precision else None
        out[kind] = {"recall": recall, "precision": precision, "f1": f1, "false_per_100": 100 * fp / nights, "fp": fp}
    return out


def _step_recall(cases: list[Case], found: list[list[int]], key_of: Callable[[Case], str]) -> dict[str, float]:
    """Recall of the single-step cases, grouped by `key_of(case)`."""
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for c, f in zip(cases, found, strict=True):
        if c.kind != "step":
            continue
        tp, _ = match(f, c.changes)
        key = key_of(c)
        acc[key][0] += tp
        acc[key][1] += 1
    return {k: v[0] / v[1] for k, v in acc.items()}


def recall_by_step(cases: list[Case], found: list[list[int]]) -> dict[str, float]:
    return _step_recall(cases, found, lambda c: f"{abs(c.step) * 100:.0f}% step, CV {c.cv * 100:.0f}%")


def cpd_bench(otava_python: str | None, quick: bool) -> dict[str, Any]:
    cases = suite(reps=2 if quick else 6)
    series = [c.values for c in cases]
    tb = [float(line.split(",")[1]) for line in DATA.read_text().splitlines()[1:]]
    results: dict[str, Any] = {"cases": len(cases), "nights": sum(len(s) for s in series), "configs": {}}
    for mag in (0.0, 0.05):
        t0 = time.perf_counter()
        mine = [
            [c.index for c in detect_change_points(s, window=30, max_pvalue=0.001, min_magnitude=mag)] for s in series
        ]
        t_mine = time.perf_counter() - t0
        entry: dict[str, Any] = {
            "loadwatch": score(cases, mine),
            "loadwatch_seconds": t_mine,
            "loadwatch_recall_by_step": recall_by_step(cases, mine),
            "tigerbeetle_loadwatch": [
                c.index for c in detect_change_points(tb, window=30, max_pvalue=0.001, min_magnitude=mag)
            ],
        }
        if otava_python:
            t0 = time.perf_counter()
            theirs = otava(series, otava_python, 30, 0.001, mag)
            entry["otava_seconds"] = time.perf_counter() - t0
            entry["otava"] = score(cases, theirs)
            entry["otava_recall_by_step"] = recall_by_step(cases, theirs)
            entry["tigerbeetle_otava"] = otava([tb], otava_python, 30, 0.001, mag)[0]
        results["configs"][f"window 30, p 0.001, min magnitude {mag}"] = entry
    golden = {"loadwatch": [c.index for c in detect_change_points(tb, window=30, max_pvalue=0.01, min_magnitude=0.05)]}
    if otava_python:
        golden["otava"] = otava([tb], otava_python, 30, 0.01, 0.05)[0]
    results["tigerbeetle_w30_p0.01_m0.05"] = golden
    return results


def _band(cv: float) -> str:
    return "CV ≤5 %" if cv <= 0.05 else "CV 5–10 %" if cv <= 0.10 else "CV 10–20 %"


def recall_by_size_band(cases: list[Case], found: list[list[int]]) -> dict[str, float]:
    """Recall of single steps by |step| and noise band (held-out CVs are continuous, so banded)."""
    acc = _step_recall(cases, found, lambda c: f"+{abs(c.step) * 100:.0f}% step, {_band(c.cv)}")
    return dict(sorted(acc.items(), key=lambda kv: (float(kv[0][1:].split("%")[0]), kv[0])))


def suite_cpd(suites: list[SuiteParams], otava_python: str | None) -> dict[str, Any]:
    """Change points on the tuning and held-out single series (benchmarks/stats/synth.py). Drift series have no
    single true night: they are scored apart (detections per 100 nights) and left out of the headline F1."""
    out: dict[str, Any] = {}
    for p in suites:
        cases = series_suite(p)
        scored = [c for c in cases if c.kind != "drift"]
        drift = [c for c in cases if c.kind == "drift"]
        res: dict[str, Any] = {"cases": len(scored), "drift_cases": len(drift),
                               "nights": sum(len(c.values) for c in scored), "configs": {}}
        for mag in (0.0, 0.05):
            entry: dict[str, Any] = {}
            t0 = time.perf_counter()
            mine = [[c.index for c in detect_change_points(x.values, window=30, max_pvalue=0.001, min_magnitude=mag)]
                    for x in cases]
            entry["loadwatch_seconds"] = time.perf_counter() - t0
            dets = {"loadwatch": mine}
            if otava_python:
                t0 = time.perf_counter()
                dets["otava"] = otava([c.values for c in cases], otava_python, 30, 0.001, mag)
                entry["otava_seconds"] = time.perf_counter() - t0
            for det, found in dets.items():
                f_scored = [f for c, f in zip(cases, found, strict=True) if c.kind != "drift"]
                f_drift = [f for c, f in zip(cases, found, strict=True) if c.kind == "drift"]
                entry[det] = score(scored, f_scored)
                entry[f"{det}_heavy"] = score([c for c in scored if c.heavy],
                                              [f for c, f in zip(scored, f_scored, strict=True) if c.heavy])
                entry[f"{det}_recall_by_step"] = recall_by_size_band(scored, f_scored)
                # a 10 % step under 15 % noise is invisible to any detector at p 0.001 with 30-night windows, so
                # the held-out F1 has a ceiling below 1: this subset (series without changes, and changes of at
                # least 3x the series' CV) shows how a detector does on what can be seen
                seen = [i for i, c in enumerate(scored) if not c.changes or abs(c.step) >= 3 * c.cv]
                entry[f"{det}_detectable"] = score([scored[i] for i in seen], [f_scored[i] for i in seen])
                entry[f"{det}_drift_detections_per_100"] = (
                    100 * sum(len(f) for f in f_drift) / sum(len(c.values) for c in drift) if drift else None)
            res["configs"][f"window 30, p 0.001, min magnitude {mag}"] = entry
        out[p.name] = res
    return out


def render_suite_cpd(res: dict[str, Any]) -> list[str]:
    names = list(res)
    lines = ["## Change points: tuning vs held-out single series (loadwatch vs Apache Otava)", "",
             "Recall within ±2 nights; F1 over step, two_steps, step_spikes, noise, spikes and bimodal series; drift series "
             "(no single true night) reported apart as detections per 100 nights. Target: F1 ≥0.95 on held-out, above Otava.", ""]
    for n in names:
        lines.append(f"- {n}: {res[n]['cases']} scored series ({res[n]['nights']} nights) + {res[n]['drift_cases']} drift series")
    configs = list(res[names[0]]["configs"])
    for cfg in configs:
        lines += ["", f"### {cfg}", "", "| suite | detector | recall | precision | F1 | false / 100 nights | F1 heavy-tailed | drift detections / 100 nights |",
                  "|---|---|---|---|---|---|---|---|"]
        for n in names:
            e = res[n]["configs"][cfg]
            for det in ("loadwatch", "otava"):
                if det not in e:
                    continue
                a, h = e[det]["all"], e[f"{det}_heavy"].get("all")
                dr = e[f"{det}_drift_detections_per_100"]
                lines.append(f"| {n} | {det} | {_fmt(a['recall'], True)} | {_fmt(a['precision'], True)} | **{_fmt(a['f1'])}** | "
                             f"{a['false_per_100']:.2f} | {_fmt(h['f1']) if h else 'n/a'} | {'n/a' if dr is None else f'{dr:.2f}'} |")
        lines += ["", "Detectable subset (series without changes, and changes ≥3× the series' CV): F1 "
                  + "; ".join(f"{n} " + " / ".join(f"{det} {_fmt(res[n]['configs'][cfg][f'{det}_detectable']['all']['f1'])}"
                                                   for det in ("loadwatch", "otava") if det in res[n]["configs"][cfg])
                              for n in names)]
        lines += ["", "Per kind (F1 loadwatch / Otava; for series without changes: false / 100 nights):", ""]
        for n in names:
            e = res[n]["configs"][cfg]
            parts = []
            for kind in ("step", "two_steps", "step_spikes", "noise", "spikes", "bimodal"):
                a = e["loadwatch"].get(kind)
                b = e.get("otava", {}).get(kind)
                if a is None:
                    continue
                if kind in ("noise", "spikes", "bimodal"):
                    parts.append(f"{kind} {a['false_per_100']:.2f} / " + ("n/a" if b is None else f"{b['false_per_100']:.2f}"))
                else:
                    parts.append(f"{kind} {_fmt(a['f1'])} / {'n/a' if b is None else _fmt(b['f1'])}")
            lines.append(f"- {n}: " + "; ".join(parts))
        lines += ["", "Recall of single steps by size and noise band (loadwatch / Otava):", ""]
        for n in names:
            e = res[n]["configs"][cfg]
            theirs = e.get("otava_recall_by_step", {})
            lines.append(f"- {n}: " + "; ".join(
                f"{k} {v * 100:.0f}%/" + ("n/a" if theirs.get(k) is None else f"{theirs[k] * 100:.0f}%")
                for k, v in e["loadwatch_recall_by_step"].items()))
    return [*lines, ""]


def _run(rng: np.random.Generator, factor: float, n: int, sigma: float) -> tuple[str, dict[str, float]]:
    samples = np.exp(rng.normal(np.log(8000.0), sigma, n)) * factor  # µs; median 8 ms
    h = new_hist()
    record_many(h, np.round(samples).astype(np.int64))
    return encode(h), stats_ms(h)


def gate_bench(quick: bool, seed: int = 7) -> dict[str, Any]:
    """Clean history: between-run factor lognormal with sigma 2.5 %, 5000 requests a night, lognormal
    latencies (sigma 0.5). Night t is judged against nights t-20..t-1."""
    rng = np.random.default_rng(seed)
    nights = 80 if quick else 320
    cfg = GateConfig(resamples=2000 if quick else 10_000)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    factors = np.exp(rng.normal(0.0, 0.025, nights))
    run_seeds = rng.integers(0, 2**32, nights)
    runs: list[RunPoint] = []
    for i in range(nights):
        blob, st = _run(np.random.default_rng(run_seeds[i]), float(factors[i]), 5000, 0.5)
        metrics = {"p50_ms": st["p50"], "p95_ms": st["p95"], "p99_ms": st["p99"]}
        runs.append(RunPoint(f"r{i}", t0 + timedelta(days=i), {"*": metrics}, {"*": blob}))
    counts: dict[str, dict[str, int]] = {k: defaultdict(int) for k in ("clean", "+10%", "+20%")}
    cv_p95 = []
    t_start = time.perf_counter()
    judged = 0
    for i in range(cfg.window, nights):
        base = runs[i - cfg.window : i]
        history = runs[max(0, i - cfg.window) : i]  # the comparable runs before tonight (the gate uses the last `window`)
        cv_p95.append(
            float(
                np.std([r.metrics["*"]["p95_ms"] for r in base], ddof=1)
                / np.mean([r.metrics["*"]["p95_ms"] for r in base])
            )
        )
        for label, mult in (("clean", 1.0), ("+10%", 1.10), ("+20%", 1.20)):
            if mult == 1.0:
                cur = runs[i]
            else:
                # the same night's requests, each slower by the step
                blob, st = _run(np.random.default_rng(run_seeds[i]), float(factors[i]) * mult, 5000, 0.5)
                cur = RunPoint(
                    f"r{i}{label}",
                    runs[i].started_at,
                    {"*": {"p50_ms": st["p50"], "p95_ms": st["p95"], "p99_ms": st["p99"]}},
                    {"*": blob},
                )
            rows = compare_run(cur, history, cfg)
            judged += 1
            c = counts[label]
            c["nights"] += 1
            for row in rows:
                c[f"{row['metric']}:{row['outcome']}"] += 1
            if any(r["outcome"] == "regression" for r in rows):
                c["any_regression"] += 1
    elapsed = time.perf_counter() - t_start
    return {
        "nights_judged": nights - cfg.window,
        "resamples": cfg.resamples,
        "seconds_per_compare_run": elapsed / judged,
        "p95_cv_median": float(np.median(cv_p95)),
        "counts": {k: dict(v) for k, v in counts.items()},
    }


def _fmt(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{x * 100:.1f}%" if pct else f"{x:.3f}"


def render(cpd: dict[str, Any], gate: dict[str, Any], cmd: str, seconds: float) -> str:
    lines = [
        "# Statistics benchmark: change points (loadwatch vs Apache Otava) and the same-night gate",
        "",
        f"- Command: `{cmd}`",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; wall time {seconds:.0f} s",
        f"- Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}",
        f"- Synthetic suite: {cpd['cases']} series, {cpd['nights']} nights (benchmarks/stats/synth.py, fixed seed); "
        "recall = true changes found within ±2 nights; a false change point is any detection not matched to one.",
        "",
        "## Change points",
        "",
    ]
    for name, e in cpd["configs"].items():
        lines += [
            f"### {name}",
            "",
            "| series | detector | recall | precision | F1 | false / 100 nights |",
            "|---|---|---|---|---|---|",
        ]
        for kind in ("all", "step", "two_steps", "step_spikes", "noise", "spikes"):
            for det in ("loadwatch", "otava"):
                if det not in e or kind not in e[det]:
                    continue
                s = e[det][kind]
                lines.append(
                    f"| {kind} | {det} | {_fmt(s['recall'], True)} | {_fmt(s['precision'], True)} | {_fmt(s['f1'])} | {s['false_per_100']:.2f} |"
                )
        if "otava" in e:
            a, b = e["loadwatch"]["all"], e["otava"]["all"]
            if a["f1"] and b["f1"]:
                lines.append("")
                lines.append(
                    f"F1 ratio loadwatch / Otava: {a['f1'] / b['f1']:.3f}; false changes per 100 nights "
                    f"{a['false_per_100']:.2f} vs {b['false_per_100']:.2f}."
                )
        lines += ["", "Recall of single steps by size and noise (loadwatch / Otava):", ""]
        for k, v in e["loadwatch_recall_by_step"].items():
            o = e.get("otava_recall_by_step", {}).get(k)
            lines.append(f"- {k}: {v * 100:.0f}% / {'n/a' if o is None else f'{o * 100:.0f}%'}")
        lines += [
            "",
            f"TigerBeetle (365 nights): loadwatch {e['tigerbeetle_loadwatch']}; Otava {e.get('tigerbeetle_otava', 'n/a')}. "
            f"Time for the whole suite: loadwatch {e['loadwatch_seconds']:.1f} s, Otava {e.get('otava_seconds', float('nan')):.1f} s "
            "(Otava's includes its interpreter start).",
            "",
        ]
    g = cpd["tigerbeetle_w30_p0.01_m0.05"]
    lines += [
        f"TigerBeetle at window 30, p 0.01, min magnitude 5 %: loadwatch {g['loadwatch']}, Otava {g.get('otava', 'n/a')}.",
        "",
    ]
    lines += ["## Same-night gate (p95, first night of a step)", ""]
    cl, s10, s20 = gate["counts"]["clean"], gate["counts"]["+10%"], gate["counts"]["+20%"]
    n = cl["nights"]
    lines += [
        f"{gate['nights_judged']} nights judged against the 20 before them; history p95 CV (median over windows) "
        f"{gate['p95_cv_median'] * 100:.1f}%; {gate['resamples']} bootstrap resamples; "
        f"{gate['seconds_per_compare_run'] * 1000:.0f} ms per compare_run (3 latency metrics).",
        "",
        "| nights | p95 regression | p95 suspect | p95 noisy | any metric regression |",
        "|---|---|---|---|---|",
    ]
    for label, c in (("clean", cl), ("+10% step", s10), ("+20% step", s20)):
        lines.append(
            f"| {label} | {c.get('p95_ms:regression', 0) / n * 100:.1f}% | {c.get('p95_ms:suspect', 0) / n * 100:.1f}% | "
            f"{c.get('p95_ms:noisy', 0) / n * 100:.1f}% | {c.get('any_regression', 0) / n * 100:.1f}% |"
        )
    lines += [
        "",
        f"False regressions per 100 clean nights: {cl.get('any_regression', 0) / n * 100:.2f} (any latency metric), "
        f"{cl.get('p95_ms:regression', 0) / n * 100:.2f} (p95).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--otava-python", default="/work/otava-venv/bin/python")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "stats.md"))
    ap.add_argument("--json", default=None)
    ns = ap.parse_args()
    otava_python = ns.otava_python if ns.otava_python and Path(ns.otava_python).exists() else None
    t0 = time.perf_counter()
    cpd = cpd_bench(otava_python, ns.quick)
    gate = gate_bench(ns.quick)
    suites = suite_cpd([TUNING, HELDOUT], otava_python)
    text = render(cpd, gate, "python " + " ".join(sys.argv), time.perf_counter() - t0)
    text += "\n" + "\n".join(render_suite_cpd(suites))
    print(text)
    if ns.json:
        Path(ns.json).write_text(json.dumps({"cpd": cpd, "gate": gate, "suites_cpd": suites}, indent=2, default=str))
    if not ns.quick:
        Path(ns.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
