"""Was the machine busy with someone else's work while we measured? (a noisy neighbour)

A load test shares its host with whatever else runs there: a CI runner's other jobs, a backup, a build. When other
processes take the cores the target needs, the target's latencies grow although its code did not change, and a
nightly comparison would call that a regression. Two readings over the load window separate this from a slower
target (Linux only; elsewhere the check is skipped and says so):

* **the target waited for a CPU**: the kernel's per-thread scheduler statistics (`/proc/<pid>/task/<tid>/schedstat`,
  the second field: time spent runnable on a run queue but not running) of the target's and its database's
  processes. Waiting as long as it ran (wait ≥ WAIT_TO_CPU × CPU) and for a material share of the wall time
  (≥ MIN_WAIT_SHARE) means its latencies include queueing for a core;
* **someone else used the cores**: host CPU time (`/proc/stat` through psutil: user, nice, system, steal) minus
  the CPU of the target, its database and loadwatch's own process tree (this process, its load generators once
  reaped, its Prefect server) is the CPU of processes outside the run: at least OTHERS_MIN_CORES on average.

Both must hold. A target that saturates the cores by itself (a regression that spawns CPU-heavy threads) makes its
own threads wait, but uses the CPU itself: nothing is left for "others", and the run is judged as usual. Others
busy while the target did not wait (a neighbour at low priority, or on other cores) changes nothing either. When
both hold, the run is `inconclusive` (exit 3): stored, explained, never a baseline; the reason names the busiest
outside processes that were alive at both ends of the window (short-lived ones are in the total, not the list).

Method and measured readings by situation: docs/METHOD.md §3.6, benchmarks/results/contention*.md."""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import psutil

from loadwatch.observations import ContentionWindow

__all__ = ["MIN_WAIT_SHARE", "OTHERS_MIN_CORES", "WAIT_TO_CPU", "Snapshot", "assess", "snapshot"]

WAIT_TO_CPU = 1.0  # the target waited at least as long as it ran
MIN_WAIT_SHARE = 0.05  # ... and at least 5 % of the window (an idle target's few microseconds are no evidence)
OTHERS_MIN_CORES = 0.5  # processes outside the run used half a core or more on average
TOP_OTHERS = 3


@dataclass(frozen=True)
class Snapshot:
    """One reading: monotonic time, host busy/total CPU seconds, the target's (and its database's) summed
    scheduler times, loadwatch's own tree CPU, and every other process's CPU (for naming the busiest)."""

    at: float
    host_busy_s: float
    target_cpu_ns: int | None  # None: no schedstat here (not Linux, or no access)
    target_wait_ns: int | None
    ours_cpu_s: float
    target_cpu_s: float
    others: dict[int, tuple[str, float]] = field(default_factory=dict)


def _schedstat(pids: Iterable[int]) -> tuple[int, int] | None:
    cpu = wait = 0
    seen = False
    for pid in pids:
        for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
            try:
                with open(path) as f:
                    run_ns, wait_ns, _ = f.read().split()
            except (OSError, ValueError):
                continue  # a thread that just ended
            cpu += int(run_ns)
            wait += int(wait_ns)
            seen = True
    return (cpu, wait) if seen else None


def _cpu_s(proc: psutil.Process, *, reaped: bool) -> float:
    try:
        t = proc.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return 0.0
    # children_* holds the CPU of children this process has waited for (the load generators after the load)
    return t.user + t.system + ((t.children_user + t.children_system) if reaped else 0.0)


