"""Throughput on one core vs wrk and Locust FastHttpUser (BENCHMARKING.md), plus the six-scenario plan and
CPU per request with 1 vs 2 workers at a fixed rate.

    /work/venv/bin/python benchmarks/throughput.py [--reps 3] [--duration 6] [--skip-locust] [--cpu-only]
        [--cpu-rate 5000 20000] [--cpu-reps 3] [--compare-src DIR]

`--compare-src DIR` also runs, in every repetition next to the others, the loadwatch package found in DIR (e.g.
`git archive <commit> loadwatch | tar -x -C DIR`): an A/B of two builds in adjacent runs, which is the only
comparison that holds on a shared machine.

nginx (one worker, small JSON file) is pinned to core 1, every generator to core 0, 16 connections each.
loadwatch runs the closed model with 16 users and no think time (what maximises throughput; one process)."""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rawfile

HERE = Path(__file__).resolve().parent
PY = sys.executable
LOCUST = "/work/locust-venv/bin/locust"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_nginx(tmp: Path, extra_locations: str = "") -> tuple[subprocess.Popen[bytes], str]:
    """nginx on core 1 serving a small JSON file; `extra_locations` (nginx location blocks) go before `location /`."""
    port = free_port()
    # nginx's worker runs as an unprivileged user: a 0700 mkdtemp directory made every answer a 404
    tmp.chmod(0o755)
    (tmp / "data.json").write_text(json.dumps({"tools": [{"tool_name": "net-scan", "version": "1.2.0"}]}))
    conf = (HERE / "peers" / "nginx.conf.tmpl").read_text().replace("{dir}", str(tmp)).replace("{port}", str(port))
    if extra_locations:
        conf = conf.replace("        location / {", extra_locations + "        location / {", 1)
    (tmp / "nginx.conf").write_text(conf)
    proc = subprocess.Popen(["taskset", "-c", "1", "nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}"


LW_SNIPPET = """
import argparse, sys
from loadwatch.commands import load
p = argparse.ArgumentParser(); load.add_arguments(p); sys.exit(load.run(p.parse_args(sys.argv[1:])))
"""


def run_loadwatch(args: list[str], tmp: Path, cpu: str | None = "0", src: str | None = None) -> dict[str, object]:
    out = tmp / "lw.json"
    # another source tree first on sys.path (spawned workers inherit it)
    snippet = f"import sys; sys.path.insert(0, {src!r})\n" + LW_SNIPPET if src else LW_SNIPPET
    cmd = [PY, "-c", snippet, *args, "--json", str(out), "--quiet"]
    if cpu is not None:
        cmd = ["taskset", "-c", cpu, *cmd]
    subprocess.run(cmd, check=True, capture_output=True)
    load: dict[str, object] = json.loads(out.read_text())["load"]
    return load


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_wrk(url: str, duration: int) -> tuple[float, float]:
    """(req/s, requests per CPU-second of wrk: user + system time of the process)."""
    cpu0 = _children_cpu_s()
    out = subprocess.run(
        ["taskset", "-c", "0", "wrk", "-t1", "-c16", f"-d{duration}s", url + "/data.json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    cpu = _children_cpu_s() - cpu0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    return (float(m.group(1)) if m else 0.0), (int(n.group(1)) / cpu if n and cpu > 0 else 0.0)


def run_locust(url: str, duration: int, tmp: Path) -> float:
    prefix = tmp / "locust"
    subprocess.run(
        [
            "taskset",
            "-c",
            "0",
            LOCUST,
            "-f",
            str(HERE / "peers" / "locustfile.py"),
            "--headless",
            "-u",
            "16",
            "-r",
            "16",
            "-t",
            f"{duration}s",
            "--host",
            url,
            "--csv",
            str(prefix),
            "--only-summary",
        ],
        check=False,
        capture_output=True,
    )  # exit 1 on any failure
    with open(f"{prefix}_stats.csv") as f:
        for row in csv.DictReader(f):
            if row["Name"] == "Aggregated":
                return float(row["Requests/s"])
    return 0.0


SIX = """
name: six
target: {{url: "{url}"}}
load: {{model: closed, users: 16, think_time: 0, duration: {d}}}
pools:
  tool: {{values: [net-scan, disk-check, log-tail, git-blame, proc-top, http-probe, dns-dig, mem-map], draw: zipf}}
  term: {{values: [net, disk, log, scan, git, proc]}}
scenarios:
  - {{name: list_tools, weight: 35, path: /api/v1/tools, query: {{page: "1", page_size: "50"}},
     expect: {{status: [200], json_field: tools}}}}
  - {{name: search_by_name, weight: 20, path: /api/v1/tools/search/query, query: {{q: "{{term}}", limit: "20"}}}}
  - {{name: get_tool, weight: 15, path: "/api/v1/tools/{{tool}}", expect: {{status: [200]}}}}
  - {{name: search_enabled, weight: 15, path: /api/v1/tools, query: {{enabled: "true", page_size: "20"}}}}
  - {{name: search_latest, weight: 10, path: /api/v1/tools, query: {{latest: "true", name: "{{term}}"}}}}
  - {{name: performance_stats, weight: 5, path: /api/v1/tools/performance/stats}}
"""


def med_range(xs: list[float]) -> str:
    return f"median {statistics.median(xs):,.0f} (range {min(xs):,.0f}–{max(xs):,.0f})"


def cpu_per_request(url: str, tmp: Path, rate: float, duration: int) -> float:
    print(f"\nCPU per request at {rate:.0f} req/s for {duration} s (open model; both cores available)")
    per_req: dict[int, float] = {}
    for workers in (1, 2):
        load = run_loadwatch(
            [url + "/data.json", "--rate", str(rate), "--duration", str(duration), "--workers", str(workers)],
            tmp,
            cpu=None,
        )
        ws: list[dict[str, Any]] = load["workers"]  # type: ignore[assignment]
        # process CPU seconds of each generator from the start barrier to the end of its drain
        cpu_s = sum(float(w["cpu_s"]) for w in ws)
        wakeups = sum(int(w.get("pacer_wakeups", 0)) for w in ws)
        sends = max(int(load["sends"]), 1)  # type: ignore[call-overload]
        per_req[workers] = cpu_s / sends * 1e6
        print(
            f"  workers={workers}: {load['requests']} requests, {cpu_s:.2f} CPU-s in generator processes, "
            f"{per_req[workers]:.1f} µs CPU per request, {sends / max(wakeups, 1):.1f} sends per pacer wake-up, "
            f"late {load['late']}, generator_bound={load['generator_bound']}"
        )
    print(f"  2 workers / 1 worker total CPU: {per_req[2] / per_req[1]:.2f} (goal ≤ 1.10)")
    return per_req[2] / per_req[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=6)
    ap.add_argument("--skip-locust", action="store_true")
    ap.add_argument("--cpu-only", action="store_true")
    ap.add_argument("--cpu-rate", type=float, nargs="+", default=[5000.0, 20000.0])
    ap.add_argument("--cpu-reps", type=int, default=3)
    ap.add_argument("--compare-src", help="also run the loadwatch package in this directory (A/B in adjacent runs)")
    ap.add_argument("--json", help="write the raw figures here (benchmarks/summary.py reads them)")
    a = ap.parse_args()
    raw: dict[str, Any] = {"duration_s": a.duration, "reps": a.reps}
    if not shutil.which("nginx") or not shutil.which("wrk"):
        print("needs: apt-get install -y nginx-light wrk", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="lw-bench-"))
    nginx, url = start_nginx(tmp)
    try:
        if not a.cpu_only:
            lw, wrk, loc, six = [], [], [], []
            rep_ratio, eff_ratio = [], []
            errors = 0
            cmp_ratio, cmp_eff = [], []
            for rep in range(a.reps):
                load = run_loadwatch(
                    [url + "/data.json", "--users", "16", "--duration", str(a.duration), "--workers", "1"], tmp
                )
                if load["errors"]:  # the numbers are only comparable for the 200 that wrk gets too
                    print(f"WARNING loadwatch saw errors: {load['errors_by_kind']}", file=sys.stderr)
                    errors += int(load["errors"])  # type: ignore[call-overload]
                lw.append(float(load["rps"]))  # type: ignore[arg-type]
                w0: dict[str, Any] = load["workers"][0]  # type: ignore[index]
                lw_eff = int(w0["requests"]) / max(float(w0["cpu_s"]), 1e-9)  # requests per generator CPU-second
                wrk_rps, wrk_eff = run_wrk(url, a.duration)
                wrk.append(wrk_rps)
                rep_ratio.append(lw[-1] / max(wrk_rps, 1e-9))
                eff_ratio.append(lw_eff / max(wrk_eff, 1e-9))
                if a.compare_src:
                    other = run_loadwatch(
                        [url + "/data.json", "--users", "16", "--duration", str(a.duration), "--workers", "1"],
                        tmp,
                        src=a.compare_src,
                    )
                    w1: dict[str, Any] = other["workers"][0]  # type: ignore[index]
                    cmp_ratio.append(float(other["rps"]) / max(wrk_rps, 1e-9))  # type: ignore[arg-type]
                    cmp_eff.append(int(w1["requests"]) / max(float(w1["cpu_s"]), 1e-9) / max(wrk_eff, 1e-9))
                    print(
                        f"rep {rep + 1} compare-src: {float(other['rps']):,.0f} req/s"  # type: ignore[arg-type]
                        f"; /wrk {cmp_ratio[-1]:.2f}, per CPU-second {cmp_eff[-1]:.2f}"
                    )
                if not a.skip_locust and os.path.exists(LOCUST):
                    loc.append(run_locust(url, a.duration, tmp))
                (tmp / "six.yaml").write_text(SIX.format(url=url, d=a.duration))
                six_load = run_loadwatch(["--plan", str(tmp / "six.yaml"), "--workers", "1"], tmp)
                six.append(float(six_load["rps"]))  # type: ignore[arg-type]
                errors += int(six_load["errors"])  # type: ignore[call-overload]
                print(
                    f"rep {rep + 1}: loadwatch {lw[-1]:,.0f}  wrk {wrk[-1]:,.0f}  "
                    f"locust {loc[-1] if loc else float('nan'):,.0f}  six-scenario {six[-1]:,.0f} req/s; "
                    f"loadwatch/wrk {rep_ratio[-1]:.2f}, per CPU-second {eff_ratio[-1]:.2f} "
                    f"({lw_eff:,.0f} vs {wrk_eff:,.0f} requests per CPU-s)"
                )
            print(f"\nloadwatch (closed, 16 users, think 0, 1 process): {med_range(lw)} req/s")
            print(f"wrk -t1 -c16:                                      {med_range(wrk)} req/s")
            if loc:
                print(f"Locust FastHttpUser 16 users:                      {med_range(loc)} req/s")
            print(f"loadwatch six-scenario templated plan:             {med_range(six)} req/s")
            m = statistics.median
            print(
                f"ratios: loadwatch/wrk {m(lw) / m(wrk):.2f} (goal ≥ 0.8)"
                + (f", loadwatch/Locust {m(lw) / m(loc):.1f} (goal ≥ 5)" if loc else "")
                + f", six-scenario/single {m(six) / m(lw):.2f} (goal ≥ 0.5)"
            )
            # the machine drifts between runs: the ratio of adjacent runs is the claim, plus a CPU-time view
            # (requests per CPU-second of the generator) that does not depend on how much CPU it was given
            print(
                f"loadwatch/wrk per repetition: median {m(rep_ratio):.2f} (range {min(rep_ratio):.2f}–"
                f"{max(rep_ratio):.2f}); requests per CPU-second loadwatch/wrk: median {m(eff_ratio):.2f} "
                f"(range {min(eff_ratio):.2f}–{max(eff_ratio):.2f})"
            )
            raw["runs"] = {"loadwatch": lw, "wrk": wrk, "locust": loc, "six": six}
            raw["median"] = {"loadwatch": m(lw), "wrk": m(wrk), "locust": m(loc) if loc else None, "six": m(six)}
            raw["ratios"] = {"loadwatch_wrk_medians": m(lw) / m(wrk), "loadwatch_wrk_per_rep": rep_ratio,
                             "cpu_second_per_rep": eff_ratio}
            raw["errors"] = errors
            if cmp_ratio:
                print(
                    f"compare-src ({a.compare_src}) in the same repetitions: loadwatch/wrk median {m(cmp_ratio):.2f} "
                    f"(range {min(cmp_ratio):.2f}–{max(cmp_ratio):.2f}); per CPU-second median {m(cmp_eff):.2f} "
                    f"(range {min(cmp_eff):.2f}–{max(cmp_eff):.2f})"
                )
        for rate in a.cpu_rate if a.cpu_reps > 0 else []:
            ratios = [cpu_per_request(url, tmp, rate, max(a.duration, 6)) for _ in range(a.cpu_reps)]
            raw.setdefault("two_over_one", {})[str(rate)] = ratios
            print(
                f"2 workers / 1 worker at {rate:.0f} req/s over {len(ratios)} repetitions: "
                f"median {statistics.median(ratios):.2f} (range {min(ratios):.2f}–{max(ratios):.2f}; goal ≤ 1.10)"
            )
    finally:
        nginx.terminate()
        nginx.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        rawfile.write(a.json, raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
