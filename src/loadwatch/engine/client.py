"""The hot path: a lean HTTP/1.1 keep-alive client connection on asyncio.Protocol + httptools.

One `Conn` carries one request at a time (no pipelining). It never allocates a future: when a response
completes (or the connection fails) it calls its owner back synchronously, so a closed-model user with no
think time sends its next request from inside `data_received`, the way wrk does. TLS uses the same class
through `loop.create_connection(ssl=...)`. Timing uses `time.perf_counter_ns` (monotonic, ns).

httptools calls only the callbacks the protocol object defines, and each is a Python call per response:
`Conn` defines just `on_message_complete`; `FullConn` adds `on_body` (JSON checks) and `on_headers_complete`
(HEAD), and is used only when a scenario needs them. What the lean path needs beyond that (close-delimited
framing at EOF, unsolicited responses) it reads from `first`, the first read after the request was sent."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from time import perf_counter_ns
from typing import Any, Protocol

import httptools

__all__ = [
    "TIMEOUT_KINDS",
    "Conn",
    "ConnOwner",
    "FullConn",
    "classify_error",
    "ends_at_eof",
    "open_conn",
]


class ConnOwner(Protocol):
    def on_response(
        self, conn: Conn, token: Any, status: int, body: bytes | None, done_ns: int, keep: bool
    ) -> None: ...

    def on_failure(self, conn: Conn, token: Any, kind: str, message: str, done_ns: int) -> None: ...

    def on_protocol_error(self, conn: Conn, message: str) -> None: ...

    def on_closed(self, conn: Conn) -> None: ...


class _HeadDone(Exception):
    """Raised from on_headers_complete for HEAD: httptools cannot be told that no body follows."""


class _Unsolicited(Exception):
    """Raised from on_message_complete: a response that answers no request (it stops the parse)."""


TIMEOUT_KINDS = frozenset({"read_timeout", "connect_timeout"})  # abandoned after a wait: a censored latency


def classify_error(exc: BaseException | None, *, connecting: bool = False) -> tuple[str, str]:
    """Map an exception to its error kind (loadwatch.vocabulary.ERROR_KINDS): (kind, short message)."""
    msg = f"{type(exc).__name__}: {exc}" if exc is not None else "connection closed by the server mid-response"
    if exc is None:
        return "connection_reset", msg
    if isinstance(exc, socket.gaierror):
        return "dns", msg
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return "tls", msg
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return ("connect_timeout" if connecting else "read_timeout"), msg
    if isinstance(exc, ConnectionRefusedError):
        return "connect_refused", msg
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "connection_reset", msg
    if isinstance(exc, OSError):
        if exc.errno in (errno.ECONNREFUSED,):
            return "connect_refused", msg
        if exc.errno in (errno.ETIMEDOUT,):
            return ("connect_timeout" if connecting else "read_timeout"), msg
        if exc.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
            return "connection_reset", msg
        if "ssl" in str(exc).lower() or "certificate" in str(exc).lower():
            return "tls", msg
    return "other", msg


def ends_at_eof(chunk: bytes) -> bool:
    """Whether the final response whose header block starts `chunk` (the first read after the request was
    sent; 1xx interim responses before it are skipped) is delimited by the close of the connection (RFC 9112
    §6.3): no Content-Length, and no Transfer-Encoding that ends in chunked. False when its header block is not
    wholly in `chunk` (it spanned reads): the framing cannot be checked, and an unverified close is not an
    answer (it stays a `connection_reset`)."""
    pos = 0
    while True:
        if not chunk.startswith(b"HTTP/", pos):
            return False
        end = chunk.find(b"\r\n\r\n", pos)
        if end < 0:
            return False
        block = chunk[pos:end]
        code = block[9:12]
        if not code.isdigit():
            return False
        if int(code) >= 200:
            break
        pos = end + 4  # a 1xx interim response before the final one
    for line in block.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            return False
        if name == b"transfer-encoding" and value.strip().lower().endswith(b"chunked"):
            return False
    return True


class Conn(asyncio.Protocol):
    """One keep-alive connection. `token` is the owner's handle of the request in flight (None when idle).

    RFC 9112 response shapes: 1xx interim responses (100, 102, 103) are parsed as messages by httptools and
    skipped (they never complete a request); 204, 304 and 1xx have no body (llhttp knows); HEAD ends at the
    headers (FullConn); a close-delimited body completes when the server closes cleanly (httptools has no EOF
    call: the header block in `first` is checked instead); a response that arrives while no request is
    outstanding, or after the request's answer in the same read (without pipelining the server cannot have
    answered the next request yet: `first` is None again once the next request is sent), a malformed one, or
    a 101, is a protocol error: the owner is told, the request in flight fails as `protocol_error`, and the
    connection is dropped."""

    __slots__ = (
        "body",
        "closed",
        "deadline_ns",
        "first",
        "head",
        "owner",
        "parser",
        "sent_ns",
        "token",
        "transport",
        "user",
        "want_body",
    )

    def __init__(self, owner: ConnOwner) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.token: Any = None
        self.sent_ns = 0
        self.deadline_ns = 0
        self.head = False
        self.want_body = False
        self.body: list[bytes] = []
        self.closed = False
        self.user: Any = None  # closed model: the virtual user owning this connection
        self.first: bytes | None = None  # the first read since the last send (None: nothing read since)

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.first is None:
            self.first = data
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _HeadDone):
                self.parser = httptools.HttpResponseParser(self)
            elif isinstance(cause, _Unsolicited):
                self._protocol_error("a response arrived with no request outstanding on its connection")
            else:
                self._fail("other", f"response handling failed: {cause!r}")
        except httptools.HttpParserUpgrade:
            self._protocol_error("101 Switching Protocols to a request that asked for no upgrade")
        except httptools.HttpParserError as exc:
            self._protocol_error(f"malformed HTTP response: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.token is not None:
            first = self.first
            if exc is None and first is not None and ends_at_eof(first):
                # a body delimited by the close: this clean EOF completes it (RFC 9112 §6.3 item 8)
                try:
                    self.on_message_complete()
                except _Unsolicited:
                    self.owner.on_protocol_error(self, "a response arrived with no request outstanding")
            if self.token is not None:
                kind, msg = classify_error(exc)
                self._fail(kind, msg)
        self.owner.on_closed(self)

    # -- httptools callback (the only one a lean connection defines)
    def on_message_complete(self) -> None:
        done = perf_counter_ns()
        p = self.parser
        status = p.get_status_code()
        if status < 200:
            return  # 1xx interim response: the final one is still to come
        token = self.token
        if token is None or self.first is None:
            raise _Unsolicited
        self.token = None
        self.owner.on_response(self, token, status, None, done, p.should_keep_alive())

    # -- owner side
    def send(self, data: bytes, token: Any, head: bool, want_body: bool, deadline_ns: int) -> None:
        """`deadline_ns`: the request's total timeout, counted from its intended send time by the owner."""
        self.token = token
        self.head = head
        self.want_body = want_body
        self.first = None
        self.sent_ns = perf_counter_ns()
        self.deadline_ns = deadline_ns
        self.transport.write(data)  # type: ignore[union-attr]

    def _protocol_error(self, message: str) -> None:
        self.owner.on_protocol_error(self, message)
        self._fail("protocol_error", message)

    def _fail(self, kind: str, message: str) -> None:
        token = self.token
        self.token = None
        self.body = []
        if token is not None:
            self.owner.on_failure(self, token, kind, message, perf_counter_ns())
        self.abort()

    def expire(self, now_ns: int) -> bool:
        """Fail the request in flight with read_timeout if its deadline passed."""
        if self.token is not None and now_ns >= self.deadline_ns:
            self._fail("read_timeout", "no complete response within the total timeout")
            return True
        return False

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()


