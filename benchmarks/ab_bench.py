"""The targets of issue 25 for `loadwatch ab` and `loadwatch bisect` (BENCHMARKS.md). Hours of a quiet machine:

    # +5 % of p50 on the demo target, 2-minute sessions: found in >= 95 % (>= 100 runs)
    .venv/bin/python benchmarks/ab_bench.py detect --runs 100 --effect p50=5 --out benchmarks/results/ab_p50.jsonl
    # +10 % of p95
    .venv/bin/python benchmarks/ab_bench.py detect --runs 100 --effect p95=10 --out benchmarks/results/ab_p95.jsonl
    # A/A (the same build twice): flagged in <= 1 %
    .venv/bin/python benchmarks/ab_bench.py detect --runs 100 --aa --out benchmarks/results/ab_aa.jsonl
    # the same with a CPU burner for the second half of each session: >= 90 % / <= 2 %
    .venv/bin/python benchmarks/ab_bench.py detect --runs 100 --effect p50=5 --burner --out ...ab_p50_burner.jsonl
    .venv/bin/python benchmarks/ab_bench.py detect --runs 100 --aa --burner --out ...ab_aa_burner.jsonl
    # bisection over 16 commits with one +15 % commit: right in >= 9 of 10, each under 15 minutes
    .venv/bin/python benchmarks/ab_bench.py bisect --runs 10 --commits 16 --effect 15 --out ...ab_bisect.jsonl
    # summary of any of these files (rates with Wilson intervals, predicted vs observed power)
    .venv/bin/python benchmarks/ab_bench.py summary benchmarks/results/ab_*.jsonl

detect: each run is one `loadwatch ab` subprocess with the bundled Tool Catalog plan against two demo targets
(`loadwatch demo-target --delay-ms`), the candidate's delay sized once per invocation from a calibration load of
the baseline (delay = effect x the measured percentile). One JSON line per run: exit code, verdict, the whole run's
rows, the spread of the pair differences and the statistics' own predicted power for the effect at that spread
(loadwatch.stats.paired.power): over >= 30 runs the mean prediction can be checked against the observed rate.

bisect: a git repository of a stdlib service (tests/ab/ab_server.py) with `--commits` commits after the good one,
one of them (a random position, seeded) adding `--effect` % of the measured p50 as delay; one `loadwatch bisect`
per run, timed."""

from __future__ import annotations

import argparse
import json
import math
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
LOADWATCH = str(Path(PY).with_name("loadwatch"))
PLAN = ROOT / "src" / "loadwatch" / "plans" / "tool_catalog.yaml"
SERVICE = ROOT / "tests" / "ab" / "ab_server.py"


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, c - h), min(1.0, c + h))


