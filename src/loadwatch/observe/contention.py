"""Was the machine busy with someone else's work while we measured? (a noisy neighbour)

A load test shares its host with whatever else runs there: a CI runner's other jobs, a backup, a build. When other
processes take the cores the target needs, the target's latencies grow although its code did not change, and a
nightly comparison would call that a regression. Two readings over the load window separate this from a slower
target (Linux only; elsewhere the check is skipped and says so):

* **the target queued for a CPU**: the kernel's per-thread scheduler statistics (`/proc/<pid>/task/<tid>/schedstat`,
  the second field: time spent runnable on a run queue but not running) of the target's and its database's
  processes, summed over the load window;
* **someone else used the cores**: host CPU time (`/proc/stat` through psutil: user, nice, system, steal) minus
  the CPU of the target, its database and loadwatch's own process tree (this process, its load generators once
  reaped, its Prefect server) is the CPU of processes outside the run.

The rule (`judge`) puts both in the unit of the verdict, the latency. Of the CPU the target competed with (the
host's minus its own), the share that belonged to processes outside the run (`others_share`) is the share of its
queueing charged to them; spread over the requests of the window, that is the latency each request waited behind
someone else's work on average (`queue_ms_per_request`). The run is busy when others were most of the competition
(`others_share` ≥ MIN_OTHERS_SHARE, and at least MIN_OTHERS_CORES of outside work: below half a core a core was free
nearly all the time and the wait is the scheduler's wake-up latency) **and** that queueing is at least
LATENCY_FLOOR of the mean latency the run measured: the smallest latency change the gate reports (p50's floor,
docs/METHOD.md §2), so below it the neighbours cannot carry a verdict, above it they can. The share and latency
bounds follow from what is measured; the half core was added when a quiet CI machine met the share alone.

A target that saturates the cores by itself (a regression that spawns CPU-heavy threads) makes its own threads
wait, but the competition is its own, the generator's and its database's: `others_share` stays small and the run
is judged as usual. Others busy while the target did not queue (a neighbour at low priority, or on other cores)
changes nothing either. When both hold, the run is `inconclusive` (exit 3): stored, explained, never a baseline;
the reason names the busiest outside processes that were alive at both ends of the window (short-lived ones are in
the total, not the list). The readings are in every run's summary and report, busy or not.

Method and measured readings by situation: docs/METHOD.md §3.6, benchmarks/results/contention*.md."""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import psutil

from loadwatch.observations import ContentionWindow

__all__ = ["LATENCY_FLOOR", "MIN_OTHERS_CORES", "MIN_OTHERS_SHARE", "Snapshot", "assess", "judge", "snapshot"]

# the smallest latency change the gate reports (stats.model: p50's floor): queueing behind others below this share of
# the mean latency cannot make a verdict; at or above it, it can
LATENCY_FLOOR = 0.05
MIN_OTHERS_SHARE = 0.5  # others held most of the CPU the target competed with (else the queueing is the run's own)
# ... and they used a real part of the machine: with less than half a core of outside work on average a core was free
# nearly all the time, so the target's wait for a CPU is the scheduler's wake-up latency, not queueing behind them.
# Seen on a quiet 2-core CI machine: outside work 0.10 cores was 56 % of a small competition, and the demo target's
# wake-ups came to 5 % of its 3 ms latency: the share alone called a quiet night busy.
MIN_OTHERS_CORES = 0.5
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


def assess(
    before: Snapshot, after: Snapshot, *, requests: int | None = None, mean_latency_ms: float | None = None
) -> ContentionWindow:
    """The window between two snapshots: how long the target waited for a CPU, how much CPU others used, and (given
    the window's requests and the run's mean latency: `judge`) whether that makes the run inconclusive."""
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
        # others' share of the CPU the target competed with (the host's but its own)
        "others_share": round(min(others_s / (host_s - target_s), 1.0), 3) if host_s - target_s > 0 else 0.0,
        "top_others": [{"name": n, "cores": round(c / wall, 3)} for n, c in top if c > 0.01 * wall],
        "target_wait_share": None,
        "target_wait_to_cpu": None,
        "queue_ms_per_request": None,
        "queue_share": None,
        "busy": False,
        "reason": None,
    }
    if before.target_cpu_ns is None or after.target_cpu_ns is None:
        out["reason"] = "not checked: no per-thread scheduler statistics for the target on this host"
        return out
    cpu_ns = max(after.target_cpu_ns - before.target_cpu_ns, 0)
    wait_ns = max((after.target_wait_ns or 0) - (before.target_wait_ns or 0), 0)
    out["target_wait_share"] = round(wait_ns / 1e9 / wall, 4)
    out["target_wait_to_cpu"] = round(wait_ns / cpu_ns, 3) if cpu_ns else None
    return judge(out, requests=requests, mean_latency_ms=mean_latency_ms)


def judge(c: ContentionWindow, *, requests: int | None, mean_latency_ms: float | None) -> ContentionWindow:
    """The rule on an assessment's readings, given the requests sent in its window and the run's mean latency: the
    queueing charged to others per request, its share of the latency, and `busy` with a reason a person can act on.
    Without a reading (no scheduler statistics, no requests or no answers) it is left unjudged, never busy."""
    out: ContentionWindow = {**c, "queue_ms_per_request": None, "queue_share": None, "busy": False}
    share = c.get("target_wait_share")
    if share is None:
        return out
    out["reason"] = None
    if not requests or not mean_latency_ms or mean_latency_ms <= 0:
        return out
    queue_ms = 1000.0 * float(share) * float(c["window_s"]) * float(c.get("others_share") or 0.0) / requests
    out["queue_ms_per_request"] = round(queue_ms, 4)
    out["queue_share"] = round(queue_ms / mean_latency_ms, 4)
    crowded = (c.get("others_share") or 0.0) >= MIN_OTHERS_SHARE and (c.get("others_cores") or 0.0) >= MIN_OTHERS_CORES
    if crowded and queue_ms >= LATENCY_FLOOR * mean_latency_ms:
        names = ", ".join(f"{o['name']} {100 * o['cores']:.0f} %" for o in c.get("top_others") or [])
        out["busy"] = True
        out["reason"] = (
            f"the machine was busy with other work: processes outside the run used {c['others_cores']:.2f} cores on"
            f" average ({100 * c['others_share']:.0f} % of the CPU the target competed with) and the target queued"
            f" for a CPU behind them about {queue_ms:.2f} ms per request, {100 * queue_ms / mean_latency_ms:.0f} %"
            f" of its mean latency (the gate reports changes from {100 * LATENCY_FLOOR:.0f} %), so tonight's"
            " latencies include queueing for a core"
            + (f" (busiest: {names})" if names else "")
            + ". Run it when the host is quiet, or on a host (or cores, taskset) of its own."
        )
    return out