class FullConn(Conn):
    """A connection that can collect bodies (JSON checks) and end HEAD responses at the headers."""

    __slots__ = ()

    def on_body(self, body: bytes) -> None:
        if self.want_body:
            self.body.append(body)

    def on_message_complete(self) -> None:
        # Conn.on_message_complete plus the body (kept out of the lean path)
        done = perf_counter_ns()
        p = self.parser
        status = p.get_status_code()
        if status < 200:
            return
        token = self.token
        if token is None or self.first is None:
            raise _Unsolicited
        self.token = None
        body = None
        if self.want_body:
            body = b"".join(self.body)
            self.body = []
        self.owner.on_response(self, token, status, body, done, p.should_keep_alive())

    def on_headers_complete(self) -> None:
        if self.head and self.parser.get_status_code() >= 200:  # a 1xx before the HEAD answer has no body
            self.on_message_complete()
            raise _HeadDone


async def open_conn(
    owner: ConnOwner,
    host: str,
    port: int,
    *,
    ssl_ctx: ssl.SSLContext | None,
    server_hostname: str | None,
    timeout: float,
    full: bool = True,
    conn_class: type[Conn] | None = None,
) -> Conn:
    """Connect; raises the original exception (classify with `classify_error(exc, connecting=True)`).
    `full=False` gives a lean connection (no body collection, no HEAD support); `conn_class` another kind."""
    loop = asyncio.get_running_loop()
    cls = conn_class or (FullConn if full else Conn)
    _t, conn = await asyncio.wait_for(
        loop.create_connection(
            lambda: cls(owner), host, port, ssl=ssl_ctx, server_hostname=server_hostname if ssl_ctx else None
        ),
        timeout,
    )
    try:
        sock = _t.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    return conn