def _percentile_ms(url_cmd: list[str], plan: Path, pct: str, seconds: float, rate: float) -> float:
    """Calibration: one `loadwatch load` of the plan against a freshly started demo target; its percentile."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([*url_cmd, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        try:
            assert proc.stdout is not None
            url = ""
            for line in proc.stdout:  # "loadwatch demo target listening on http://127.0.0.1:P (pid N)"
                if "listening on " in line:
                    url = line.split("listening on ")[1].split()[0]
                    break
            if not url:
                raise RuntimeError("the demo target did not start for the calibration")
            out = Path(tmp) / "load.json"
            subprocess.run([LOADWATCH, "load", url, "--plan", str(plan), "--duration", str(seconds), "--warmup", "2",
                            "--rate", str(rate), "--quiet", "--json", str(out)], check=True, stdout=subprocess.DEVNULL)
            return float(json.loads(out.read_text())["load"]["latency_ms"][pct])
        finally:
            proc.terminate()
            proc.wait(timeout=20)


class Burner:
    """A busy loop on the machine from `after` seconds on, until stopped (the issue's "CPU burner for half of the
    session")."""

    def __init__(self, after: float) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at: float | None = None
        self.timer = threading.Timer(after, self._start)

    def _start(self) -> None:
        self.started_at = time.time()
        self.proc = subprocess.Popen([PY, "-c", "while True: pass"])

    def __enter__(self) -> Burner:
        self.timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.timer.cancel()
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


def _row_summary(doc: dict[str, Any], effect_pct: str, effect: float) -> dict[str, Any]:
    from loadwatch.stats.paired import power

    rows = {(r["scenario"], r["percentile"]): r for r in doc["rows"]}
    out: dict[str, Any] = {}
    for (scen, pct), r in rows.items():
        if scen != "*":
            continue
        d = [math.log(b / a) for a, b in zip(r["ms_a"], r["ms_b"], strict=True) if a and b]
        sigma = statistics.stdev(d) if len(d) > 2 else None
        predicted = None
        if sigma is not None and pct == effect_pct and r["level"]:
            predicted = power(sigma, doc["planned_pairs"], math.log1p(effect), r["level"], floor=r["floor"], sims=500)
        out[pct] = {"verdict": r["verdict"], "paired": r["paired"], "sigma_log": sigma, "level": r["level"],
                    "predicted_power": predicted}
    return out


def detect(ns: argparse.Namespace) -> None:
    pct, _, size = (ns.effect or "p50=5").partition("=")
    effect = 0.0 if ns.aa else float(size) / 100.0
    target = [LOADWATCH, "demo-target"]
    delay = 0.0
    if not ns.aa:
        base = _percentile_ms(target, PLAN, pct, ns.calibrate, ns.rate)
        delay = round(effect * base, 3)
        print(f"calibration: {pct} {base:.3f} ms -> candidate --delay-ms {delay:g}", file=sys.stderr)
    out = Path(ns.out)
    for run in range(ns.runs):
        with tempfile.TemporaryDirectory() as tmp:
            res = Path(tmp) / "ab.json"
            cand = [] if ns.aa else ["--candidate-cmd", f"{shlex.join(target)} --port {{port}} --delay-ms {delay}"]
            argv = [LOADWATCH, "ab", "--plan", str(PLAN), "--baseline-cmd", f"{shlex.join(target)} --port {{port}}",
                    *cand, *(["--aa"] if ns.aa else []), "--budget", str(ns.budget), "--rate", str(ns.rate),
                    "--json", str(res), "--quiet"]
            t0 = time.time()
            with Burner(ns.budget / 2) if ns.burner else _Null() as burner:
                code = subprocess.run(argv, stdout=subprocess.DEVNULL, check=False).returncode
            line: dict[str, Any] = {"run": run, "mode": "aa" if ns.aa else "ab", "effect": f"{pct}={size}",
                                    "delay_ms": delay, "burner": ns.burner, "exit_code": code,
                                    "wall_s": round(time.time() - t0, 1)}
            if res.exists():
                doc = json.loads(res.read_text())
                line.update(verdict=doc["verdict"], pairs=doc["pairs"], planned_pairs=doc["planned_pairs"],
                            warnings=doc["warnings"], rows=_row_summary(doc, pct, effect))
                if isinstance(burner, Burner) and burner.started_at is not None:
                    line["rounds_with_burner"] = sum(r["started_at"] >= burner.started_at for r in doc["rounds"])
                    line["rounds"] = len(doc["rounds"])
        with out.open("a") as f:
            f.write(json.dumps(line) + "\n")
        print(f"run {run}: exit {code}", file=sys.stderr)


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def _make_repo(root: Path, commits: int, slow_at: int, base_ms: float, slow_ms: float) -> tuple[str, str]:
    text = SERVICE.read_text()
    marker = '"--delay-ms", type=float, default=2.0'
    assert marker in text

    def git(*a: str) -> str:
        return subprocess.run(["git", "-C", str(root), *a], check=True, capture_output=True, text=True).stdout.strip()

    root.mkdir(parents=True)
    git("init", "-q", "-b", "main")
    git("config", "user.email", "bench@example.com")
    git("config", "user.name", "bench")
    delay = base_ms
    for k in range(commits + 1):
        if k == slow_at:
            delay = slow_ms
        (root / "server.py").write_text(text.replace(marker, f'"--delay-ms", type=float, default={delay}'))
        (root / "CHANGES").write_text(f"change {k}\n")
        git("add", "-A")
        git("commit", "-q", "-m", "the slow one" if k == slow_at else f"change {k}")
    return git("rev-list", "--max-parents=0", "HEAD"), git("rev-parse", "HEAD")


def bisect(ns: argparse.Namespace) -> None:
    rng = random.Random(ns.seed)
    plan = Path(tempfile.mkdtemp(prefix="ab-bench-")) / "ab_bisect_plan.yaml"
    plan.write_text("name: ab_bisect\ntarget: {health_path: /health}\n"
                    "load: {model: open, rate: 200, duration: 10, timeout: {connect: 2, total: 5}}\n"
                    "scenarios:\n  - {name: items, path: /items}\n")
    out = Path(ns.out)
    for run in range(ns.runs):
        slow_at = rng.randint(1, ns.commits)
        with tempfile.TemporaryDirectory() as tmp:
            repo = Path(tmp) / "svc"
            # +effect % of the service's latency: its delay plus ~0.3 ms of loopback and parsing (tests/ab)
            good, bad = _make_repo(repo, ns.commits, slow_at, ns.base_ms, ns.base_ms + ns.effect / 100 * (ns.base_ms
                                                                                                         + 0.3))
            res = Path(tmp) / "bisect.json"
            argv = [LOADWATCH, "bisect", "--repo", str(repo), "--good", good, "--bad", bad, "--plan", str(plan),
                    "--start-cmd", f"{shlex.quote(PY)} {{dir}}/server.py --port {{port}}",
                    "--budget", str(ns.budget), "--json", str(res), "--quiet"]
            t0 = time.time()
            code = subprocess.run(argv, stdout=subprocess.DEVNULL, check=False).returncode
            wall = round(time.time() - t0, 1)
            doc = json.loads(res.read_text()) if res.exists() else {}
            expected = subprocess.run(["git", "-C", str(repo), "rev-list", "--reverse", f"{good}..{bad}"],
                                      capture_output=True, text=True, check=True).stdout.split()[slow_at - 1]
            culprit = (doc.get("culprit") or {}).get("sha")
            line = {"run": run, "commits": ns.commits, "slow_at": slow_at, "exit_code": code, "wall_s": wall,
                    "right": culprit == expected, "culprit": culprit, "expected": expected,
                    "steps": len(doc.get("steps") or []), "verdict": doc.get("verdict"), "reason": doc.get("reason")}
        with out.open("a") as f:
            f.write(json.dumps(line) + "\n")
        print(f"run {run}: {'right' if line['right'] else 'WRONG'} in {wall:g} s", file=sys.stderr)


def summary(ns: argparse.Namespace) -> None:
    for path in ns.files:
        lines = [json.loads(ln) for ln in Path(path).read_text().splitlines() if ln.strip()]
        if not lines:
            continue
        n = len(lines)
        if "right" in lines[0]:
            k = sum(ln["right"] for ln in lines)
            walls = sorted(ln["wall_s"] for ln in lines)
            print(f"{path}: bisection right in {k} of {n}; wall {walls[0]:g}..{walls[-1]:g} s "
                  f"(median {statistics.median(walls):g})")
            continue
        flagged = sum(ln["exit_code"] == 1 for ln in lines)
        inconclusive = sum(ln["exit_code"] == 3 for ln in lines)
        lo, hi = _wilson(flagged, n)
        what = "false alarms" if lines[0]["mode"] == "aa" else "found"
        pct = lines[0]["effect"].partition("=")[0]
        preds = [ln["rows"][pct]["predicted_power"] for ln in lines
                 if ln.get("rows", {}).get(pct, {}).get("predicted_power") is not None]
        pred = f"; predicted power (mean of {len(preds)}) {statistics.mean(preds):.3f}" if preds else ""
        print(f"{path}: {what} {flagged}/{n} = {flagged / n:.3f} (95 % {lo:.3f}..{hi:.3f}), inconclusive "
              f"{inconclusive}{pred}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("detect")
    d.add_argument("--runs", type=int, default=100)
    d.add_argument("--budget", type=float, default=120.0)
    d.add_argument("--rate", type=float, default=200.0, help="req/s (the plan's 50 makes 6 s rounds for p95: too "
                   "few pairs in 2 minutes)")
    d.add_argument("--effect", default="p50=5", help="PCT=PERCENT: the slowdown, sized on the baseline's PCT")
    d.add_argument("--aa", action="store_true")
    d.add_argument("--burner", action="store_true", help="a busy loop for the second half of every session")
    d.add_argument("--calibrate", type=float, default=30.0, help="seconds of the calibration load")
    d.add_argument("--out", required=True)
    d.set_defaults(func=detect)
    b = sub.add_parser("bisect")
    b.add_argument("--runs", type=int, default=10)
    b.add_argument("--commits", type=int, default=16)
    b.add_argument("--effect", type=float, default=15.0, help="percent of p50 the slow commit adds")
    b.add_argument("--base-ms", type=float, default=3.0)
    b.add_argument("--budget", type=float, default=120.0, help="seconds per step's session")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--out", required=True)
    b.set_defaults(func=bisect)
    s = sub.add_parser("summary")
    s.add_argument("files", nargs="+")
    s.set_defaults(func=summary)
    ns = ap.parse_args()
    ns.func(ns)


if __name__ == "__main__":
    main()