def _own_tree() -> list[psutil.Process]:
    me = psutil.Process(os.getpid())
    try:
        return [me, *me.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return [me]


def snapshot(target_pids: Iterable[int]) -> Snapshot:
    """Reads the host, the target's processes (the target and its database backends) and everything else now."""
    targets = set(target_pids)
    sched = _schedstat(targets)
    ct = psutil.cpu_times()
    # user (guest included), nice, system and steal (a hypervisor's other guests); not irq/softirq, which on a
    # loopback load test is mostly our own packets being processed
    busy = ct.user + ct.system + getattr(ct, "nice", 0.0) + getattr(ct, "steal", 0.0)
    tree = [p for p in _own_tree() if p.pid not in targets]
    ours = sum(_cpu_s(p, reaped=True) for p in tree)
    # reaped too: a database server's backends that ended in the window are in its postmaster's children_* times
    target_cpu = sum(_cpu_s(p, reaped=True) for p in _procs(targets))
    skip = targets | {p.pid for p in tree}
    others: dict[int, tuple[str, float]] = {}
    for p in psutil.process_iter(["name", "cpu_times"]):
        if p.pid in skip or not p.info.get("cpu_times"):
            continue
        t = p.info["cpu_times"]
        others[p.pid] = (p.info.get("name") or "?", t.user + t.system)
    return Snapshot(
        at=time.monotonic(), host_busy_s=busy,
        target_cpu_ns=sched[0] if sched else None, target_wait_ns=sched[1] if sched else None,
        ours_cpu_s=ours, target_cpu_s=target_cpu, others=others,
    )


def _procs(pids: Iterable[int]) -> list[psutil.Process]:
    out = []
    for pid in pids:
        try:
            out.append(psutil.Process(pid))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


def assess(before: Snapshot, after: Snapshot) -> ContentionWindow:
    """The window between two snapshots: how long the target waited for a CPU, how much CPU others used, and
    whether that makes the run inconclusive (`busy`, with a `reason` a person can act on)."""
    wall = max(after.at - before.at, 1e-9)
    host_s = after.host_busy_s - before.host_busy_s
    ours_s = after.ours_cpu_s - before.ours_cpu_s
    target_s = after.target_cpu_s - before.target_cpu_s
    others_s = max(host_s - ours_s - target_s, 0.0)
    top = sorted(
        ((name, cpu - before.others[pid][1]) for pid, (name, cpu) in after.others.items() if pid in before.others),
        key=lambda x: -x[1],
    )[:TOP_OTHERS]
    out: ContentionWindow = {
        "window_s": round(wall, 3),
        "others_cores": round(others_s / wall, 3),
        # the parts it is the difference of (cores on average): the host, loadwatch's own tree, the target
        "host_cores": round(host_s / wall, 3),
        "ours_cores": round(ours_s / wall, 3),
        "target_cores": round(target_s / wall, 3),
        "top_others": [{"name": n, "cores": round(c / wall, 3)} for n, c in top if c > 0.01 * wall],
        "target_wait_share": None,
        "target_wait_to_cpu": None,
        "busy": False,
        "reason": None,
    }
    if before.target_cpu_ns is None or after.target_cpu_ns is None:
        out["reason"] = "not checked: no per-thread scheduler statistics for the target on this host"
        return out
    cpu_ns = max(after.target_cpu_ns - before.target_cpu_ns, 0)
    wait_ns = max((after.target_wait_ns or 0) - (before.target_wait_ns or 0), 0)
    share = wait_ns / 1e9 / wall
    ratio = wait_ns / cpu_ns if cpu_ns else (float("inf") if wait_ns else 0.0)
    out["target_wait_share"] = round(share, 4)
    out["target_wait_to_cpu"] = round(ratio, 3) if ratio != float("inf") else None
    if share >= MIN_WAIT_SHARE and ratio >= WAIT_TO_CPU and out["others_cores"] >= OTHERS_MIN_CORES:
        names = ", ".join(f"{o['name']} {100 * o['cores']:.0f} %" for o in out["top_others"])
        out["busy"] = True
        out["reason"] = (
            f"the machine was busy with other work: processes outside the run used {out['others_cores']:.2f} "
            f"cores on average and the target waited for a CPU {100 * share:.0f} % of the time "
            f"({ratio:.1f}× its own CPU time), so tonight's latencies include queueing for a core"
            + (f" (busiest: {names})" if names else "")
            + ". Run it when the host is quiet, or on a host (or cores, taskset) of its own."
        )
    return out
