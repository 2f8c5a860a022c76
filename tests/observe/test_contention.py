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


def test_a_target_that_waited_while_others_used_the_cores_is_busy():
    # 10 s: host busy 15 core-s, of which ours 2 and the target's 1: others 12 core-s = 1.2 cores;
    # the target ran 1 s and waited 1.5 s
    before = _snap(0, 100, 0, 0, ours=10, target=5, others={7: ("backup", 50.0)})
    after = _snap(10, 115, 1000, 1500, ours=12, target=6, others={7: ("backup", 59.0)})
    out = assess(before, after)
    assert out["busy"] and out["others_cores"] == pytest.approx(1.2)
    assert out["target_wait_share"] == pytest.approx(0.15) and out["target_wait_to_cpu"] == pytest.approx(1.5)
    assert out["top_others"] == [{"name": "backup", "cores": 0.9}]
    assert "backup 90 %" in out["reason"] and "1.20 cores" in out["reason"]


def test_a_target_that_saturates_the_cores_itself_is_not_busy():
    # the target (and its database) used the cores and waited on each other: nothing left for others
    before = _snap(0, 100, 0, 0, ours=10, target=5)
    after = _snap(10, 119, 15_000, 15_000, ours=13, target=20)
    out = assess(before, after)
    assert out["others_cores"] == pytest.approx(0.1) and not out["busy"] and out["reason"] is None


def test_others_busy_while_the_target_did_not_wait_is_not_busy():
    before = _snap(0, 100, 0, 0)
    after = _snap(10, 115, 1000, 50)  # waited 5 % of its CPU time: a niced neighbour, or other cores
    out = assess(before, after)
    assert out["others_cores"] == pytest.approx(1.5) and not out["busy"]


def test_a_target_that_waited_less_than_it_ran_is_not_busy():
    # a real night beside low-priority neighbours: waited 0.6x its CPU time (8 % of the window), p50 unchanged
    out = assess(_snap(0, 100, 0, 0), _snap(10, 115, 1300, 800))
    assert out["others_cores"] == pytest.approx(1.5) and out["target_wait_share"] == pytest.approx(0.08)
    assert not out["busy"]


def test_an_idle_target_with_a_few_waits_is_not_busy():
    # wait/CPU is high but the wait is 0.5 % of the window: no latency can carry that
    out = assess(_snap(0, 100, 0, 0), _snap(10, 115, 10, 50))
    assert out["target_wait_to_cpu"] == pytest.approx(5.0) and not out["busy"]


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
