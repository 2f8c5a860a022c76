"""One keep-alive loopback HTTP server for the engine's tests: `answer(head)` turns each request's head into the
whole response (and may record it); the server runs on its own event loop in a thread until the block ends."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def serving(answer: Callable[[bytes], bytes]) -> Iterator[str]:
    ready: list[int] = []
    stop = threading.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                writer.write(answer(await reader.readuntil(b"\r\n\r\n")))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        srv = await asyncio.start_server(handler, "127.0.0.1", 0)
        ready.append(srv.sockets[0].getsockname()[1])
        while not stop.is_set():
            await asyncio.sleep(0.05)
        srv.close()

    t = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    t.start()
    while not ready:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{ready[0]}"
    finally:
        stop.set()
        t.join(5)
