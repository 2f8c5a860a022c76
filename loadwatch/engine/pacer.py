"""Open-model pacing: fire each send at its intended time, count late and dropped sends.

The pacer owns no sockets: it calls `send(intended_ns)` and asks `full()` whether the in-flight cap is
reached, so tests drive it with a deliberately slow or stuck fake sender. Counters only cover sends
intended after the warm-up.

`late` = a send that started more than LATE_TOLERANCE_NS after its intended time. 1 ms: the event loop's
timers have millisecond granularity (uvloop rounds to 1 ms), so sends up to 1 ms late are normal timer
jitter, and anything later means the generator fell behind. The latency of a late send is still measured
from its intended time, so lateness is never hidden from the percentiles.
Sends go out up to EARLY_NS (0.5 ms) *before* their intended time rather than spinning on sub-millisecond
timers (uvloop rounds timer delays to whole ms); the recorder then measures latency from the actual send, so an
early send never shortens a latency.
`dropped` = a send whose turn came while `max_in_flight` requests were outstanding; it is never sent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from time import perf_counter_ns

__all__ = ["EARLY_NS", "LATE_TOLERANCE_NS", "OpenPacer"]

LATE_TOLERANCE_NS = 1_000_000
EARLY_NS = 500_000


class OpenPacer:
    def __init__(
        self,
        offsets: Iterator[float],
        t0_ns: int,
        send: Callable[[int], None],
        full: Callable[[], bool],
        *,
        warmup_s: float = 0.0,
        max_sends: int | None = None,
        tolerance_ns: int = LATE_TOLERANCE_NS,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.offsets = offsets
        self.t0_ns = t0_ns
        self.send = send
        self.full = full
        self.warmup_ns = t0_ns + int(warmup_s * 1e9)
        self.max_sends = max_sends
        self.tolerance_ns = tolerance_ns
        self.sends = 0  # all sends (warm-up included)
        self.measured_sends = 0
        self.intended = 0  # measured period: sends + dropped
        self.late = 0
        self.dropped = 0
        self.done: asyncio.Future[None] = self.loop.create_future()
        self._next_ns: int | None = None
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None

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
        if self._next_ns is None:
            self.stop()
            return
        delay = (self._next_ns - perf_counter_ns()) / 1e9
        self._handle = self.loop.call_later(max(delay, 0.0005), self._fire)

    def _fire(self) -> None:
        now = perf_counter_ns()
        # every send that is due now, in order; a backlog (after a stall of the loop) goes out at once
        while self._next_ns is not None and self._next_ns <= now + EARLY_NS:
            due = self._next_ns
            measured = due >= self.warmup_ns
            if measured:
                self.intended += 1
            if self.full():
                if measured:
                    self.dropped += 1
            else:
                if measured:
                    self.measured_sends += 1
                    if now - due > self.tolerance_ns:
                        self.late += 1
                self.sends += 1
                self.send(due)
                now = perf_counter_ns()
                if self.max_sends is not None and self.sends >= self.max_sends:
                    self.stop()
                    return
            self._advance()
        self._arm()
