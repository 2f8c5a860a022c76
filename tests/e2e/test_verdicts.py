"""Verdicts that never lie, end to end: the real flow, the real engine and store, against loopback servers that
misbehave the way real ones do.

- a JSON service whose p95 jumps 33x when 1 request in 12 waits 25 ms: a regression (exit 1), however noisy
  its history is;
- a scenario whose every request is closed without an answer: latency null (never 0 ms), its latency threshold
  breached (exit 1), nothing stored as its latency;
- a starved generator: inconclusive (exit 3), stored, and never a baseline for the next night."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from loadwatch.cli import main
from loadwatch.params import RunParams

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BODY = b'{"items": [1, 2, 3], "ok": true}'


class EdgeServer:
    """A keep-alive HTTP/1.1 server on loopback. Every answer takes `base_ms` (a small JSON service's own work:
    it keeps a loaded test machine's millisecond of generator jitter small beside the latency being judged);
    GET /dead closes the connection without answering; every `slow_every`-th request (when set) waits `slow_ms`
    more before its answer."""

    def __init__(self) -> None:
        self.base_ms = 5.0
        self.slow_every = 0
        self.slow_ms = 0.0
        self.count = 0
        self.port = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        self._ready.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if head.startswith(b"GET /dead"):
                    break
                self.count += 1
                wait = self.base_ms
                if self.slow_every and self.count % self.slow_every == 0:
                    wait += self.slow_ms
                await asyncio.sleep(wait / 1000.0)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _main(self) -> None:
        srv = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = srv.sockets[0].getsockname()[1]
        self._ready.set()
        while not self._stop.is_set():
            await asyncio.sleep(0.05)
        srv.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def edge() -> Iterator[EdgeServer]:
    server = EdgeServer()
    yield server
    server.stop()


def _plan(folder: Path, url: str, scenarios: list[dict[str, object]], thresholds: list[str],
          rate: float = 100.0, duration: float = 3.0, min_history: int = 10) -> str:
    doc = {
        "name": "edge",
        "target": {"url": url, "health_path": "/ok"},
        "load": {"model": "open", "rate": rate, "duration": duration, "warmup": 1, "workers": 1,
                 "timeout": {"connect": 2, "total": 2}},
        "scenarios": scenarios,
        "thresholds": thresholds,
        "verdict": {"min_history": min_history},
    }
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _summary(out: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((out / "summary.json").read_text())
    return data


def test_a_tail_regression_fails_the_night_however_noisy_the_history(prefect_harness, fresh_db, tmp_path,
                                                                      monkeypatch, edge):
    from loadwatch.flows.nightly import nightly

    monkeypatch.setenv("LOADWATCH_DATABASE_URL", fresh_db)
    # judged from the fifth night (the plan's verdict.min_history): five nights of history, then one clean night judged
    plan = _plan(tmp_path, edge.url, [{"name": "items", "path": "/items"}, {"name": "item", "path": "/item/1"}], [],
                 min_history=5)
    for night in range(6):
        out = tmp_path / f"n{night:02d}"
        state = nightly(**RunParams(plan=plan, out_dir=str(out), trigger="ci").model_dump(), return_state=True)
        s = _summary(out)
        assert s["load"]["errors"] == 0, s["load"]["errors_by_kind"]  # type: ignore[index]
        # the same-night gate never flags a clean night; the change-point detector may confirm a small real drift
        # of this in-process server (it shares the test process with every flow run so far: CI saw p95 +9.0 % over
        # a few nights once), which is what it is for, so only that is allowed as a reason to fail a clean night
        gate_regressions = [c for c in s["comparison"] if c["outcome"] == "regression"]  # type: ignore[union-attr]
        assert not gate_regressions, s["verdict_reasons"]
        # (such a change point opens a change, issue 22: it fails while its series stays away from the baseline)
        from_points = {c["change_id"] for c in s["open_changes"]  # type: ignore[union-attr]
                       if c["source"] == "change_point"}
        assert state.is_completed() or all(
            r.startswith("change point confirmed:") or (r.startswith(("open change:", "listed, not failing:"))
                                                        and any(i in r for i in from_points))
            for r in s["verdict_reasons"]  # type: ignore[union-attr]
        ), s["verdict_reasons"]
    assert s["verdict"] != "insufficient_history" and len(s["baseline_run_ids"]) == 5  # type: ignore[arg-type]
    edge.slow_every, edge.slow_ms = 12, 50.0  # a lock, a GC pause: 1 request in 12 waits 50 ms more
    out = tmp_path / "n06"
    code = main(["run", "--plan", plan, "--out", str(out), "--trigger", "ci"])
    s = _summary(out)
    assert code == 1, s["verdict_reasons"]
    assert s["verdict"] == "regression"
    rows = {(c["scenario"], c["metric"]): c for c in s["comparison"]}  # type: ignore[union-attr]
    p95 = rows[("*", "p95_ms")]
    assert p95["outcome"] == "regression", p95
    assert p95["change_percent"] > 300  # p95 about 6 ms -> about 55 ms
    lo, hi = p95["ci"]
    assert lo <= p95["change"] <= hi  # the interval is of the very change printed beside it
    assert "noise" in p95 and "noisy" not in {c["outcome"] for c in s["comparison"]}  # type: ignore[union-attr]


def test_a_scenario_that_never_answers_has_no_latency_and_breaches_its_threshold(prefect_harness, fresh_db,
                                                                                 tmp_path, monkeypatch, edge):
    monkeypatch.setenv("LOADWATCH_DATABASE_URL", fresh_db)
    plan = _plan(tmp_path, edge.url, [{"name": "alive", "path": "/alive"}, {"name": "dead", "path": "/dead"}],
                 ["dead: p95 < 50ms"], rate=60, duration=2.5)
    out = tmp_path / "dead"
    code = main(["run", "--plan", plan, "--out", str(out), "--trigger", "ci"])
    s = _summary(out)
    dead = s["load"]["scenarios"]["dead"]  # type: ignore[index]
    assert dead["requests"] > 0 and dead["errors"] == dead["requests"]
    assert all(v is None for v in dead["latency_ms"].values())  # no answers: null, never 0 ms
    assert code == 1 and s["verdict"] == "threshold_breach", s["verdict_reasons"]
    [t] = [t for t in s["thresholds"] if not t.get("default")]  # type: ignore[union-attr]
    assert t["passed"] is False and t["reason"] == "no answers to measure"
    defaults = {t["expr"]: t["passed"] for t in s["thresholds"] if t.get("default")}  # type: ignore[union-attr]
    assert defaults == {"error_rate < 1%": False, "alive: answers > 0": True, "dead: answers > 0": False}
    assert any("scenario dead 100.0 % of" in r for r in s["verdict_reasons"])  # type: ignore[union-attr]
    assert "no answers" in (out / "report.md").read_text() or "no answers" in (out / "report.html").read_text()
    engine = sa.create_engine(fresh_db.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT metric FROM measurements WHERE scenario = 'dead'")).scalars().all()
    engine.dispose()
    assert "p95_ms" not in stored and "error_rate" in stored


def _sends_per_cpu_second(url: str) -> float:
    """How many sends one generator process makes per second of its own CPU against `url` on this machine, measured
    now at a rate it can hold (20,000 req/s for 1.5 s): what it could send with a whole core to itself. It does not
    depend on how busy the machine is (a process given less than a core sends less, never more)."""
    from loadwatch import engine
    from loadwatch.config import parse_plan

    plan = parse_plan({"name": "ceiling", "target": {"url": url},
                       "load": {"model": "open", "rate": 20_000, "duration": 1.5, "warmup": 0.5, "workers": 1,
                                "timeout": {"connect": 2, "total": 2}},
                       "scenarios": [{"name": "items", "path": "/items"}]})
    s = engine.run_load(plan, workers=1).summary
    return float(s["sends"]) / max(float(s["workers"][0]["cpu_s"]), 1e-3)


def test_a_starved_generator_is_inconclusive_and_never_a_baseline(prefect_harness, fresh_db, tmp_path,
                                                                   monkeypatch, edge):
    monkeypatch.setenv("LOADWATCH_DATABASE_URL", fresh_db)
    # the server answers at once, so the generator is the bottleneck, not the server: with its 5 ms of work the
    # server held every connection, the in-flight cap dropped most sends (cheap for the generator), and CI once saw
    # the run judged on its errors instead (the target's doing, correctly not generator-bound)
    edge.base_ms = 0.0
    # one generator process asked for four times what it could send with a whole core (measured now, not assumed: a
    # fresh machine of this kind once kept up with 60,000 req/s; this one sends ~100,000 per CPU second): it falls
    # behind its schedule whatever the machine's speed or load
    rate = round(4 * _sends_per_cpu_second(edge.url))
    plan = _plan(tmp_path, edge.url, [{"name": "items", "path": "/items"}], [], rate=rate, duration=3)
    out = tmp_path / "starved"
    started = time.monotonic()
    code = main(["run", "--plan", plan, "--out", str(out), "--trigger", "ci"])
    assert time.monotonic() - started < 300
    s = _summary(out)
    assert s["load"]["generator_bound"] is True, s["load"]["generator"]  # type: ignore[index]
    assert code == 3 and s["verdict"] == "inconclusive", s["verdict_reasons"]
    assert any("generator" in r and "--workers" in r for r in s["verdict_reasons"])  # type: ignore[union-attr]
    # stored, but the next night does not compare with it
    plan_ok = _plan(tmp_path, edge.url, [{"name": "items", "path": "/items"}], [], rate=rate, duration=3)
    out2 = tmp_path / "next"
    main(["run", "--plan", plan_ok, "--out", str(out2), "--trigger", "ci"])
    assert s["run_id"] not in _summary(out2)["baseline_run_ids"]  # type: ignore[operator]
    engine = sa.create_engine(fresh_db.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        verdict = conn.execute(sa.text("SELECT verdict FROM runs WHERE run_id = :r"), {"r": s["run_id"]}).scalar()
    engine.dispose()
    assert verdict == "inconclusive"
