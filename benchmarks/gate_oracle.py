"""What could any one-row rule have found? The gate benchmark's step cases against a known-sigma oracle.

    .venv/bin/python benchmarks/gate_oracle.py [benchmarks/results/stats_gate.json]

For every first-night step case of benchmarks/gate_bench.py (its JSON's `cases`), the step's size in sigmas of
its scenario's p50 series, s = log(step) / log(1 + robust CV of that series over the baseline), and the chance that
a one-sided z test which *knows* sigma finds it at a given false-alarm rate per row: Phi(s - z_p). This is an upper
bound for any rule that judges one row against its own history (the gate estimates sigma from 10-20 nights, which
costs it more). Also, for change points, the recall a detector that knew where each change is could expect: a
one-sided two-sample z test of the segments either side at p 0.001, Phi(d / sigma * sqrt(n1 n2 / (n1 + n2)) - 3.09)
per change (an upper bound: no search over positions, no multiple testing). Two false-alarm rates: 5.1e-4 per row
(z 3.28, the gate's own at a full window) and 2.5e-4 per row
(z 3.48: <= 1 false night in 100 if a night's ~40 rows were independent). Writes stats_gate_oracle.md."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from gate_bench import snr  # this script's directory is on sys.path when it runs
from scipy.stats import norm

RESULTS = Path(__file__).resolve().parent / "results"
Z_GATE = float(norm.isf(5.1e-4))
Z_NIGHT = float(norm.isf(2.5e-4))


def bound(cases: list[dict[str, Any]], z: float) -> float | None:
    ss = [s for s in (snr(c) for c in cases) if math.isfinite(s)]
    return sum(float(norm.cdf(s - z)) for s in ss) / len(ss) if ss else None


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def groups(cases: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    steps = [c for c in cases if c["kind"] == "step" and c.get("cv_p50_measured") is not None]
    return {
        "x2+ steps, >= 200 requests, nominal CV <= 20 %":
            [c for c in steps if c["mult"] >= 2 and c["requests"] >= 200 and c["cv_nominal"] <= 0.20],
        "x2+ steps, >= 200 requests, nominal CV 10-20 %":
            [c for c in steps if c["mult"] >= 2 and c["requests"] >= 200 and 0.10 < c["cv_nominal"] <= 0.20],
        "x2+ steps, >= 200 requests, measured p50 CV <= 20 %":
            [c for c in steps if c["mult"] >= 2 and c["requests"] >= 200 and c["cv_p50_measured"] <= 0.20],
        "+20 % steps, nominal CV <= 5 %":
            [c for c in steps if abs(c["mult"] - 1.2) < 1e-9 and c["cv_nominal"] <= 0.05],
        "+15-20 % steps, measured p50 CV <= 5 %":
            [c for c in steps if 1.15 <= c["mult"] <= 1.2 + 1e-9 and c["cv_p50_measured"] <= 0.05],
    }


def cpd_oracle() -> dict[str, tuple[int, float]]:
    """Per suite: (number of true changes, mean known-location detection probability) over the scored series."""
    from stats.synth import SUITES, series_suite

    z = float(norm.isf(0.001))
    out: dict[str, tuple[int, float]] = {}
    for name, params in SUITES.items():
        probs = []
        for c in series_suite(params):
            if c.kind == "drift":
                continue
            bounds = [0, *c.changes, len(c.values)]
            for i, at in enumerate(c.changes):
                n1, n2 = at - bounds[i], bounds[i + 2] - at
                d = math.log1p(abs(c.step)) if c.step > -1 else math.inf
                probs.append(float(norm.cdf(d / math.log1p(c.cv) * math.sqrt(n1 * n2 / (n1 + n2)) - z)))
        out[name] = (len(probs), sum(probs) / len(probs) if probs else 0.0)
    return out


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS / "stats_gate.json"
    doc = json.loads(path.read_text())
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    lines = [
        "# The gate's step detection against a known-sigma oracle",
        "",
        f"Command: `.venv/bin/python benchmarks/gate_oracle.py {shown}` (reads the cases of `{doc['command']}`, "
        f"{doc['date']}).",
        "",
        "Oracle: a one-sided z test on the scenario's p50 series that knows its sigma; s = log(step) / log(1 + the "
        "series' robust CV over the baseline); expected share found = mean of Phi(s - z). A reference, "
        "not an upper bound: it sees only the p50 series, while the gate also judges the tails with the night's own "
        f"histogram. z {Z_GATE:.2f} = the gate's false-alarm rate per row at a "
        f"full window (5.1e-4); z {Z_NIGHT:.2f} = 2.5e-4 per row (<= 1 false night in 100 with ~40 independent rows).",
        "",
        f"| suite | cases | gate found | oracle at z {Z_GATE:.2f} | oracle at z {Z_NIGHT:.2f} |",
        "|---|---|---|---|---|",
    ]
    for suite, res in doc["gate"].items():
        for label, sel in groups(res["cases"]).items():
            if not sel:
                continue
            found = sum(c["detected"] for c in sel)
            b1, b2 = bound(sel, Z_GATE), bound(sel, Z_NIGHT)
            lines.append(f"| {suite}: {label} | {len(sel)} | {100 * found / len(sel):.1f} % ({found}) | "
                         f"{_pct(b1)} | {_pct(b2)} |")
    lines += ["", "Change points: the recall a known-location test could expect (p 0.001 one-sided, segments either "
              "side of each change; F1 if nothing else were reported):", "",
              "| suite | changes | oracle recall | oracle F1 |", "|---|---|---|---|"]
    for name, (n, rec) in cpd_oracle().items():
        lines.append(f"| {name} | {n} | {100 * rec:.1f} % | {2 * rec / (1 + rec):.3f} |")
    text = "\n".join(lines) + "\n"
    (RESULTS / "stats_gate_oracle.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
