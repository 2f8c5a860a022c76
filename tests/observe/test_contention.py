"""The busy-machine rule (loadwatch.observe.contention): pure units on readings, and the readings themselves
against real processes on this host (a CPU burner outside our process tree, and the target's own work)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import psutil
import pytest

from loadwatch.observe import contention
from loadwatch.observe.contention import Snapshot, assess
from loadwatch.pipeline.compare import decide_verdict, machine_busy

LINUX = sys.platform.startswith("linux") and os.path.exists(f"/proc/{os.getpid()}/schedstat")


def _snap(at: float, host: float, cpu_ms: float | None, wait_ms: float | None, ours: float = 0.0,
          target: float = 0.0, others: dict[int, tuple[str, float]] | None = None) -> Snapshot:
    return Snapshot(at=at, host_busy_s=host, target_cpu_ns=None if cpu_ms is None else int(cpu_ms * 1e6),
                    target_wait_ns=None if wait_ms is None else int(wait_ms * 1e6), ours_cpu_s=ours,
                    target_cpu_s=target, others=others or {})


def test_a_target_that_queued_behind_others_for_a_material_share_of_its_latency_is_busy():
    # 10 s: host busy 15 core-s, of which ours 2 and the target's 1: others 12 core-s = 1.2 cores, 12/14 of the CPU
    # the target competed with; it waited 1.5 s over 500 requests: 3 ms each, 2.57 ms of it behind others, against
    # a mean latency of 5 ms (51 %)
    before = _snap(0, 100, 0, 0, ours=10, target=5, others={7: ("backup", 50.0)})
    after = _snap(10, 115, 1000, 1500, ours=12, target=6, others={7: ("backup", 59.0)})
    out = assess(before, after, requests=500, mean_latency_ms=5.0)
    assert out["busy"] and out["others_cores"] == pytest.approx(1.2)
    assert out["others_share"] == pytest.approx(12 / 14, abs=1e-3)
    assert out["queue_ms_per_request"] == pytest.approx(3.0 * 12 / 14, abs=1e-3)
    assert out["queue_share"] == pytest.approx(3.0 * 12 / 14 / 5.0, abs=1e-3)
    assert out["target_wait_share"] == pytest.approx(0.15) and out["target_wait_to_cpu"] == pytest.approx(1.5)
    assert out["top_others"] == [{"name": "backup", "cores": 0.9}]
    assert "backup 90 %" in out["reason"] and "1.20 cores" in out["reason"] and "51 %" in out["reason"]


def test_a_light_target_is_judged_by_its_latency_not_by_the_share_of_the_window():
    # the demo target beside two burners per core (benchmarks/results/contention_before_fix: 0.03 cores, waited
    # 3.6 % of the window, 1.2x its CPU): never 5 % of the window, yet 0.7 ms of queueing per request of ~2 ms
    before = _snap(0, 100, 0, 0, ours=10, target=5)
    after = _snap(8.9, 100 + 1.986 * 8.9, 270, 316, ours=10 + 0.097 * 8.9, target=5 + 0.031 * 8.9)
    out = assess(before, after, requests=445, mean_latency_ms=2.0)
    assert out["target_wait_share"] < 0.05 and out["busy"], out


def test_a_target_that_saturates_the_cores_itself_is_not_busy():
    # the target (and its database) used the cores and waited on each other: the competition was the run's own
    before = _snap(0, 100, 0, 0, ours=10, target=5)
    after = _snap(10, 119, 15_000, 15_000, ours=13, target=20)
    out = assess(before, after, requests=8000, mean_latency_ms=20.0)
    assert out["others_cores"] == pytest.approx(0.1) and out["others_share"] < 0.5
    assert not out["busy"] and out["reason"] is None


def test_others_busy_while_the_target_hardly_queued_is_not_busy():
    before = _snap(0, 100, 0, 0)
    after = _snap(10, 115, 1000, 50)  # waited 50 ms over 500 requests: 0.1 ms each against 5 ms, 2 %
    out = assess(before, after, requests=500, mean_latency_ms=5.0)
    assert out["others_cores"] == pytest.approx(1.5) and out["queue_share"] == pytest.approx(0.02)
    assert not out["busy"]


def test_queueing_just_below_the_gate_floor_is_not_busy_and_at_it_is():
    before = _snap(0, 100, 0, 0)
    below = assess(before, _snap(10, 115, 1000, 124), requests=500, mean_latency_ms=5.0)  # 4.96 %
    at = assess(before, _snap(10, 115, 1000, 125), requests=500, mean_latency_ms=5.0)  # 5.0 %
    assert not below["busy"] and at["busy"]


def test_without_requests_or_answers_it_is_not_judged():
    out = assess(_snap(0, 100, 0, 0), _snap(10, 115, 1000, 1500))
    assert not out["busy"] and out["queue_share"] is None and out["target_wait_share"] == pytest.approx(0.15)
    assert not assess(_snap(0, 100, 0, 0), _snap(10, 115, 1000, 1500), requests=500, mean_latency_ms=None)["busy"]


def test_no_scheduler_statistics_means_not_checked_never_busy():
    out = assess(_snap(0, 100, None, None), _snap(10, 120, None, None))
    assert not out["busy"] and out["target_wait_share"] is None and "not checked" in out["reason"]


def test_the_verdict_of_a_run_on_a_busy_machine_is_inconclusive_whatever_it_measured():
    reason = "the machine was busy with other work: ..."
    summary = {"target_stats": {"contention": {"busy": True, "reason": reason}}}
    assert machine_busy(summary) == reason
    assert machine_busy({"target_stats": {"contention": {"busy": False, "reason": None}}}) is None
    assert machine_busy({}) is None
    regressed = [{"scenario": "*", "metric": "p95_ms", "outcome": "regression", "change_percent": 80.0,
                  "ci": [60.0, 100.0]}]
    verdict, reasons = decide_verdict(regressed, [], n_baseline=10, min_history=5, machine_busy=reason)
    assert verdict == "inconclusive" and reasons == [reason]


BURN = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end:\n    pass\n"


def _detached_burners(n: int, seconds: float) -> list[int]:
    """CPU burners that are not our descendants (a shell starts them and exits): someone else's work."""
    out = subprocess.run(
        ["sh", "-c", " ".join(f"{sys.executable} -c '{BURN.format(s=seconds)}' >/dev/null 2>&1 & echo $!;"
                              for _ in range(n))],
        capture_output=True, text=True, check=True,
    )
    return [int(x) for x in out.stdout.split()]


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@pytest.mark.skipif(not LINUX, reason="per-thread scheduler statistics are Linux's")
def test_real_readings_a_neighbour_burning_every_core_makes_a_busy_process_wait():
    # the "target": a child process that wants one core for 3 s; the neighbours: one burner per core, detached
    cores = psutil.cpu_count() or 1
    target = subprocess.Popen([sys.executable, "-c", BURN.format(s=3.0)])
    burners: list[int] = []
    try:
        burners = _detached_burners(cores, 4.0)
        assert not set(burners) & {c.pid for c in psutil.Process().children(recursive=True)}
        before = contention.snapshot({target.pid})
        time.sleep(2.0)
        out = assess(before, contention.snapshot({target.pid}))
    finally:
        target.kill()
        target.wait()
        for pid in burners:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
    # cores + 1 processes want `cores` CPUs: the target waits about 1/(cores+1) of the time or more
    assert out["target_wait_share"] > 0.1 and out["target_wait_to_cpu"] > 0.2
    assert out["others_cores"] > 0.5 * cores
    assert any(o["name"].startswith("python") for o in out["top_others"])


@pytest.mark.skipif(not LINUX, reason="per-thread scheduler statistics are Linux's")
def test_real_readings_our_own_work_is_ours_not_someone_elses():
    # this process's own children (as the load generators are) burn CPU: counted as ours, never as others,
    # including after they ended and were reaped (their time then sits in our children_* times)
    target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3)"])
    ours = [subprocess.Popen([sys.executable, "-c", BURN.format(s=1.0)]) for _ in range(2)]
    try:
        before = contention.snapshot({target.pid})
        for p in ours:
            p.wait()  # reaped: their CPU moves into this process's children_* times
        after = contention.snapshot({target.pid})
    finally:
        target.kill()
        target.wait()
    assert [p.returncode for p in ours] == [0, 0]
    assert not {p.pid for p in ours} & (set(before.others) | set(after.others))
    assert target.pid not in before.others
    # each burner spun for about a second (less when this box is busy): at least some of it must be ours
    assert after.ours_cpu_s - before.ours_cpu_s > 0.2
