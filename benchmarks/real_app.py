"""Validate the regression gate on a real application nobody tuned for: Datasette over a 300k-row SQLite table.

    .venv/bin/python benchmarks/real_app.py --clean 12 --duration 6 --warmup 1 --rate 50

Steps (every one bounded, loopback only):
  1. builds a SQLite database (items: 300,000 rows, ~1,000 categories, an index on `category`);
  2. starts Datasette (its own venv, --datasette) on a free 127.0.0.1 port, pinned to core 1 with taskset;
     this script and the load generator it starts are pinned to core 0;
  3. runs `--clean` clean nights with the real CLI (`loadwatch run`), each in the same dedicated LOADWATCH_HOME
     (its own embedded Postgres, stopped by loadwatch at exit);
  4. fault night A: DROP INDEX on `category` while Datasette runs (EXPLAIN QUERY PLAN must show a scan);
  5. fault night B (global): restart Datasette with the index back but 300,000 more rows, so every query that
     touches the table (the filter, the first page with its count, the row by id stays cheap) gets slower;
  6. writes benchmarks/results/real_app.json (raw per-night data) and real_app.md (tables + reading).

Every process started here (Datasette) is stopped in a `finally`; loadwatch stops its own Postgres."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FILTER = "by_category"
N_CATEGORIES = 1000

PLAN = """\
name: datasette_items
target:
  url: http://127.0.0.1:{port}
  port: {port}
  health_path: /-/versions.json
  version_path: /-/versions.json
load:
  model: open
  rate: {rate}
  duration: 6
  warmup: 1
  timeout: {{connect: 5, total: 10}}
pools:
  cat:
    values: [{cats}]
  id:
    values: [{ids}]
scenarios:
  - {{name: by_category, weight: 40, path: /items/items.json, query: {{category: "{{cat}}", _size: "20"}},
     expect: {{status: [200], json_field: rows}}}}
  - {{name: row_by_id,   weight: 30, path: "/items/items/{{id}}.json", expect: {{status: [200], json_field: rows}}}}
  - {{name: first_page,  weight: 20, path: /items/items.json, query: {{_size: "20"}},
     expect: {{status: [200], json_field: rows}}}}
  - {{name: versions,    weight: 10, path: /-/versions.json, expect: {{status: [200], json_field: python}}}}
