"""The machine-drift probe: how fast this host is tonight, measured with work the target cannot influence.

Nights on a shared machine differ: a busier host makes every scenario slower. The gate must not mistake that
for the target's doing, nor (the mistake this replaces) take a slowdown of every scenario for "the machine".
So each run times, on the generator host, just before the load (while the target is idle: the baseline stage
checks; after the load a slowed target may still be busy on the same host):

- `cpu_ms`: a fixed pure-Python micro-benchmark (integer and float arithmetic, dict and list work: what an
  interpreted service spends its time on), the median of several repetitions;
- `echo_us`: the median round trip of a small message over a loopback TCP connection to an echo thread (the
  kernel's network path and the scheduler's wake-up latency).

Neither touches the target, so a slower target cannot move them; the gate adjusts a series by the probe only
where, over the series' own history, the probe explains its spread, and never beyond the range of readings that
history holds (docs/METHOD.md §3.5)."""

from __future__ import annotations

import socket
import statistics
import threading
import time

__all__ = ["measure_probe"]

CPU_REPS = 9
CPU_LOOPS = 1_500  # a few ms per repetition on this project's 2-core VM
ECHO_ROUNDS = 200
ECHO_TIMEOUT_S = 2.0


def _cpu_once() -> float:
    t0 = time.perf_counter()
    acc = 0
    d: dict[int, float] = {}
    items: list[float] = []
    for i in range(CPU_LOOPS):
        acc = (acc * 31 + i) % 1_000_003
        d[i & 255] = acc / 7.0
        items.append(d.get((i * 7) & 255, 0.0))
    items.sort()
    return (time.perf_counter() - t0) * 1000.0


def _echo_us() -> float | None:
    """Median loopback round trip (µs) of a 32-byte message; None if loopback cannot be used."""
    try:
        server = socket.create_server(("127.0.0.1", 0))
    except OSError:
        return None
    server.settimeout(ECHO_TIMEOUT_S)
    port = server.getsockname()[1]

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(ECHO_TIMEOUT_S)
            for _ in range(ECHO_ROUNDS):
                try:
                    data = conn.recv(64)
                except OSError:
                    return
                if not data:
                    return
                conn.sendall(data)

    thread = threading.Thread(target=serve, name="loadwatch-probe-echo", daemon=True)
    thread.start()
    rtts: list[float] = []
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=ECHO_TIMEOUT_S) as client:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            msg = b"x" * 32
            for _ in range(ECHO_ROUNDS):
                t0 = time.perf_counter_ns()
                client.sendall(msg)
                got = 0
                while got < len(msg):
                    chunk = client.recv(64)
                    if not chunk:
                        return None
                    got += len(chunk)
                rtts.append((time.perf_counter_ns() - t0) / 1000.0)
    except OSError:
        return None
    finally:
        server.close()
        thread.join(ECHO_TIMEOUT_S)
    return statistics.median(rtts) if rtts else None


def measure_probe() -> dict[str, float]:
    """{"cpu_ms": ..., "echo_us": ...} of this host now (about 0.1 s); a part that cannot be measured is left out."""
    _cpu_once()  # warm the interpreter's caches
    out = {"cpu_ms": round(statistics.median(_cpu_once() for _ in range(CPU_REPS)), 4)}
    echo = _echo_us()
    if echo is not None:
        out["echo_us"] = round(echo, 2)
    return out
