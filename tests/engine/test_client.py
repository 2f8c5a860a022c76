"""The HTTP client and the runner against real loopback servers started in the test (raw asyncio sockets)."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import struct
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import uvloop

from loadwatch import hist
from loadwatch.config import check_target_allowed, parse_plan
from loadwatch.engine.build import RequestFactory, check_response
from loadwatch.engine.client import TIMEOUT_KINDS, classify_error
from loadwatch.engine.driver import Runner, WorkerConfig
from loadwatch.errors import InvalidInput
from loadwatch.vocabulary import ERROR_KINDS

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _plan(
    url: str, *, requests: int = 5, scenario: dict[str, Any] | None = None, total: float = 5.0, connect: float = 2.0
) -> Any:
    return parse_plan(
        {
            "target": {"url": url},
            "load": {
                "model": "closed",
                "users": 1,
                "think_time": 0,
                "duration": 5,
                "max_requests": requests,
                "timeout": {"connect": connect, "total": total},
            },
            "scenarios": [scenario or {"name": "s", "path": "/x"}],
        }
    )


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def _run(plan: Any, ssl_ctx: ssl.SSLContext | None = None) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        runner = Runner(WorkerConfig(plan=plan, pools={}, start_at=time.time()), ssl_ctx=ssl_ctx)
        return await asyncio.wait_for(runner.run(), 30)

    result: dict[str, Any] = uvloop.run(main())
    return result


def _serve_and_run(
    handler: Handler, *, tls: ssl.SSLContext | None = None, client_ssl: ssl.SSLContext | None = None, **plan_kw: Any
) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tls)
        port = server.sockets[0].getsockname()[1]
        scheme = "https" if tls else "http"
        plan = _plan(f"{scheme}://127.0.0.1:{port}", **plan_kw)
        try:
            runner = Runner(WorkerConfig(plan=plan, pools={}, start_at=time.time()), ssl_ctx=client_ssl)
            return await asyncio.wait_for(runner.run(), 30)
        finally:
            server.close()

    result: dict[str, Any] = uvloop.run(main())
    return result


def _scen(res: dict[str, Any]) -> dict[str, Any]:
    return next(iter(res["scenarios"].values()))


def _kinds(res: dict[str, Any]) -> dict[str, int]:
    return {k: v["count"] for k, v in _scen(res)["errors_by_kind"].items()}


def test_keep_alive_reuses_one_connection_and_records_latency() -> None:
    conns = [0]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns[0] += 1
        try:
            while True:
                await _read_request(reader)
                writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{"ok": true}')
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    res = _serve_and_run(handler, requests=20)
    s = _scen(res)
    assert s["requests"] == 20 and s["errors"] == 0
    assert conns[0] == 1
    assert hist.decode(s["latency"]).get_total_count() == 20
    assert s["status_classes"] == {"2xx": 20}


def test_chunked_body_and_json_check() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await _read_request(reader)
                writer.write(
                    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{"tools\r\n9\r\n": [1,2]}\r\n0\r\n\r\n'
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    ok = _serve_and_run(handler, requests=4, scenario={"name": "s", "path": "/x", "expect": {"json_field": "tools"}})
    assert _scen(ok)["requests"] == 4 and _scen(ok)["errors"] == 0
    bad = _serve_and_run(
        handler, requests=4, scenario={"name": "s", "path": "/x", "expect": {"json_field": "results.items"}}
    )
    assert _kinds(bad) == {"check_failed": 4}


def test_head_204_304_without_body_keep_the_connection_usable() -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",  # HEAD: length announced, no body
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
    ]
    conns = [0]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns[0] += 1
        i = 0
        try:
            while True:
                await _read_request(reader)
                writer.write(answers[i % 3])
                i += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    res = _serve_and_run(handler, requests=9, scenario={"name": "s", "method": "HEAD", "path": "/x"})
    assert _scen(res)["requests"] == 9 and _scen(res)["errors"] == 0
    assert conns[0] == 1


def test_connection_close_reconnects() -> None:
    conns = [0]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns[0] += 1
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    res = _serve_and_run(handler, requests=5)
    assert _scen(res)["requests"] == 5 and _scen(res)["errors"] == 0
    assert conns[0] == 5


def test_status_errors_and_status_checks() -> None:
    codes = iter([404, 500, 503, 200] * 10)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await _read_request(reader)
                writer.write(f"HTTP/1.1 {next(codes)} X\r\nContent-Length: 0\r\n\r\n".encode())
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    res = _serve_and_run(handler, requests=4)
    assert _kinds(res) == {"http_4xx": 1, "http_5xx": 2}
    assert _scen(res)["status_classes"] == {"2xx": 1, "4xx": 1, "5xx": 2}
    codes = iter([200, 201] * 10)
    res = _serve_and_run(handler, requests=4, scenario={"name": "s", "path": "/", "expect": {"status": [201]}})
    assert _kinds(res) == {"check_failed": 2}
    assert "not in [201]" in _scen(res)["errors_by_kind"]["check_failed"]["sample"]


def test_refused_port() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    res = _run(_plan(f"http://127.0.0.1:{port}", requests=3))
    assert _kinds(res) == {"connect_refused": 3}
    assert _scen(res)["requests"] == 3


def test_reset_mid_response() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
        writer.transport.abort()

    res = _serve_and_run(handler, requests=3)
    assert _kinds(res) == {"connection_reset": 3}


def test_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(5)  # never answers within the 0.3 s total timeout

    res = _serve_and_run(handler, requests=2, total=0.3)
    assert _kinds(res) == {"read_timeout": 2}


def test_connect_timeout_on_a_full_backlog() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # never accepted: once the queue is full, SYNs are dropped and connect() hangs
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", port))
            fillers.append(f)
        time.sleep(0.1)
        res = _run(_plan(f"http://127.0.0.1:{port}", requests=2, connect=0.3, total=1.0))
    finally:
        for f in fillers:
            f.close()
        listener.close()
    assert _kinds(res) == {"connect_timeout": 2}


def test_dns_failure_is_refused_first_and_classified() -> None:
    with pytest.raises(InvalidInput):
        check_target_allowed("http://no-such-host.invalid/")
    kind, msg = classify_error(socket.gaierror(socket.EAI_NONAME, "Name or service not known"), connecting=True)
    assert kind == "dns" and "Name or service" in msg
    assert classify_error(ConnectionRefusedError(111, "refused"), connecting=True)[0] == "connect_refused"
    assert classify_error(TimeoutError(), connecting=True)[0] == "connect_timeout"
    assert classify_error(None)[0] == "connection_reset"
    assert classify_error(ssl.SSLError(1, "bad"))[0] == "tls"
    assert classify_error(ValueError("x"))[0] == "other"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "c.pem", d / "k.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(crt),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return crt, key


def test_every_error_kind_the_generator_gives_is_in_the_vocabulary() -> None:
    failures: list[BaseException | None] = [
        None,
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
        ssl.SSLError(1, "bad"),
        TimeoutError(),
        ConnectionRefusedError(111, "refused"),
        ConnectionResetError(),
        BrokenPipeError(),
        *(OSError(e, "x") for e in (errno.ECONNREFUSED, errno.ETIMEDOUT, errno.ECONNRESET, errno.EHOSTUNREACH)),
        ValueError("x"),
    ]
    kinds = {classify_error(exc, connecting=c)[0] for exc in failures for c in (True, False)}
    plan = parse_plan(
        {
            "target": {"url": "http://127.0.0.1:9"},
            "load": {"model": "closed", "users": 1, "duration": 1},
            "scenarios": [
                {"name": "any", "path": "/"},
                {"name": "strict", "path": "/j", "expect": {"status": [200], "json_field": "a"}},
            ],
        }
    )
    for sc in RequestFactory(plan, {}, "127.0.0.1:9", seed=1, part=0).scenarios:
        for status in (101, 201, 302, 404, 503):
            bad = check_response(sc, status, b"{}")
            kinds |= {bad[0]} if bad else set()
    assert {"http_4xx", "http_5xx", "check_failed", "dns", "tls", "connect_timeout", "read_timeout", "other"} <= kinds
    assert kinds | TIMEOUT_KINDS <= set(ERROR_KINDS)


def test_tls_through_the_same_protocol(cert: tuple[Path, Path]) -> None:
    crt, key = cert
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(crt, key)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await _read_request(reader)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            writer.close()

    trusting = ssl.create_default_context(cafile=str(crt))
    ok = _serve_and_run(handler, tls=server_ctx, client_ssl=trusting, requests=5)
    assert _scen(ok)["requests"] == 5 and _scen(ok)["errors"] == 0
    untrusting = ssl.create_default_context()  # the self-signed certificate is not trusted
    bad = _serve_and_run(handler, tls=server_ctx, client_ssl=untrusting, requests=2)
    assert _kinds(bad) == {"tls": 2}


def test_closed_users_without_think_time_send_exactly_max_requests_across_scenarios() -> None:
    """The no-think-time fast path (request objects reused per user) keeps counts, paths and checks exact."""
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await _read_request(reader)
                seen.append(head.split(b" ", 2)[1])
                if head.startswith(b"GET /bad"):
                    writer.write(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
                else:
                    writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{"ok": true}')
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> dict[str, Any]:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        plan = parse_plan(
            {
                "target": {"url": f"http://127.0.0.1:{port}"},
                "load": {"model": "closed", "users": 3, "think_time": 0, "duration": 10, "max_requests": 60},
                "pools": {"id": {"values": ["a", "b"]}},
                "scenarios": [
                    {"name": "item", "weight": 2, "path": "/item/{id}"},
                    {"name": "bad", "weight": 1, "path": "/bad"},
                ],
            }
        )
        try:
            runner = Runner(WorkerConfig(plan=plan, pools={"id": ["a", "b"]}, start_at=time.time()))
            return await asyncio.wait_for(runner.run(), 30)
        finally:
            server.close()

    res: dict[str, Any] = uvloop.run(main())
    item, bad = res["scenarios"]["item"], res["scenarios"]["bad"]
    assert res["sends"] == 60 and item["requests"] + bad["requests"] == 60 == len(seen)
    assert item["errors"] == 0 and bad["errors"] == bad["requests"] > 0
    assert bad["errors_by_kind"]["http_5xx"]["count"] == bad["requests"]
    assert sorted(set(seen)) == [b"/bad", b"/item/a", b"/item/b"]
    assert seen.count(b"/bad") == bad["requests"]
    for s in (item, bad):
        lat, svc = hist.decode(s["latency"]), hist.decode(s["service"])
        assert lat.get_total_count() == svc.get_total_count() == s["requests"]
        assert lat.get_max_value() >= svc.get_max_value()  # latency starts at or before the actual send