thresholds:
  - "error_rate < 1%"
{notify}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_db(path: Path, rows: int, start_id: int = 1, seed: int = 1) -> None:
    rng = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, category TEXT, name TEXT, "
                "price REAL, created TEXT)")
    batch = []
    for i in range(start_id, start_id + rows):
        batch.append((i, f"cat{rng.randrange(N_CATEGORIES):04d}", f"item-{i}-{rng.randrange(10**6)}",
                      round(rng.uniform(1, 1000), 2), f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"))
        if len(batch) == 50_000:
            con.executemany("INSERT INTO items VALUES (?,?,?,?,?)", batch)
            batch.clear()
    if batch:
        con.executemany("INSERT INTO items VALUES (?,?,?,?,?)", batch)
    con.commit()
    con.close()


def query_plan(path: Path) -> str:
    con = sqlite3.connect(path)
    try:
        rows = con.execute("EXPLAIN QUERY PLAN SELECT * FROM items WHERE category = 'cat0001' "
                           "ORDER BY id LIMIT 21").fetchall()
        return "; ".join(r[-1] for r in rows)
    finally:
        con.close()


class Datasette:
    def __init__(self, exe: str, db: Path, port: int, log: Path) -> None:
        self.exe, self.db, self.port, self.log = exe, db, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [self.exe, "serve", str(self.db), "--port", str(self.port), "--host", "127.0.0.1",
               "--setting", "sql_time_limit_ms", "5000", "--setting", "default_cache_ttl", "0",
               "--setting", "num_sql_threads", "3",
               # facet suggestions run a GROUP BY per column on every table page: ~1 s on 300k rows, which
               # saturates one core at tens of req/s; a real deployment serving JSON turns them off
               "--setting", "suggest_facets", "off"]
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", "1", *cmd]
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{self.port}/-/versions.json"
        for _ in range(120):  # bounded: 60 s
            if self.proc.poll() is not None:
                raise RuntimeError(f"datasette exited with {self.proc.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError("datasette did not answer within 60 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None


def timed_get(url: str, n: int = 20) -> float:
    """Median wall time (ms) of n sequential GETs: a quick direct check of what the gate should see."""
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=10) as r:
            r.read()
        ts.append((time.perf_counter() - t0) * 1000)
    ts.sort()
    return ts[len(ts) // 2]


def run_night(args: argparse.Namespace, home: Path, plan: Path, out: Path, label: str) -> dict[str, Any]:
    env = {**os.environ, "LOADWATCH_HOME": str(home)}
    cmd = [str(ROOT / ".venv" / "bin" / "loadwatch"), "run", "--plan", str(plan), "--duration", str(args.duration),
           "--warmup", str(args.warmup), "--rate", str(args.rate), "--out", str(out), "--notes", label]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    if args.gen_nice:
        cmd = ["nice", "-n", str(args.gen_nice), *cmd]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.night_timeout)
        code, stdout, stderr = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as exc:
        code, stdout, stderr = None, str(exc.stdout or ""), f"timed out after {args.night_timeout} s"
    wall = time.monotonic() - t0
    summary: dict[str, Any] = {}
    if (out / "summary.json").exists():
        summary = json.loads((out / "summary.json").read_text())
    load = summary.get("load") or {}
    scen = {}
    for name, s in (load.get("scenarios") or {}).items():
        lat = s.get("latency_ms") or s.get("latency") or {}
        scen[name] = {k: (lat.get(k) if isinstance(lat, dict) else None) for k in ("p50", "p95", "p99", "p99_9")}
        scen[name]["requests"] = s.get("requests")
        scen[name]["error_rate"] = s.get("error_rate")
    return {
        "label": label,
        "exit_code": code,
        "wall_s": round(wall, 1),
        "verdict": summary.get("verdict"),
        "verdict_reasons": summary.get("verdict_reasons"),
        "generator_bound": load.get("generator_bound"),
        "generator": load.get("generator"),
        "scenarios": scen,
        "comparison": summary.get("comparison"),
        "stdout_tail": stdout[-1500:],
        "stderr_tail": stderr[-1500:],
        "loadavg": os.getloadavg(),
        "summary_keys": sorted(summary),
    }


SCENARIOS = ("by_category", "row_by_id", "first_page", "versions")


def _fmt(v: Any, nd: int = 1) -> str:
    return "–" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def _outcomes(night: dict[str, Any], scenario: str) -> str:
    """Outcome of every judged row of a scenario, compressed: `ok` if all ok, else metric=outcome for the others."""
    rows = [r for r in night.get("comparison") or [] if r["scenario"] == scenario]
    if not rows:
        return "–"
    kinds = {r["outcome"] for r in rows}
    if kinds == {"ok"}:
        return "ok"
    if len(kinds) == 1:
        return kinds.pop()
    return ", ".join(f"{r['metric'].removesuffix('_ms')}={r['outcome']}" for r in rows if r["outcome"] != "ok")


def _ci(r: dict[str, Any]) -> str:
    ci = r.get("ci")
    if not ci:
        return "–"
    return f"{ci[0]:+.1f} … {ci[1]:+.1f} {r.get('ci_unit') or ''}".strip()


def _comparison_rows(rows: list[dict[str, Any]]) -> list[str]:
    """One Markdown table row per comparison row (the table's header is the caller's)."""
    out = []
    for r in rows:
        ch = r.get("change")
        out.append(f"| {r['scenario']} | {r['metric']} | {_fmt(r.get('value'), 3)} | "
                   f"{_fmt(r.get('baseline'), 3)} | "
                   f"{'–' if ch is None else f'{ch:+.1f} ' + (r.get('change_unit') or '')} | {_ci(r)} | "
                   f"{_fmt(r.get('robust_z'), 1)} | {r.get('checks')} | {r.get('noise') or '–'} | "
                   f"**{r['outcome']}** |")
    return out


def tables(path: Path) -> str:
    d = json.loads(path.read_text())
    nights = d["nights"]
    out = [f"Source: `{path.relative_to(ROOT)}` — {d['meta']['command']}", "",
           "| night | kind | exit | verdict | by_category p50 / p95 / p99 ms | by_category outcome | row_by_id | "
           "first_page | versions | `*` rows | generator reasons | messages (--notify) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n in nights:
        sc = (n.get("scenarios") or {}).get(FILTER) or {}
        gen = "; ".join((n.get("generator") or {}).get("reasons") or []) or "–"
        out.append(f"| {n['night']} | {n['kind']} | {n['exit_code']} | {n['verdict']} | "
                   f"{_fmt(sc.get('p50'))} / {_fmt(sc.get('p95'))} / {_fmt(sc.get('p99'))} | "
                   f"{_outcomes(n, FILTER)} | {_outcomes(n, 'row_by_id')} | {_outcomes(n, 'first_page')} | "
                   f"{_outcomes(n, 'versions')} | {_outcomes(n, '*')} | {gen} | "
                   f"{'; '.join(n['messages']) if n.get('messages') else ('–' if 'messages' in n else 'n/a')} |")
    clean = [n for n in nights if n["kind"] == "clean"]
    judged = [n for n in clean if n["verdict"] not in ("insufficient_history", "inconclusive", None)]
    false = [n for n in clean if any(r["outcome"] == "regression" for r in n.get("comparison") or [])]
    inc = [n for n in nights if n["verdict"] == "inconclusive"]
    out += ["", f"Clean nights: {len(clean)}; judged (history ≥ min and not inconclusive): {len(judged)}; "
            f"clean nights with any `regression` row: {len(false)} "
            f"({', '.join(str(n['night']) for n in false) or 'none'}); inconclusive nights: {len(inc)} "
            f"({', '.join(str(n['night']) for n in inc) or 'none'}).", ""]
    for n in nights:
        if n["kind"] == "clean" and n not in false:
            continue
        out += [f"#### Night {n['night']} ({n['kind']}): exit {n['exit_code']}, verdict `{n['verdict']}`", ""]
        for r in n.get("verdict_reasons") or []:
            out.append(f"- {r}")
        out += ["", "| scenario | metric | value | baseline | change | interval | z | checks | noise | outcome |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        out += _comparison_rows(n.get("comparison") or [])
        out.append("")
    return "\n".join(out)


def rejudge(result_json: Path, home: Path) -> dict[str, Any]:
    """Counterfactual: every stored night re-judged with the gate (stats.compare_run, the same GateConfig) against
    all nights before it, *ignoring* the generator-bound flag (which made the pipeline call them inconclusive and
    never use them as baselines). Shows what the gate itself would have said about these measurements."""
    os.environ["LOADWATCH_HOME"] = str(home)
    os.environ.pop("LOADWATCH_DATABASE_URL", None)
    import sqlalchemy as sa

    from loadwatch import store
    from loadwatch.stats.gate import compare_run
    from loadwatch.stats.model import GateConfig, RunPoint

    engine = store.connect(None)  # the dedicated embedded store of that run; stopped when this process exits
    try:
        with engine.connect() as conn:  # every completed run, inconclusive ones included (recent_runs drops them)
            ids = [r.run_id for r in conn.execute(sa.text(
                "SELECT run_id FROM runs WHERE status = 'completed' ORDER BY started_at"))]
        stored = store.history_points(engine, ids)
    finally:
        engine.dispose()
    exp = {"nights": stored}

    def point(n: dict[str, Any]) -> RunPoint:
        return RunPoint(n["run_id"], n["started_at"], n["metrics"], n.get("histograms") or {}, False,
                        n.get("probe") if isinstance(n.get("probe"), dict) else None)

    cfg = GateConfig()
    d = json.loads(result_json.read_text())
    kinds = {n["label"]: n["kind"] for n in d["nights"]}
    pts = [point(n) for n in exp["nights"]]
    out = []
    for i, n in enumerate(exp["nights"]):
        rows = compare_run(pts[i], pts[:i], cfg) if i else []
        out.append({"index": i + 1, "run_id": n["run_id"], "verdict_stored": n.get("verdict"),
                    "generator_bound": n.get("generator_bound"), "rows": rows})
    label_by_night = [n["kind"] for n in d["nights"]]
    for j, o in enumerate(out):
        o["kind"] = label_by_night[j] if j < len(label_by_night) else "?"
    res = {"min_history": cfg.min_history, "nights": out, "kinds": kinds}
    (RESULTS / f"{result_json.stem}_rejudged.json").write_text(json.dumps(res, indent=1, default=str))
    return res


def rejudged_tables(path: Path) -> str:
    d = json.loads(path.read_text())
    mh = d["min_history"]
    out = [f"Source: `{path.relative_to(ROOT)}` (counterfactual: generator-bound flag ignored; each night judged by "
           f"stats.compare_run against every stored night before it; the gate needs {mh})", "",
           "| night | kind | stored verdict | by_category | row_by_id | first_page | versions | `*` rows |",
           "|---|---|---|---|---|---|---|---|"]
    for n in d["nights"]:
        out.append(f"| {n['index']} | {n['kind']} | {n['verdict_stored']} | " +
                   " | ".join(_outcomes({"comparison": n["rows"]}, sc) for sc in (*SCENARIOS, "*")) + " |")
    clean = [n for n in d["nights"] if n["kind"] == "clean" and n["index"] > mh]
    false = [n for n in clean if any(r["outcome"] == "regression" for r in n["rows"])]
    out += ["", f"Judgeable clean nights (index > {mh}): {len(clean)}; with any `regression` row: {len(false)} "
            f"({', '.join(str(n['index']) for n in false) or 'none'}).", ""]
    for n in d["nights"]:
        if n["kind"] == "clean" and n not in false:
            continue
        out += [f"#### Re-judged night {n['index']} ({n['kind']})", "",
                "| scenario | metric | value | baseline | change | interval | z | checks | noise | outcome |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        out += _comparison_rows(n["rows"])
        out.append("")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clean", type=int, default=12)
    ap.add_argument("--duration", type=float, default=6)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--max-clean", type=int, default=0,
                    help="run up to this many clean nights so that --clean of them are usable baselines")
    ap.add_argument("--workers", type=int, default=None, help="generator processes (default: loadwatch's)")
    ap.add_argument("--gen-nice", type=int, default=0,
                    help="run loadwatch under `nice -n N` (negative: give the generator priority on a loaded box)")
    ap.add_argument("--night-timeout", type=float, default=240)
    ap.add_argument("--datasette", default="/work/datasette-venv/bin/datasette")
    ap.add_argument("--work", default=None, help="scratch directory (default: a new temp dir, removed at the end)")
    ap.add_argument("--name", default="real_app")
    ap.add_argument("--rejudge", nargs=2, metavar=("RESULT_JSON", "LOADWATCH_HOME"),
                    help="re-judge a finished run's stored nights ignoring the generator-bound flag, and exit")
    ap.add_argument("--growth-nights", type=int, default=1, help="nights of fault B (the table doubled) in a row")
    ap.add_argument("--restore-nights", type=int, default=0,
                    help="nights after fault B with the added rows deleted again (recovery)")
    ap.add_argument("--notify", action="store_true",
                    help="a notify: section to a loopback webhook receiver; each night lists the messages it got")
    ap.add_argument("--tables", nargs="*", help="print the markdown tables of existing result JSONs and exit")
    args = ap.parse_args()
    if args.rejudge:
        res = rejudge(Path(args.rejudge[0]).resolve(), Path(args.rejudge[1]))
        print(f"re-judged {len(res['nights'])} nights -> {RESULTS}/{Path(args.rejudge[0]).stem}_rejudged.json")
        return 0
    if args.tables is not None:
        print("\n\n".join((rejudged_tables if p.endswith("_rejudged.json") else tables)(Path(p).resolve())
                           for p in args.tables))
        return 0

    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {0})  # the generator (our child) on core 0, Datasette on core 1
    work = Path(args.work or tempfile.mkdtemp(prefix="lw-realapp-"))
    work.mkdir(parents=True, exist_ok=True)
    home, outs, db = work / "home", work / "out", work / "items.db"
    home.mkdir(exist_ok=True)
    outs.mkdir(exist_ok=True)
    started = datetime.now(UTC)
    meta: dict[str, Any] = {
        "command": " ".join([sys.executable, *sys.argv]),
        "started_at": started.isoformat(),
        "loadavg_start": os.getloadavg(),
        "cpus": os.cpu_count(),
        "workers": args.workers, "gen_nice": args.gen_nice,
        "rows": args.rows, "rate": args.rate, "duration": args.duration, "warmup": args.warmup,
    }
    print(f"[real_app] work dir {work}", flush=True)
    if db.exists():
        db.unlink()
    t0 = time.monotonic()
    build_db(db, args.rows)
    con = sqlite3.connect(db)
    con.execute("CREATE INDEX idx_items_category ON items(category)")
    con.commit()
    cats = [r[0] for r in con.execute("SELECT DISTINCT category FROM items ORDER BY category")]
    con.close()
    meta["db_build_s"] = round(time.monotonic() - t0, 1)
    meta["distinct_categories"] = len(cats)
    meta["plan_with_index"] = query_plan(db)
    rng = random.Random(7)
    ids = [str(rng.randrange(1, args.rows + 1)) for _ in range(200)]
    port = free_port()
    plan = work / "plan.yaml"
    receiver = None
    notify = ""
    if args.notify:  # a real webhook receiver on loopback (tests/notify/notify_receiver.py), the plan's defaults
        sys.path.insert(0, str(ROOT / "tests" / "notify"))
        from notify_receiver import Receiver

        receiver = Receiver()
        notify = f"notify:\n  urls: [\"json://127.0.0.1:{receiver.port}/hook\"]\n"
    plan.write_text(PLAN.format(port=port, rate=args.rate, cats=", ".join(f'"{c}"' for c in cats[:200]),
                                ids=", ".join(f'"{i}"' for i in ids), notify=notify))
    meta["plan"] = plan.read_text()
    nights: list[dict[str, Any]] = []
    told = 0

    def heard(n: dict[str, Any]) -> None:
        """The messages the receiver got during night n (their titles), when --notify."""
        nonlocal told
        if receiver is not None:
            n["messages"] = [m.get("title") for m in receiver.messages[told:]]
            told = len(receiver.messages)

    ds = Datasette(args.datasette, db, port, work / "datasette.log")
    results_json = RESULTS / f"{args.name}.json"

    def save() -> None:
        results_json.write_text(json.dumps({"meta": meta, "nights": nights}, indent=1, default=str))

    def night(i: int, kind: str, label: str) -> dict[str, Any]:
        """Night i through the real CLI: what it measured and what the receiver heard, saved at once."""
        n = run_night(args, home, plan, outs / f"night{i:02d}", label)
        n["night"], n["kind"] = i, kind
        heard(n)
        nights.append(n)
        save()
        print(f"[real_app] night {i:02d} {kind} exit={n['exit_code']} verdict={n['verdict']} wall={n['wall_s']}s "
              f"load={n['loadavg'][0]:.1f} messages={n.get('messages')}", flush=True)
        return n

    try:
        ds.start()
        meta["datasette_pid"] = ds.pid
        base = f"http://127.0.0.1:{port}"
        meta["direct_ms_with_index"] = {
            "by_category": timed_get(f"{base}/items/items.json?category={cats[1]}&_size=20"),
            "first_page": timed_get(f"{base}/items/items.json?_size=20"),
        }
        # --clean nights; with --max-clean > --clean, more clean nights (bounded) until --clean of them were not
        # inconclusive: an inconclusive night is never a baseline, so the gate would lack history for the faults.
        i = 0
        while i < max(args.clean, args.max_clean or 0):
            usable = sum(1 for x in nights if x["verdict"] not in (None, "inconclusive"))
            if i >= args.clean and usable >= args.clean:
                break
            i += 1
            night(i, "clean", f"clean {i}")
        args.clean = i

        # Fault A: drop the index on the filtered column while Datasette runs.
        con = sqlite3.connect(db)
        con.execute("DROP INDEX idx_items_category")
        con.commit()
        con.close()
        meta["plan_without_index"] = query_plan(db)
        assert "SCAN" in meta["plan_without_index"] and "idx_items_category" not in meta["plan_without_index"], \
            meta["plan_without_index"]
        meta["direct_ms_without_index"] = {
            "by_category": timed_get(f"{base}/items/items.json?category={cats[1]}&_size=20", n=10),
        }
        i = args.clean + 1
        night(i, "fault_index_dropped", "fault: index on category dropped")

        # Fault B (global): index back, table doubled (300k more rows): every query on the table costs more.
        ds.stop()
        build_db(db, args.rows, start_id=args.rows + 1, seed=2)
        con = sqlite3.connect(db)
        con.execute("CREATE INDEX idx_items_category ON items(category)")
        con.commit()
        meta["rows_after_growth"] = con.execute("SELECT count(*) FROM items").fetchone()[0]
        con.close()
        meta["plan_after_growth"] = query_plan(db)
        ds.start()
        meta["direct_ms_after_growth"] = {
            "by_category": timed_get(f"{base}/items/items.json?category={cats[1]}&_size=20"),
            "first_page": timed_get(f"{base}/items/items.json?_size=20"),
        }
        for _ in range(args.growth_nights):
            i += 1
            night(i, "fault_global_growth", "fault: table doubled (global)")
        if args.restore_nights:  # the rows added by the growth deleted again: the table as on the clean nights
            ds.stop()
            con = sqlite3.connect(db)
            con.execute("DELETE FROM items WHERE id > ?", (args.rows,))
            con.commit()
            con.execute("VACUUM")
            meta["rows_restored"] = con.execute("SELECT count(*) FROM items").fetchone()[0]
            con.close()
            ds.start()
        for _ in range(args.restore_nights):
            i += 1
            night(i, "restored", "restored: the clean nights' table")
    finally:
        ds.stop()
        if receiver is not None:
            receiver.stop()
        meta["finished_at"] = datetime.now(UTC).isoformat()
        meta["loadavg_end"] = os.getloadavg()
        save()
        # Keep the per-night reports next to the raw JSON only in the scratch dir; remove the DB (hundreds of MB).
        if db.exists():
            db.unlink()
        print(f"[real_app] wrote {results_json}; per-night outputs in {outs}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
