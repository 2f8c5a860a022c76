"""Throughput of templated and logged-in plans against the single-URL plan, in the same run against the same nginx
(issue 24 item 7): the six-scenario templated plan must keep ≥ 0.5× the single-URL throughput, a plan with
templated JSON bodies and cookie sessions (a login, a bearer token from its answer, a cookie jar per user) ≥ 0.4×.

    python benchmarks/sessions_throughput.py [--reps 3] [--duration 6] [--json benchmarks/results/sessions.json]

Needs nginx (`apt-get install -y nginx-light`). nginx (one worker, the configuration of benchmarks/throughput.py
plus a login location that sets a cookie and answers a token, and a location that answers any POST) is pinned to
core 1, every loadwatch run to core 0: closed model, 16 users, no think time, one process. Each repetition runs
the three plans back to back; the ratios of adjacent runs are the claim (the machine drifts between runs)."""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import rawfile  # noqa: E402
from throughput import SIX, med_range, run_loadwatch  # noqa: E402
from throughput import start_nginx as throughput_nginx  # noqa: E402

LOCATIONS = """
        location = /login { default_type application/json;
            add_header Set-Cookie "sid=s3ss10n; Path=/; HttpOnly";
            return 200 '{"access_token": "t0k3n", "expires_in": 3600}'; }
        location /api/write/ { default_type application/json; return 200 '{"ok": true}'; }
"""

SESSIONS = """
name: sessions
target: {{url: "{url}"}}
load: {{model: closed, users: 16, think_time: 0, duration: {d}}}
pools:
  tool: {{values: [net-scan, disk-check, log-tail, git-blame, proc-top, http-probe, dns-dig, mem-map], draw: zipf}}
  term: {{values: [net, disk, log, scan, git, proc]}}
session:
  login:
    - {{name: token, method: POST, path: /login, form: {{username: bench, password: bench}},
       extract: {{token: {{json: access_token}}}}, expect: {{status: [200]}}}}
scenarios:
  - {{name: filter, weight: 50, method: POST, path: "/api/write/{{tool}}",
     headers: {{Authorization: "Bearer {{token}}"}},
     json: {{flow_runs: {{name: {{any_: ["{{term}}"]}}}}, tool: "{{tool}}", limit: 20, sort: "NAME_ASC"}},
     expect: {{status: [200]}}}}
  - {{name: list_tools, weight: 50, path: /api/v1/tools, query: {{q: "{{term}}", page_size: "20"}},
     headers: {{Authorization: "Bearer {{token}}"}}, expect: {{status: [200], json_field: tools}}}}
"""


def start_nginx(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """benchmarks/throughput.py's nginx, with the login and POST locations added."""
    return throughput_nginx(tmp, LOCATIONS)


ERRORS: list[int] = []


def _run(args: list[str], tmp: Path, label: str) -> float:
    load = run_loadwatch(args, tmp)
    if load["errors"]:  # the numbers compare only answers that succeeded
        print(f"WARNING {label} saw errors: {load['errors_by_kind']}", file=sys.stderr)
        ERRORS.append(int(load["errors"]))  # type: ignore[call-overload]
    return float(load["rps"])  # type: ignore[arg-type]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=6)
    ap.add_argument("--json", help="write the raw figures here (benchmarks/summary.py reads them)")
    a = ap.parse_args()
    if not shutil.which("nginx"):
        print("needs: apt-get install -y nginx-light", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="lw-sess-bench-"))
    nginx, url = start_nginx(tmp)
    try:
        single: list[float] = []
        six: list[float] = []
        sess: list[float] = []
        (tmp / "six.yaml").write_text(SIX.format(url=url, d=a.duration))
        (tmp / "sessions.yaml").write_text(SESSIONS.format(url=url, d=a.duration))
        for rep in range(a.reps):
            single.append(_run([url + "/data.json", "--users", "16", "--duration", str(a.duration), "--workers", "1"],
                               tmp, "single"))
            six.append(_run(["--plan", str(tmp / "six.yaml"), "--workers", "1"], tmp, "six"))
            sess.append(_run(["--plan", str(tmp / "sessions.yaml"), "--workers", "1"], tmp, "sessions"))
            print(f"rep {rep + 1}: single {single[-1]:,.0f}  six-scenario {six[-1]:,.0f}  "
                  f"JSON bodies + cookie sessions {sess[-1]:,.0f} req/s; six/single {six[-1] / single[-1]:.2f}, "
                  f"sessions/single {sess[-1] / single[-1]:.2f}")
        m = statistics.median
        print(f"\nsingle URL (closed, 16 users, think 0, 1 process): {med_range(single)} req/s")
        print(f"six-scenario templated plan:                       {med_range(six)} req/s")
        print(f"templated JSON bodies + cookie sessions:           {med_range(sess)} req/s")
        six_r = [s / b for s, b in zip(six, single, strict=True)]
        sess_r = [s / b for s, b in zip(sess, single, strict=True)]
        print(f"six/single per repetition: median {m(six_r):.2f} (range {min(six_r):.2f}–{max(six_r):.2f}; goal ≥ 0.5)")
        print(f"sessions/single per repetition: median {m(sess_r):.2f} (range {min(sess_r):.2f}–{max(sess_r):.2f}; "
              "goal ≥ 0.4)")
        if a.json:
            rawfile.write(a.json, {"reps": a.reps, "duration_s": a.duration, "single": single, "six": six,
                                   "sessions": sess, "six_per_rep": six_r, "sessions_per_rep": sess_r,
                                   "errors": sum(ERRORS)})
        return 0 if m(six_r) >= 0.5 and m(sess_r) >= 0.4 else 1
    finally:
        nginx.terminate()
        nginx.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
