"""SIGINT/SIGTERM during a run: the first signal asks everything to stop cooperatively (load within a
second, the monitor within one interval) so what was measured is stored as `aborted`; a second one
interrupts at once."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["STOP", "handle_signals", "requested"]

STOP = threading.Event()
_received: list[int] = []


def requested() -> bool:
    return STOP.is_set()


@contextmanager
def handle_signals() -> Iterator[threading.Event]:
    """Install the two-stage handler for the duration of a run (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield STOP
        return
    STOP.clear()
    _received.clear()

    def _handler(signum: int, _frame: FrameType | None) -> None:
        _received.append(signum)
        if STOP.is_set():
            raise KeyboardInterrupt
        STOP.set()

    previous = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield STOP
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
