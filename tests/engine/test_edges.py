"""The instrument at the edges (issue 14): every RFC 9112 response shape parsed right, every due request
accounted for, checked against real loopback servers started in the test (asyncio streams and raw writes),
and the same edge servers read by a second client (aiohttp) for the count of answers and statuses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
import uvloop

from loadwatch import hist
from loadwatch.commands.load import format_summary
from loadwatch.config import parse_plan
from loadwatch.engine.client import ends_at_eof
from loadwatch.engine.driver import Runner, WorkerConfig
from loadwatch.engine.result import combine_parts
from loadwatch.engine.schedule import intended_offsets

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

OK_CL = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def _closed(url: str, requests: int, scenario: dict[str, Any] | None = None, total: float = 5.0) -> Any:
    return parse_plan(
        {
            "target": {"url": url},
            "load": {
                "model": "closed",
                "users": 1,
                "think_time": 0,
                "duration": 10,
                "max_requests": requests,
                "timeout": {"connect": 2.0, "total": total},
            },
            "scenarios": [scenario or {"name": "s", "path": "/x"}],
        }
    )


def _open(url: str, **load: Any) -> Any:
    spec: dict[str, Any] = {"model": "open", "arrival": "constant", **load}
    return parse_plan({"target": {"url": url}, "load": spec, "scenarios": [{"name": "s", "path": "/x"}]})


async def _with_server(handler: Handler, body: Callable[[str], Awaitable[Any]]) -> Any:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await body(f"http://127.0.0.1:{port}")
    finally:
        server.close()


async def _run_plan(plan: Any, start_in: float = 0.0) -> dict[str, Any]:
    runner = Runner(WorkerConfig(plan=plan, pools={}, start_at=time.time() + start_in))
    result: dict[str, Any] = await asyncio.wait_for(runner.run(), 60)
    return result


def _serve_and_run(handler: Handler, plan_of: Callable[[str], Any]) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        out: dict[str, Any] = await _with_server(handler, lambda url: _run_plan(plan_of(url)))
        return out

    result: dict[str, Any] = uvloop.run(main())
    return result


def _scen(res: dict[str, Any]) -> dict[str, Any]:
    return next(iter(res["scenarios"].values()))


def _kinds(res: dict[str, Any]) -> dict[str, int]:
    return {k: v["count"] for k, v in _scen(res)["errors_by_kind"].items()}


async def _serve_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answer: bytes) -> None:
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def _answer_once_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answer: bytes) -> None:
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


# ---------------------------------------------------------------------------------------------- edge servers
# Each one answers GET /x; loadwatch and aiohttp must both see `n` answers with these status classes.


async def close_delimited(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """RFC 9112 §6.3 (7): no Content-Length, not chunked: the body runs to the close of the connection."""
    await _answer_once_and_close(reader, writer, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello, world")


async def http10(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An HTTP/1.0 answer without keep-alive and without a length (the oldest CGI shape)."""
    await _answer_once_and_close(reader, writer, b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nold body")


async def interim(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """100 Continue, 102 Processing and 103 Early Hints before the final 200, written separately and together."""
    try:
        i = 0
        while True:
            await reader.readuntil(b"\r\n\r\n")
            hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
            if i % 2:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + hints + OK_CL)
            else:
                writer.write(b"HTTP/1.1 102 Processing\r\n\r\n")
                await writer.drain()
                await asyncio.sleep(0.005)
                writer.write(hints)
                await writer.drain()
                await asyncio.sleep(0.005)
                writer.write(OK_CL)
            i += 1
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def no_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """204 and 304 (with a Content-Length that announces a body never sent), each after a 103 half the time."""
    answers = [b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"]
    try:
        i = 0
        while True:
            await reader.readuntil(b"\r\n\r\n")
            early = b"HTTP/1.1 103 Early Hints\r\n\r\n" if i % 4 >= 2 else b""
            writer.write(early + answers[i % 2])
            i += 1
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def conn_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """`Connection: close` with a length, and the server keeps the socket open: the client must not reuse it."""
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")  # a reused connection would send a second request here
        writer.write(b"HTTP/1.1 500 Reused\r\nContent-Length: 0\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


EDGE_SERVERS: dict[str, tuple[Handler, dict[str, int]]] = {
    "close_delimited": (close_delimited, {"2xx": 6}),
    "http10": (http10, {"2xx": 6}),
    "interim": (interim, {"2xx": 6}),
    "no_body": (no_body, {"2xx": 3, "3xx": 3}),
    "conn_close": (conn_close, {"2xx": 6}),
}


@pytest.mark.parametrize("name", sorted(EDGE_SERVERS))
def test_edge_server_answers_are_counted_as_answers(name: str) -> None:
    handler, classes = EDGE_SERVERS[name]
    res = _serve_and_run(handler, lambda url: _closed(url, 6))
    s = _scen(res)
    assert s["requests"] == 6 and s["errors"] == 0, s["errors_by_kind"]
    assert s["status_classes"] == classes
    assert hist.decode(s["latency"]).get_total_count() == 6
    assert res["protocol_errors"] == 0


@pytest.mark.parametrize("name", sorted(EDGE_SERVERS))
def test_a_second_client_counts_the_same_answers(name: str) -> None:
    """aiohttp (its own parser, not on the hot path) reads the same servers: same answers, same statuses."""
    handler, _classes = EDGE_SERVERS[name]

    async def peer(url: str) -> list[int]:
        statuses: list[int] = []
        async with aiohttp.ClientSession() as session:
            for _ in range(6):
                async with session.get(url + "/x") as resp:
                    await resp.read()
                    statuses.append(resp.status)
        return statuses

    async def main() -> tuple[list[int], dict[str, Any]]:
        statuses: list[int] = await _with_server(handler, peer)
        res: dict[str, Any] = await _with_server(handler, lambda url: _run_plan(_closed(url, 6)))
        return statuses, res

    statuses, res = uvloop.run(main())
    s = _scen(res)
    peer_classes: dict[str, int] = {}
    for st in statuses:
        peer_classes[f"{st // 100}xx"] = peer_classes.get(f"{st // 100}xx", 0) + 1
    assert len(statuses) == 6 == s["requests"] - s["errors"]
    assert s["status_classes"] == peer_classes


def test_head_has_no_body_on_every_connection_kind() -> None:
    """HEAD answered with a length (and once after a 100): ends at the headers, the connection stays usable."""
    conns = [0]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns[0] += 1
        i = 0
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
                writer.write((b"HTTP/1.1 100 Continue\r\n\r\n" if i % 2 else b"") + head)
                i += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    res = _serve_and_run(handler, lambda url: _closed(url, 8, scenario={"name": "s", "method": "HEAD", "path": "/x"}))
    assert _scen(res)["requests"] == 8 and _scen(res)["errors"] == 0, _scen(res)["errors_by_kind"]
    assert _scen(res)["status_classes"] == {"2xx": 8}
    assert conns[0] == 1


def test_truncated_length_delimited_body_is_still_a_reset() -> None:
    """The close completes only bodies that are delimited by it: a short Content-Length body is not an answer."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _answer_once_and_close(
            reader, writer, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 100\r\n\r\npartial"
        )

    res = _serve_and_run(handler, lambda url: _closed(url, 3))
    assert _kinds(res) == {"connection_reset": 3}


def test_unsolicited_and_malformed_responses_are_protocol_errors() -> None:
    async def twice(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # two answers to one request in one write: the second answers nothing that was sent
        await _serve_forever(reader, writer, OK_CL + OK_CL)

    res = _serve_and_run(twice, lambda url: _closed(url, 4))
    assert res["protocol_errors"] >= 1
    assert "no request outstanding" in res["protocol_error_sample"]
    s = _scen(res)
    assert s["requests"] == 4 and s["status_classes"].get("2xx", 0) >= 1

    async def idle_push(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # open model: answers, then pushes a response on the idle connection
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(OK_CL)
                await writer.drain()
                await asyncio.sleep(0.02)
                writer.write(OK_CL)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    res = _serve_and_run(idle_push, lambda url: _open(url, rate=10, duration=1, connections=1))
    assert res["protocol_errors"] >= 1 and "no request outstanding" in res["protocol_error_sample"]

    async def malformed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve_forever(reader, writer, b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok")

    res = _serve_and_run(malformed, lambda url: _closed(url, 3))
    assert _kinds(res) == {"protocol_error": 3}
    assert res["protocol_errors"] == 3
    assert "malformed" in _scen(res)["errors_by_kind"]["protocol_error"]["sample"]


# ---------------------------------------------------------------------------------------------- accounting


def test_timeout_is_an_error_and_a_censored_latency() -> None:
    """Server answers after 4 s, total timeout 1 s: every request is a read_timeout *and* a latency >= 1 s,
    and the summary says those percentiles are lower bounds."""

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(4)
            writer.write(OK_CL)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    res = _serve_and_run(slow, lambda url: _open(url, rate=20, duration=2, timeout={"connect": 1, "total": 1}))
    s = _scen(res)
    assert _kinds(res) == {"read_timeout": s["requests"]} and s["requests"] >= 35
    assert s["censored"] == s["requests"]
    summary = combine_parts([res]).summary
    lat = summary["latency_ms"]
    assert lat["p99"] >= 950.0 and lat["p50"] >= 950.0
    assert summary["censored"] == s["requests"]
    assert {"p50", "p99", "p999", "max"} <= set(summary["latency_at_least"])
    assert summary["scenarios"]["s"]["latency_at_least"] == summary["latency_at_least"]
    assert summary["service_time_at_least"]  # they were sent: service time is censored too
    text = format_summary(summary, "http://127.0.0.1")
    lat_line = next(line for line in text.splitlines() if "latency (from intended send)" in line)
    assert lat_line.count("≥") == len(summary["latency_at_least"])
    assert f"censored {s['requests']}" in text and "lower bound" in text


def test_waiting_for_a_connection_counts_against_the_total_timeout() -> None:
    """One connection, a server that takes 0.3 s, 20 req/s: the queue grows, and a queued request is abandoned
    at its deadline (1 s from its intended send), recorded at the time it waited."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await asyncio.sleep(0.3)
                writer.write(OK_CL)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    res = _serve_and_run(
        handler, lambda url: _open(url, rate=20, duration=2, connections=1, timeout={"connect": 1, "total": 1})
    )
    s = _scen(res)
    kinds = _kinds(res)
    assert kinds.get("read_timeout", 0) >= 15
    assert "total timeout" in s["errors_by_kind"]["read_timeout"]["sample"]
    assert s["requests"] == res["sends"], (s, res["sends"])  # every due request is accounted for
    # a request whose last moments went to opening a connection times out connecting
    assert s["censored"] == kinds["read_timeout"] + kinds.get("connect_timeout", 0), kinds
    # no request waits past its deadline: the longest latency is about the 1 s total timeout (one sweep later)
    assert 1000.0 <= hist.decode(s["latency"]).get_max_value() / 1000.0 < 1600.0
    assert res["late_target"] > 0  # queued sends were late because the connection was busy, not the generator


def test_drops_are_errors_of_their_scenario() -> None:
    """A server that holds every request: after max_in_flight sends, the rest are dropped, and counted."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(3)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    res = _serve_and_run(
        hold, lambda url: _open(url, rate=40, duration=1, max_in_flight=5, timeout={"connect": 1, "total": 2})
    )
    s = _scen(res)
    kinds = _kinds(res)
    assert kinds["dropped"] == res["dropped"] >= 25
    assert "max_in_flight" in s["errors_by_kind"]["dropped"]["sample"]
    assert s["requests"] == res["intended"] == res["sends"] + res["dropped"]
    summary = combine_parts([res]).summary
    assert summary["error_rate"] == 1.0 and summary["dropped"] == kinds["dropped"]
    # drops carry no latency: only the 5 sent (and timed-out) requests are in the histogram
    assert hist.decode(s["latency"]).get_total_count() == 5
    # drops are the target's doing: they never mark the run generator_bound by themselves (a loaded test
    # machine may still make one of the 5 real sends late, which is a generator signal, so only this is checked)
    assert not any("attempted" in r or "drop" in r for r in summary["generator"]["reasons"])


@pytest.fixture
def short_range(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Histograms whose range ends at 100 ms instead of 1 h (every cached geometry rebuilt, before and after)."""
    monkeypatch.setattr(hist, "HIGHEST_US", 100_000)
    hist._geometry.cache_clear()
    hist._edge_hist.cache_clear()
    yield
    monkeypatch.undo()
    hist._geometry.cache_clear()
    hist._edge_hist.cache_clear()


@pytest.mark.usefixtures("short_range")
def test_values_beyond_the_histogram_are_clamped_and_counted() -> None:
    """The range edge is 1 h; lowered here to 100 ms so that a 0.3 s answer lies beyond it."""

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await asyncio.sleep(0.3)
                writer.write(OK_CL)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    res = _serve_and_run(slow, lambda url: _closed(url, 3))
    s = _scen(res)
    assert s["requests"] == 3 and s["errors"] == 0
    assert s["clamped"] == 6  # 3 latencies + 3 service times
    assert hist.decode(s["latency"]).get_max_value() <= hist.new_hist().get_highest_equivalent_value(100_000)
    summary = combine_parts([res]).summary
    assert summary["clamped"] == 6 and summary["scenarios"]["s"]["clamped"] == 6
    assert "max" in summary["latency_at_least"]  # a clamped value is a lower bound too


# ---------------------------------------------------------------------------------------------- the headline claim


def _true_percentile(values: list[float], pct: float) -> float:
    """HdrHistogram's definition (what the summary reports): the value at rank round(pct/100 * n)."""
    ordered = sorted(values)
    rank = max(int(pct * len(ordered) / 100 + 0.5), 1)
    return ordered[rank - 1]


def test_a_stall_shows_in_the_open_model_and_is_omitted_by_the_closed_one() -> None:
    """Open model at 200 req/s for 5 s; the server holds every response during one second (2 s .. 3 s).
    The open model's p99 is the schedule's true p99 (within 10 %) and its p50 the server's normal latency;
    the closed model on the same server waits out the stall with one request and reports a small p99."""
    rate, duration, stall_from, stall_to = 200.0, 5.0, 2.0, 3.0
    window: list[float] = [0.0, 0.0]  # the stall, in epoch seconds, set per run

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                now = time.time()
                if window[0] <= now < window[1]:
                    await asyncio.sleep(window[1] - now)
                writer.write(OK_CL)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    open_plan_of = lambda url: _open(url, rate=rate, duration=duration)  # noqa: E731
    closed_plan_of = lambda url: parse_plan(  # noqa: E731
        {
            "target": {"url": url},
            "load": {"model": "closed", "users": 1, "think_time": 0.005, "think_jitter": 0, "duration": duration},
            "scenarios": [{"name": "s", "path": "/x"}],
        }
    )

    async def run(plan: Any) -> dict[str, Any]:
        start = time.time() + 0.3
        window[:] = [start + stall_from, start + stall_to]
        runner = Runner(WorkerConfig(plan=plan, pools={}, start_at=start))
        out: dict[str, Any] = await asyncio.wait_for(runner.run(), 60)
        return out

    async def main() -> tuple[dict[str, Any], dict[str, Any], Any]:
        async def both(url: str) -> tuple[dict[str, Any], dict[str, Any], Any]:
            plan = open_plan_of(url)
            return await run(plan), await run(closed_plan_of(url)), plan

        out: tuple[dict[str, Any], dict[str, Any], Any] = await _with_server(handler, both)
        return out

    open_res, closed_res, plan = uvloop.run(main())
    # the truth from the schedule: a request intended at t inside the stall waits until its end
    offsets = list(intended_offsets(plan.load, part=0, parts=1, seed=plan.load.seed))
    truth_ms = [max(stall_to - t, 0.0) * 1000.0 if stall_from <= t < stall_to else 0.0 for t in offsets]
    true_p99 = _true_percentile(truth_ms, 99.0)
    assert 900.0 < true_p99 < 1000.0

    summary = combine_parts([open_res]).summary
    assert summary["requests"] == len(offsets) and summary["errors"] == 0
    assert abs(summary["latency_ms"]["p99"] - true_p99) <= 0.1 * true_p99
    assert summary["latency_ms"]["p50"] < 50.0  # the server's normal latency (sub-ms), not the stall's
    assert summary["latency_ms"]["max"] >= 0.9 * max(truth_ms)
    assert summary["latency_at_least"] == []

    closed = combine_parts([closed_res]).summary
    assert closed["errors"] == 0 and closed["requests"] > 100
    assert closed["latency_ms"]["max"] >= 500.0  # it did meet the stall ...
    assert closed["latency_ms"]["p99"] < 0.2 * summary["latency_ms"]["p99"]  # ... with one request: omitted


def test_close_delimited_framing_is_read_from_the_header_block() -> None:
    """What the EOF check accepts (RFC 9112 §6.3): no length and not chunked; anything it cannot verify is not."""
    assert ends_at_eof(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody")
    assert ends_at_eof(b"HTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\nHTTP/1.0 200 OK\r\n\r\n")
    assert ends_at_eof(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")  # not chunked: until the close
    assert not ends_at_eof(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nbody")
    assert not ends_at_eof(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
    assert not ends_at_eof(b"HTTP/1.1 200 OK\r\nServer: x\r\n")  # the header block spans reads: unverified
    assert not ends_at_eof(b"HTTP/1.1 100 Continue\r\n\r\n")  # only an interim response so far
    assert not ends_at_eof(b"tail of something else")
