"""The capacity search against real loopback servers of known capacity, through the core function and the CLI.

Short steps and low rates (the machine is shared); no assertion on how long anything takes, only on the bounds
the search promises (its budget) and on what it found."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psutil
import pytest

from loadwatch.capacity.search import DEFAULT_ERROR_SLO
from loadwatch.capacity.stepper import find_capacity, process_cpu_probe
from loadwatch.cli import main
from loadwatch.config import CapacitySpec, Plan, plan_from_url

# quick steps: 1 s settle + 1.5 s measured (up to 3 s at low rates for 150 requests), one generator process
QUICK = {"settle": 1.0, "step": 1.5, "max_step": 3.0, "min_requests": 150}


def _plan(url: str) -> Plan:
    return plan_from_url(url + "/", rate=1.0, users=None, duration=5.0, warmup=0.0)


def test_pool_server_bracket_invariants(server):
    # 2 slots x 20 ms: the server serves at most 100 req/s whatever the CPU does
    url = server("--mode", "pool", "--workers", "2", "--service-ms", "20")
    proc = psutil.Process(int(_pid_by_port(url)))
    spec = CapacitySpec(slos=["p99 < 100ms"], start_rate=40, max_rate=1000, budget=100, resolution=0.1, **QUICK)
    events: list[dict] = []
    result = find_capacity(_plan(url), spec, workers=1, progress=events.append,
                           cpu_probe=process_cpu_probe(lambda: {proc.pid}))
    assert result.outcome == "found", result.reason
    lo, hi = result.bracket
    assert lo is not None and hi is not None
    assert result.capacity_rps == lo < hi
    assert result.steps[-1].kind == "confirm" and result.steps[-1].rate == lo and result.steps[-1].passed
    assert any(s.rate == hi and not s.passed for s in result.steps)
    for i, s in enumerate(result.steps):
        if s.passed and s.rate > lo:
            # only a pass that a later step at the same rate or below contradicted (a failed confirmation) may lie
            # above the answer
            assert any(not t.passed and t.rate <= s.rate for t in result.steps[i + 1 :]), (s, result.steps)
    # open model: above 100 req/s the queue grows without bound, so the answer cannot be far above it (a busy
    # machine can push it below, never above)
    assert lo <= 110
    assert result.binding_slo in ("p99 < 100ms", DEFAULT_ERROR_SLO)
    assert result.elapsed_s <= spec.budget
    assert all(s.target_cpu is not None and s.target_cpu >= 0 for s in result.steps)
    assert any(e["event"] == "tick" for e in events) and sum(e["event"] == "step" for e in events) == len(result.steps)
    d = result.to_dict()
    assert set(d["steps"][0]) >= {"rate", "achieved", "p50", "p95", "p99", "error_rate", "target_cpu", "passed",
                                  "breaches"}


def test_budget_is_respected(server):
    url = server("--mode", "pool", "--workers", "64", "--service-ms", "1")  # far above the rates reached
    spec = CapacitySpec(slos=["p99 < 200ms"], start_rate=20, budget=12, **QUICK)
    t0 = time.monotonic()
    result = find_capacity(_plan(url), spec, workers=1)
    wall = time.monotonic() - t0
    assert result.outcome == "budget", result.reason
    assert result.capacity_rps is None
    assert result.elapsed_s <= spec.budget
    assert wall <= spec.budget + 2.0  # the watchdog stops a step ~1 s before the budget; stopping takes ~1 s
    assert all(s.passed for s in result.steps)


def test_immediate_failure_cli(server, tmp_path, capsys):
    url = server("--mode", "error")
    out = tmp_path / "cap.json"
    code = main(["capacity", url + "/", "--slo", "p99 < 100ms", "--start-rate", "50", "--budget", "60",
                 "--step", "1", "--workers", "1", "--json", str(out), "--quiet"])
    assert code == 1
    doc = json.loads(out.read_text())["capacity"]
    assert doc["capacity_rps"] is None
    assert doc["outcome"] == "no_capacity"
    # failing outright, seen twice (a breach counts only when seen twice), then nothing below is tried
    seen = [(st["rate"], st["retry"], st["error_rate"]) for st in doc["steps"]]
    assert seen == [(50, False, 100.0), (50, True, 100.0)]
    assert DEFAULT_ERROR_SLO in doc["reason"]
    assert "no rate meets the SLO" in capsys.readouterr().out


@contextmanager
def _starved_generator() -> Iterator[None]:
    """Take the CPU away from the load generator's processes in bursts (SIGSTOP 150 ms out of every 600 ms), as an
    overloaded machine does: its sends go out late (and the p99 from the intended send breaks) while the target
    answers at once; the generator must say so."""
    done = threading.Event()
    me = psutil.Process()

    def starve() -> None:
        deadline = time.monotonic() + 60.0
        while not done.is_set() and time.monotonic() < deadline:
            gens = []
            for child in me.children(recursive=True):
                try:
                    cmd = " ".join(child.cmdline())
                except psutil.Error:
                    continue
                if "multiprocessing" in cmd and "resource_tracker" not in cmd:
                    gens.append(child)
            for g in gens:
                _signal(g, signal.SIGSTOP)
            done.wait(0.15)
            for g in gens:
                _signal(g, signal.SIGCONT)
            done.wait(0.45)

    t = threading.Thread(target=starve, daemon=True)
    t.start()
    try:
        yield
    finally:
        done.set()
        t.join(timeout=5)


def _signal(p: psutil.Process, sig: int) -> None:
    with suppress(psutil.Error):  # it may have exited between the listing and the signal
        p.send_signal(sig)


def test_one_server_pause_does_not_decide(server):
    # 4 slots x 10 ms (400 req/s), searched up to 120 req/s (well below the knee, so a loaded machine does not
    # decide). During the first step, at 40 req/s, the server is stopped once for 0.4 s (a GC pause): the step
    # breaks p99 < 100ms. It is measured again, passes, and the search goes on up; without the second look it would
    # have answered below 40 req/s.
    url = server("--mode", "pool", "--workers", "4", "--service-ms", "10")
    proc = psutil.Process(int(_pid_by_port(url)))
    paused = threading.Event()

    def pause() -> None:
        proc.send_signal(signal.SIGSTOP)
        time.sleep(0.4)
        proc.send_signal(signal.SIGCONT)

    def progress(p: dict) -> None:
        # one pause, inside the first step's measured window (after its 1 s settle)
        if p["event"] == "tick" and p["step"] == 1 and p.get("phase") == "measure" and not paused.is_set():
            paused.set()
            threading.Thread(target=pause, daemon=True).start()

    spec = CapacitySpec(slos=["p99 < 100ms"], start_rate=40, max_rate=120, budget=90, **QUICK)
    try:
        result = find_capacity(_plan(url), spec, workers=1, progress=progress)
    finally:
        _signal(proc, signal.SIGCONT)
    assert paused.is_set()
    first, again = result.steps[:2]
    assert (first.rate, again.rate) == (40, 40)
    assert not first.passed and first.p99 is not None and first.p99 >= 100, first
    assert again.retry and again.passed, again
    assert result.outcome in ("max_rate", "found"), result.reason
    assert result.capacity_rps is not None and result.capacity_rps > 40
    assert result.elapsed_s <= spec.budget


def test_generator_bound_stops_without_a_number(server, tmp_path, capsys):
    url = server("--mode", "pool", "--workers", "64", "--service-ms", "1")
    out = tmp_path / "cap.json"
    with _starved_generator():
        code = main(["capacity", url + "/", "--slo", "p99 < 100ms", "--start-rate", "200", "--budget", "45",
                     "--step", "1.5", "--workers", "1", "--json", str(out), "--quiet"])
    assert code == 3
    doc = json.loads(out.read_text())["capacity"]
    assert doc["outcome"] == "generator_bound"
    assert doc["capacity_rps"] is None
    assert doc["reason"].startswith("generator-bound at 200 req/s: the capacity is above what this generator can offer")
    assert doc["steps"][-1]["generator_bound"]
    assert "generator-bound at 200 req/s" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("slo", "needle"),
    [
        ("p99 <<< 5ms", "cannot parse threshold"),
        ("p99 < 5 parsecs", "cannot parse threshold"),
        ("p97.5x < 5ms", "cannot parse"),
        ("error_rate < 5ms", "percentage"),
        ("nosuch: p99 < 5ms", "nosuch"),
    ],
)
def test_slo_syntax_errors_exit_2(slo, needle, capsys):
    # port 9 (discard) is never contacted: the SLO is refused first
    assert main(["capacity", "http://127.0.0.1:9/", "--slo", slo]) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_slo_and_bad_plan_section_exit_2(tmp_path, capsys):
    assert main(["capacity", "http://127.0.0.1:9/"]) == 2
    assert "--slo" in capsys.readouterr().err
    plan = tmp_path / "p.yaml"
    plan.write_text("load: {rate: 10, duration: 5}\nscenarios:\n  - {name: a, path: /}\n"
                    "capacity: {slos: ['p99 < 50ms'], budget: 30, start_rate: 500, max_rate: 100}\n")
    assert main(["capacity", "http://127.0.0.1:9", "--plan", str(plan)]) == 2
    assert "start_rate" in capsys.readouterr().err
    plan.write_text("load: {rate: 10, duration: 5}\nscenarios:\n  - {name: a, path: /}\n"
                    "capacity: {slos: ['b: p99 < 50ms']}\n")
    assert main(["capacity", "http://127.0.0.1:9", "--plan", str(plan)]) == 2
    assert "capacity" in capsys.readouterr().err


def _pid_by_port(url: str) -> int:
    from loadwatch.observe.discovery import pids_by_port

    port = int(url.rsplit(":", 1)[1])
    pids = pids_by_port(port) - {os.getpid()}
    assert len(pids) == 1
    return pids.pop()
