"""Open-model pacing: fire each send at its intended time, count late and dropped sends.

The pacer owns no sockets: it calls `send(intended_ns)` and asks `full()` whether the in-flight cap is
reached, so tests drive it with a deliberately slow or stuck fake sender. Counters only cover sends
intended after the warm-up.

Wake-ups, not sends, dominate the CPU cost at a fixed rate (an idle process woken by a timer costs tens of µs
on a VM), so the pacer wakes on a grid of `tick_ns` (1 or 2 ms, aligned to whole milliseconds of the monotonic
clock the event loop's timers use) and sends, in order, every request intended before the end of the tick.
Event-loop timers fire up to 1 ms after their time (libuv truncates its clock to whole ms, epoll timeouts are in
ms), so the wake-up is armed SLOP_NS (1 ms) before the tick and the wake-up counts as SLOP_NS later: a send goes
out at most one tick + 1 ms *early*, never late by design, and a tick with nothing due costs no wake-up.
`tick_for_rate` picks 2 ms when this process's share is below 4,000 req/s or when several processes share the
machine, so the machine's wake-ups do not grow when a rate is split over processes; `phase_ns`
shifts a process's grid by whole ms so that processes take turns rather than all waking at the same instant.
The recorder measures latency from the actual send when a send is early, so an early send never shortens a
latency; a late send's latency is measured from its intended time, so lateness is never hidden.

`late` = a send that started more than LATE_TOLERANCE_NS (1 ms) after its intended time while a connection was
free for it (`send` returns True; a sender that returns None counts as free): only a loop that fell behind (a
stall, a slow generator) makes such sends late. A send that had to wait for a busy connection is the target's
doing; the sender counts it (`late_target`) when it finally goes out.
`dropped` = a send whose turn came while `max_in_flight` requests were outstanding (the target held them); it is
never sent, and `drop(intended_ns)` is called so that the sender can count it as an error of its scenario."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from time import perf_counter_ns

__all__ = ["LATE_TOLERANCE_NS", "SLOP_NS", "TICK_NS", "OpenPacer", "tick_for_rate"]

LATE_TOLERANCE_NS = 1_000_000
TICK_NS = 1_000_000
SLOW_TICK_NS = 2_000_000
SLOW_BELOW_RATE = 4_000.0  # req/s of one process
SLOP_NS = 1_000_000  # how late an event-loop timer may fire (whole-ms clocks and epoll timeouts)


def tick_for_rate(rate_per_process: float, local_workers: int = 1) -> int:
    """Pacing tick for a process whose peak share of the rate is `rate_per_process` req/s, one of
    `local_workers` generator processes on this machine: 1 ms only for a lone process at >= 4,000 req/s, so the
    machine's pacer wake-ups per second do not grow when the same rate is split over processes."""
    return TICK_NS if local_workers <= 1 and rate_per_process >= SLOW_BELOW_RATE else SLOW_TICK_NS


class OpenPacer:
    def __init__(
        self,
        offsets: Iterator[float],
        t0_ns: int,
        send: Callable[[int], bool | None],
        full: Callable[[], bool],
        *,
        drop: Callable[[int], None] | None = None,
        warmup_s: float = 0.0,
        max_sends: int | None = None,
        tolerance_ns: int = LATE_TOLERANCE_NS,
        tick_ns: int = TICK_NS,
        phase_ns: int = 0,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.offsets = offsets
        self.t0_ns = t0_ns
        self.send = send
        self.full = full
        self.drop = drop
        self.warmup_ns = t0_ns + int(warmup_s * 1e9)
        self.max_sends = max_sends
        self.tolerance_ns = tolerance_ns
        self.tick_ns = max(int(tick_ns), 1_000_000)
        self.phase_ns = int(phase_ns) % self.tick_ns  # whole ms: where this process's grid starts
        self.sends = 0  # all sends (warm-up included)
        self.measured_sends = 0
        self.intended = 0  # measured period: sends + dropped
        self.late = 0
        self.late_ns = 0  # how late those sends were, in total: the delay the generator itself added
        self.dropped = 0
        self.wakeups = 0
        self.done: asyncio.Future[None] = self.loop.create_future()
        self._next_ns: int | None = None
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None
        # Timers are armed with call_at on whole milliseconds of the loop clock. uvloop's clock is libuv's
        # CLOCK_MONOTONIC in truncated ms and asyncio's is time.monotonic(): both the clock of perf_counter_ns
        # on Linux, so a timer at ms M never fires before M. If the clocks differ, fall back to relative delays.
        self._aligned = abs(self.loop.time() - perf_counter_ns() / 1e9) < 0.005

    def start(self) -> None:
        self._advance()
        self._arm()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._next_ns = None
        if not self.done.done():
            self.done.set_result(None)

    def _advance(self) -> None:
        off = next(self.offsets, None)
        self._next_ns = None if off is None else self.t0_ns + int(off * 1e9)

    def _arm(self) -> None:
        nxt = self._next_ns
        if nxt is None:
            self.stop()
            return
        tick = self.tick_ns
        fire_ns = (
            nxt - (nxt - self.phase_ns) % tick - SLOP_NS
        )  # SLOP_NS before the start of the tick that holds the next send
        if self._aligned:
            self._handle = self.loop.call_at(fire_ns / 1e9, self._fire)
        else:
            self._handle = self.loop.call_later(max((fire_ns - perf_counter_ns()) / 1e9, 0.0), self._fire)

    def _fire(self) -> None:
        self.wakeups += 1
        now = perf_counter_ns()
        tick = self.tick_ns
        late_now = now + SLOP_NS
        horizon = late_now - (late_now - self.phase_ns) % tick + tick  # the end of the tick this wake-up serves
        # every send intended before the end of this tick, in order; a backlog (after a stall) goes out at once
        while self._next_ns is not None and self._next_ns < horizon:
            due = self._next_ns
            measured = due >= self.warmup_ns
            if measured:
                self.intended += 1
            if self.full():
                if measured:
                    self.dropped += 1
                if self.drop is not None:
                    self.drop(due)
            else:
                late = now - due > self.tolerance_ns
                self.sends += 1
                free = self.send(due) is not False
                if measured:
                    self.measured_sends += 1
                    if late and free:
                        self.late += 1
                        self.late_ns += now - due
                now = perf_counter_ns()
                if self.done.done():  # the send stopped the schedule (a data source ran out)
                    return
                if self.max_sends is not None and self.sends >= self.max_sends:
                    self.stop()
                    return
            self._advance()
        self._arm()
