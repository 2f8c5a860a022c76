"""An HTTP/1.1 server whose capacity is known by construction, for the capacity benchmark and tests.

    python benchmarks/capacity_server.py --mode cpu  --work 2000  [--port 0]
    python benchmarks/capacity_server.py --mode pool --workers 4 --service-ms 10
    python benchmarks/capacity_server.py --mode error

cpu:   one event loop does `--work` rounds of SHA-256 over 64 bytes per request, in the loop itself, so requests are
       served one at a time: capacity = 1 / (CPU time of that work), set by the core the process is pinned to.
pool:  at most `--workers` requests are served at once, each holding its slot for `--service-ms` (a wait, like a
       call to a database with a small connection pool): capacity = workers / service time, whatever the CPU.
error: every request gets a 500 at once: no rate meets an error-rate SLO.

Keep-alive, no pipelining (one request at a time per connection, as wrk and loadwatch send them). The chosen port
is printed on stdout as `PORT <n>` once the socket listens. Loopback only. Stops on SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import signal
import sys

MAX_HEAD = 16384  # a request head beyond this is refused (the connection is closed)
OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
FAIL = b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nfail"


def burn(rounds: int) -> bytes:
    """A fixed amount of CPU work: `rounds` chained SHA-256 digests."""
    d = b"loadwatch-capacity-benchmark-64-bytes-of-input-to-hash-each-time"
    for _ in range(rounds):
        d = hashlib.sha256(d).digest()
    return d


async def serve(mode: str, host: str, port: int, work: int, workers: int, service_s: float) -> None:
    slots = asyncio.Semaphore(workers)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # one request per iteration; ends when the client closes the connection
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                if len(head) > MAX_HEAD:
                    return
                if mode == "cpu":
                    burn(work)
                    writer.write(OK)
                elif mode == "pool":
                    async with slots:
                        await asyncio.sleep(service_s)
                    writer.write(OK)
                else:
                    writer.write(FAIL)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            return  # the client went away, or the server is shutting down: nothing left to answer
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port, limit=MAX_HEAD, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=["cpu", "pool", "error"], default="cpu")
    p.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1", "::1", "localhost"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--work", type=int, default=2000, help="cpu: SHA-256 rounds per request")
    p.add_argument("--workers", type=int, default=4, help="pool: requests served at once")
    p.add_argument("--service-ms", type=float, default=10.0, help="pool: time each request holds its slot")
    ns = p.parse_args(argv)
    asyncio.run(serve(ns.mode, ns.host, ns.port, ns.work, ns.workers, ns.service_ms / 1000.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
