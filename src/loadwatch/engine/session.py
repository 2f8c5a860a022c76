"""Sessions and journeys: virtual users with state, off the plain hot path.

A plan with a `session:`, a journey (`steps:`) or a scenario that follows redirects runs here instead of through
the driver's callback path: each scenario (or journey) of an arrival or a user is a small coroutine that awaits its
answers, because the next request depends on the last answer (cookies, extracted values, a login, a redirect).

- **Cookies**: one `http.cookiejar.CookieJar` per session (RFC 6265 domain, path and expiry rules are the standard
  library's); the `Cookie` header of a path is cached until the jar changes or a cookie in it expires.
- **Values**: `extract:` takes a JSON path, a header or a regular expression's match from an answer into the
  session's values (login, refresh) or the journey's (its next steps).
- **Login**: the session's login steps run when it starts, before its first scenario, recorded apart (the load
  summary's `sessions`) unless `measure_login`. **Refresh**: when the credentials are due (`every`, or the
  extracted `expires_in`, less the margin) the refresh steps run before the session's next request, so a token is
  renewed before it expires, never after a 401. A failed login or refresh is an error of its own kind
  (`session_login`, `session_refresh`) on the request that needed it, which is then not sent.
- **Open model**: arrivals take a session from a pool of `session.pool` sessions (waiting, from their intended
  send time, when all are busy). **Closed model**: each user is a session.
- **Journeys**: the steps go one after the other; each step's latency runs from its own intended send (the first
  step's: the arrival's intended time; a later step's: the previous answer), the journey's end-to-end time from the
  first step's intended send to the last answer (`journeys` in the load summary).
- **Redirects**: a scenario with `redirects: N` follows up to N 3xx answers on the target's own host; each hop is a
  request of the scenario, recorded like any other (its latency from its own send)."""

from __future__ import annotations

import asyncio
import http.client
import http.cookiejar
import json
import re
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any, TypedDict

from loadwatch.config import Extract, Plan, Step
from loadwatch.engine.build import CompiledScenario, RequestFactory, check_response, compile_scenario, extract_json_path
from loadwatch.engine.client import TIMEOUT_KINDS, Conn, FullConn, classify_error, open_conn
from loadwatch.engine.data import DataExhausted
from loadwatch.engine.recording import Recorder
from loadwatch.load_shapes import RefreshUse

if TYPE_CHECKING:
    from loadwatch.engine.driver import Runner

__all__ = ["SessionConn", "SessionCounts", "SessionRunner", "needs_sessions", "session_names"]

LOGIN_BACKOFF_S = 0.5  # a session whose login failed waits this long before the next attempt
FINISH_WAIT_S = 0.2  # at the end, for the tasks whose requests were just abandoned to record them
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def needs_sessions(plan: Plan) -> bool:
    """Whether the plan needs this path: a session, a journey, or a scenario that follows redirects."""
    return plan.session is not None or any(s.steps is not None or s.redirects for s in plan.scenarios)


class SessionCounts(TypedDict):
    """What the sessions did (per process, then summed): in the load summary's `sessions`."""

    sessions: int
    logins: int
    login_failures: int
    refreshes: int
    refresh_failures: int


class SessionConn(FullConn):
    """A connection that keeps the answer's header block too (cookies, extraction, redirects): the raw bytes up
    to the end of the headers, split into fields only when something needs them (one callback per answer, not
    one per header)."""

    __slots__ = ("chunks", "raw_head")

    def __init__(self, owner: Any) -> None:
        super().__init__(owner)
        self.chunks: list[bytes] | None = None  # the reads of the answer in flight, until its headers ended
        self.raw_head = b""

    def data_received(self, data: bytes) -> None:
        if self.chunks is not None:
            self.chunks.append(data)
        super().data_received(data)

    def on_headers_complete(self) -> None:
        if self.parser.get_status_code() >= 200 and self.chunks is not None:
            self.raw_head = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
            self.chunks = None
        super().on_headers_complete()

    def send(self, data: bytes, token: Any, head: bool, want_body: bool, deadline_ns: int) -> None:
        self.chunks = []
        self.raw_head = b""
        # Conn.send, inlined (one call per request less)
        self.token = token
        self.head = head
        self.want_body = want_body
        self.first = None
        self.sent_ns = perf_counter_ns()
        self.deadline_ns = deadline_ns
        self.transport.write(data)  # type: ignore[union-attr]


def parse_head(raw: bytes) -> list[tuple[bytes, bytes]]:
    """The header fields of the final answer in `raw` (its reads up to the end of its headers; 1xx interim
    answers before it skipped)."""
    pos = 0
    while True:
        end = raw.find(b"\r\n\r\n", pos)
        if end < 0:
            end = len(raw)
        code = raw[pos + 9:pos + 12]
        if not (code.isdigit() and int(code) < 200) or end >= len(raw):
            break
        pos = end + 4
    fields: list[tuple[bytes, bytes]] = []
    for line in raw[pos:end].split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            fields.append((name.strip(), value.strip()))
    return fields


_SET_COOKIE = re.compile(rb"\r\nset-cookie2?[ \t]*:", re.IGNORECASE)


@dataclass(slots=True)
class Answer:
    status: int  # 0: no answer (see kind)
    raw_head: bytes
    body: bytes
    sent_ns: int
    done_ns: int
    kind: str | None = None  # a transport failure's kind
    message: str = ""
    _fields: list[tuple[bytes, bytes]] | None = None

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        if self._fields is None:
            self._fields = parse_head(self.raw_head)
        return self._fields

    def header(self, name: str) -> str | None:
        want = name.lower().encode()
        for k, v in self.headers:
            if k.lower() == want:
                return v.decode("latin-1")
        return None

    def sets_cookies(self) -> bool:
        return _SET_COOKIE.search(self.raw_head) is not None


class _Info:
    """What `CookieJar.extract_cookies` reads of a response: its headers."""

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.msg = http.client.HTTPMessage()
        for k, v in headers:
            self.msg[k.decode("latin-1")] = v.decode("latin-1")

    def info(self) -> http.client.HTTPMessage:
        return self.msg


class Session:
    """One virtual user's state."""

    __slots__ = ("cookie_cache", "cookie_until", "jar", "logged_in", "refresh_at_ns", "refresh_by", "retry_at_ns",
                 "values")

    def __init__(self, cookies: bool) -> None:
        self.jar = http.cookiejar.CookieJar() if cookies else None
        self.values: dict[str, Any] = {}  # extracted values, and the rows and pool values its login drew
        self.logged_in = False
        self.refresh_at_ns: int | None = None
        self.refresh_by = "every"  # what set refresh_at_ns: "expires_in" (an answer's lifetime) or "every" (the plan)
        self.retry_at_ns = 0
        self.cookie_cache: dict[str, bytes] = {}
        self.cookie_until = float("inf")  # epoch s when the first cookie in the jar expires

    def cookie_line(self, base: str, path: str) -> bytes:
        if self.jar is None:
            return b""
        if time.time() >= self.cookie_until:
            self.jar.clear_expired_cookies()
            self._jar_changed()
        line = self.cookie_cache.get(path)
        if line is None:
            req = urllib.request.Request(base + path)
            self.jar.add_cookie_header(req)
            value = req.get_header("Cookie")
            line = self.cookie_cache[path] = f"Cookie: {value}\r\n".encode("latin-1") if value else b""
        return line

    def take_cookies(self, base: str, path: str, ans: Answer) -> None:
        if self.jar is None or _SET_COOKIE.search(ans.raw_head) is None:
            return
        self.jar.extract_cookies(_Info(ans.headers), urllib.request.Request(base + path))  # type: ignore[arg-type]
        self._jar_changed()

    def _jar_changed(self) -> None:
        self.cookie_cache.clear()
        assert self.jar is not None
        expiries = [c.expires for c in self.jar if c.expires is not None]
        self.cookie_until = min(expiries) if expiries else float("inf")


class _Client:
    """Connections for the session path (a ConnOwner): one request per connection at a time, answers as futures."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.loop: asyncio.AbstractEventLoop | None = None  # the run's loop (set when the run starts)
        self.idle: list[Conn] = []
        self.conns: set[Conn] = set()

    def send_idle(self, data: bytes, head: bool, deadline_ns: int) -> asyncio.Future[Answer] | None:
        """Send on an idle connection if there is one: the answer's future, else None."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                assert self.loop is not None
                fut: asyncio.Future[Answer] = self.loop.create_future()
                conn.send(data, fut, head, True, deadline_ns)
                return fut
        return None

    async def exchange(self, data: bytes, head: bool, deadline_ns: int) -> Answer:
        r = self.runner
        conn = None
        while self.idle:
            c = self.idle.pop()
            if not c.closed:
                conn = c
                break
        if conn is None:
            left_s = (deadline_ns - perf_counter_ns()) / 1e9
            if left_s <= 0:
                now = perf_counter_ns()
                msg = "total timeout passed before a connection was opened"
                return Answer(0, b"", b"", 0, now, "read_timeout", msg)
            try:
                conn = await open_conn(self, r.host, r.port, ssl_ctx=r.ssl_ctx, server_hostname=r.host,
                                       timeout=min(r.connect_timeout, left_s), conn_class=SessionConn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every connect failure is a classified outcome, never a crash
                kind, msg = classify_error(exc, connecting=True)
                return Answer(0, b"", b"", 0, perf_counter_ns(), kind, msg)
            self.conns.add(conn)
        fut: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        conn.send(data, fut, head, True, deadline_ns)
        return await fut

    # ConnOwner
    def on_response(self, conn: Conn, token: Any, status: int, body: bytes | None, done_ns: int, keep: bool) -> None:
        if not token.done():
            token.set_result(Answer(status, conn.raw_head, body or b"", conn.sent_ns, done_ns))  # type: ignore[attr-defined]
        if keep:
            self.idle.append(conn)
        else:
            conn.close()

    def on_failure(self, conn: Conn, token: Any, kind: str, message: str, done_ns: int) -> None:
        if not token.done():
            token.set_result(Answer(0, b"", b"", conn.sent_ns, done_ns, kind, message))

    def on_protocol_error(self, conn: Conn, message: str) -> None:
        self.runner.on_protocol_error(conn, message)

    def on_closed(self, conn: Conn) -> None:
        self.conns.discard(conn)

    def expire(self, now_ns: int, *, all_: bool = False) -> None:
        for conn in [c for c in self.conns if c.token is not None]:
            if all_:
                conn.deadline_ns = now_ns
            conn.expire(now_ns)

    def close(self) -> None:
        for conn in list(self.conns):
            conn.close()


def _extract(spec: Extract, ans: Answer, doc: list[Any]) -> Any:
    """The value, or None when the answer has none. `doc` caches the parsed JSON body across extractions."""
    if spec.header is not None:
        return ans.header(spec.header)
    if spec.json_path is not None:
        if not doc:
            try:
                doc.append(json.loads(ans.body))
            except ValueError:
                doc.append(None)
        found = extract_json_path(doc[0], spec.json_path) if doc[0] is not None else []
        return found[0] if found else None
    m = re.search(str(spec.regex), ans.body.decode("utf-8", "replace"))
    if m is None:
        return None
    return m.group(1) if m.re.groups else m.group(0)


class SessionRunner:
    """The session path of one generator process (see the module docstring); the Runner owns the schedule."""

    def __init__(self, runner: Runner, plan: Plan, factory: RequestFactory, host_header: str) -> None:
        self.r = runner
        self.plan = plan
        self.factory = factory
        self.spec = plan.session
        self.client = _Client(runner)
        self.base = plan.target.url
        self.timeout_ns = runner.timeout_ns
        login = self.spec.login if self.spec is not None else []
        refresh = (self.spec.refresh.steps or login) if self.spec is not None and self.spec.refresh else []
        self.measure_login = self.spec is not None and self.spec.measure_login
        names = [f"login/{st.name}" for st in login] + [f"refresh/{st.name}" for st in refresh
                                                        if self.spec is not None and self.spec.refresh
                                                        and self.spec.refresh.steps]
        self.login = self._compile(login, "login", host_header)
        self.refresh = (self._compile(refresh, "refresh", host_header)
                        if self.spec is not None and self.spec.refresh and self.spec.refresh.steps else self.login)
        # login and refresh timings: apart from the scenarios (warm-up included: a session logs in once, early)
        if self.measure_login:
            names = []  # recorded with the scenarios (the Runner's recorder has their names)
        self.srec = Recorder(names or ["-"], warmup_s=0.0, start_epoch=runner.cfg.start_at)
        journeys = [s.name for s in plan.scenarios if s.steps is not None]
        self.jindex = {n: i for i, n in enumerate(journeys)}
        self.jrec = Recorder(journeys or ["-"], warmup_s=runner.warmup, start_epoch=runner.cfg.start_at)
        self.counts = SessionCounts(sessions=0, logins=0, login_failures=0, refreshes=0, refresh_failures=0)
        self.triggers: dict[str, int] = {}  # renewals by what timed them (RefreshUse.by_trigger)
        self.pool: asyncio.Queue[Session] | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.users: list[asyncio.Task[None] | None] = []
        self.want = 0  # closed model: users wanted now

    def _compile(self, steps: list[Step], label: str, host_header: str) -> list[CompiledScenario]:
        return [compile_scenario(st, i, host_header, f"{label}/{st.name}") for i, st in enumerate(steps)]

    def new_session(self) -> Session:
        self.counts["sessions"] += 1
        return Session(self.spec.cookies if self.spec is not None else False)

    def start(self, t0_ns: int) -> None:
        self.client.loop = asyncio.get_running_loop()
        self.srec.start(t0_ns)
        self.jrec.start(t0_ns)
        if self.r.load.model == "open":
            size = self.spec.pool if self.spec is not None else 1
            self.pool = asyncio.Queue()
            for _ in range(size):  # each session logs in first, then joins the pool the arrivals take from
                self._spawn(self._prelogin(self.new_session()))

    async def _prelogin(self, session: Session) -> None:
        """Open model: log a pool session in before any arrival uses it (a failure is retried by the arrival
        that takes it, and counted there)."""
        assert self.pool is not None
        if self.login:
            await self._ready(session)
        self.pool.put_nowait(session)

    # ------------------------------------------------------------------ schedule
    def arrive(self, intended_ns: int) -> None:
        """Open model: one arrival (the pacer's send)."""
        unit = self.factory.pick()
        self._spawn(self._arrival(unit, intended_ns))

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _arrival(self, unit: CompiledScenario, intended_ns: int) -> None:
        r = self.r
        r.in_flight += 1
        try:
            if self.spec is None:
                await self.run_unit(None, unit, intended_ns)
                return
            assert self.pool is not None
            try:
                session = await self.pool.get()  # the wait, when every session is busy, is part of the latency
            except asyncio.CancelledError:  # the run ended first: abandoned, like a send waiting for a connection
                now = perf_counter_ns()
                r.rec.abandoned(unit.index, intended_ns, 0, now, "read_timeout", "no session free before the run ended")
                raise
            try:
                await self.run_unit(session, unit, intended_ns)
            finally:
                self.pool.put_nowait(session)
        finally:
            r.in_flight -= 1

    def adjust(self, want: int) -> None:
        """Closed model: `want` users, each a session looping over scenarios with think time. A user beyond
        `want` stops after its scenario in flight (so nothing it sent goes unrecorded)."""
        self.want = want
        while len(self.users) < want:
            self.users.append(None)
        for i, task in enumerate(self.users):
            if i < want and task is None and self.r.scheduling:
                self.users[i] = self._spawn(self._user(i))

    async def _user(self, i: int) -> None:
        r = self.r
        session = self.new_session()
        rng = r.rng
        try:
            intended_ns = perf_counter_ns()
            while r.scheduling and r.sent < r.send_cap and i < self.want:
                r.in_flight += 1
                try:
                    ok = await self.run_unit(session, self.factory.pick(), intended_ns)
                finally:
                    r.in_flight -= 1
                think = r.load.think_time
                if think > 0:
                    j = r.load.think_jitter
                    think *= 1.0 + j * (2.0 * rng.random() - 1.0)
                if not ok:
                    think = max(think, 0.05)  # no busy loop on a failing target
                if think > 0:
                    await asyncio.sleep(think)
                intended_ns = perf_counter_ns()
        except asyncio.CancelledError:
            return  # the run's end cancels its users: a normal stop, not an error
        finally:
            if 0 <= i < len(self.users) and self.users[i] is asyncio.current_task():
                self.users[i] = None

    async def finish(self) -> None:
        """The end of the run: requests still in flight are abandoned (recorded), users stop."""
        self.client.expire(perf_counter_ns(), all_=True)
        pending = [t for t in self.tasks if not t.done()]
        if pending:  # let the abandoned requests be recorded; users thinking and arrivals waiting then stop
            await asyncio.wait(pending, timeout=FINISH_WAIT_S)
        for task in list(self.tasks):
            if not task.done():
                task.cancel()
        if self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        self.client.close()
        self.srec.close()
        self.jrec.close()

    # ------------------------------------------------------------------ one scenario or journey
    async def run_unit(self, session: Session | None, unit: CompiledScenario, intended_ns: int) -> bool:
        """A scenario or a journey for `session`; every request recorded. True when all of it answered well."""
        rec = self.r.rec
        if session is not None and self.login and not (
            session.logged_in and (session.refresh_at_ns is None or perf_counter_ns() < session.refresh_at_ns)
        ):  # a login or renewal is due (checked here first: most requests need neither, and an await costs)
            failed = await self._ready(session)
            if failed is not None:
                rec.record(unit.index, intended_ns, 0, 0, perf_counter_ns(), *failed)
                return False
            if self.r.load.model == "closed":
                # a user's login or renewal is its own business, outside its scenario's latency (the closed
                # model's next request is due when the user is ready); an open-model arrival waits for it, as a
                # client would, and that wait is in its latency
                intended_ns = perf_counter_ns()
        if unit.steps is None:  # one request: its values are the session's and its own draws
            drawn = dict(session.values) if session is not None else {}
            try:
                return (await self.request(session, unit, drawn, intended_ns, rec, drawn))[1] is None
            except DataExhausted:
                self.r.end_schedule()
                return False
        values: dict[str, Any] = dict(session.values) if session is not None else {}
        steps = unit.steps
        t = intended_ns
        first_sent = 0
        ans: Answer | None = None
        bad: tuple[str, str] | None = None
        for sc in steps:
            try:
                # one value per name in a journey: a row or pool value drawn by a step stays for the next steps
                ans, bad = await self.request(session, sc, values, t, rec, values)
            except DataExhausted:
                self.r.end_schedule()  # a stopping data source ran out in this process: no more sends
                return False
            first_sent = first_sent or ans.sent_ns
            if bad is not None:
                break
            t = ans.done_ns  # the next step's intended send: this answer
        if ans is not None:
            j = self.jindex[unit.name.partition("/")[0]]
            self.jrec.record(j, intended_ns, ans.status if bad is None else 0, first_sent or ans.done_ns, ans.done_ns,
                             bad[0] if bad else None, bad[1] if bad else "")
        return bad is None

    async def _ready(self, session: Session) -> tuple[str, str] | None:
        """Log in or refresh when due; the error (kind, message) that keeps the request from being sent."""
        if not self.login:
            return None
        now = perf_counter_ns()
        if not session.logged_in:
            if now < session.retry_at_ns:
                return "session_login", "the session's last login failed; retrying after a pause"
            self.counts["logins"] += 1
            bad = await self._steps(session, self.login, "session_login")
            if bad is not None:
                self.counts["login_failures"] += 1
                session.retry_at_ns = perf_counter_ns() + int(LOGIN_BACKOFF_S * 1e9)
                return bad
            session.logged_in = True
            self._schedule_refresh(session)
            return None
        if session.refresh_at_ns is not None and now >= session.refresh_at_ns:
            self.counts["refreshes"] += 1
            self.triggers[session.refresh_by] = self.triggers.get(session.refresh_by, 0) + 1
            bad = await self._steps(session, self.refresh, "session_refresh")
            if bad is not None:
                self.counts["refresh_failures"] += 1
                session.logged_in = False  # the next request logs in again
                return bad
            self._schedule_refresh(session)
        return None

    def _schedule_refresh(self, session: Session) -> None:
        spec = self.spec.refresh if self.spec is not None else None
        if spec is None:
            return
        life, by = spec.every, "every"
        if spec.expires_in is not None:
            try:
                life, by = float(session.values.get(spec.expires_in)), "expires_in"  # type: ignore[arg-type]
            except (TypeError, ValueError):
                life = spec.every  # no usable lifetime in the answer: the plan's setting, if any
        session.refresh_by = by
        session.refresh_at_ns = perf_counter_ns() + int(life * (1.0 - spec.margin) * 1e9) if life else None

    async def _steps(self, session: Session, steps: list[CompiledScenario], kind: str) -> tuple[str, str] | None:
        rec = self.r.rec if self.measure_login else self.srec
        offset = self._login_offset(steps)
        for sc in steps:
            now = perf_counter_ns()
            # login values (a user's row, pool draws) stay the session's: the same user for every later request
            try:
                _ans, bad = await self.request(session, sc, session.values, now, rec, session.values,
                                               index=sc.index + offset)
            except DataExhausted as exc:
                self.r.end_schedule()
                return kind, f"{sc.name}: data source {exc.name!r} has no row left"
            if bad is not None:
                return kind, f"{sc.name}: {bad[1]}"
        return None

    def _login_offset(self, steps: list[CompiledScenario]) -> int:
        """Where login/refresh steps are recorded: after the scenarios (`measure_login`) or in their own recorder,
        the refresh's own steps after the login's."""
        base = len(self.factory.names) if self.measure_login else 0
        return base if steps is self.login else base + len(self.login)

    # ------------------------------------------------------------------ one request (and its redirects)
    async def request(
        self,
        session: Session | None,
        sc: CompiledScenario,
        drawn: dict[str, Any],
        intended_ns: int,
        rec: Recorder,
        values: dict[str, Any],
        index: int | None = None,
    ) -> tuple[Answer, tuple[str, str] | None]:
        """Send `sc` (rendered with `drawn`), follow its redirects, record every hop, extract into `values`."""
        idx = sc.index if index is None else index
        try:
            data = self.factory.render(sc, drawn)
        except KeyError as exc:  # the plan is checked for this; a value missing now is an error, never a crash
            now = perf_counter_ns()
            msg = f"no value for {{{exc.args[0]}}} in this session or journey"
            rec.record(idx, intended_ns, 0, 0, now, "check_failed", msg)
            return Answer(0, b"", b"", 0, now, "check_failed", msg), ("check_failed", msg)
        head = sc.head
        hops = sc.spec.redirects if sc.spec is not None else 0
        jar = session is not None and session.jar is not None
        while True:
            path = _target(data) if jar else ""
            if jar:
                assert session is not None
                line = session.cookie_line(self.base, path)
                if line:
                    cut = data.index(b"\r\n") + 2
                    data = data[:cut] + line + data[cut:]
            self.r.sent += 1
            deadline = intended_ns + self.timeout_ns
            fut = self.client.send_idle(data, head, deadline)  # an idle connection: no coroutine to open one
            ans = await fut if fut is not None else await self.client.exchange(data, head, deadline)
            if ans.kind is not None:
                if self.r.finishing and self.r.stopped:  # cut off by a stop on request: counted apart, as ever
                    self.r.cancelled += 1
                elif ans.kind in TIMEOUT_KINDS:
                    rec.abandoned(idx, intended_ns, ans.sent_ns, ans.done_ns, ans.kind, ans.message)
                else:
                    rec.record(idx, intended_ns, 0, 0, ans.done_ns, ans.kind, ans.message)
                return ans, (ans.kind, ans.message)
            if jar:
                assert session is not None
                session.take_cookies(self.base, path, ans)
            location = ans.header("location") if hops > 0 and ans.status in REDIRECTS else None
            nxt = _redirect(data, ans.status, location, self.base) if location else None
            if nxt is None:
                break
            rec.record(idx, intended_ns, ans.status, ans.sent_ns, ans.done_ns, None, "")  # a hop: a request
            hops -= 1
            data, intended_ns = nxt, ans.done_ns
        bad = check_response(sc, ans.status, ans.body)
        if bad is None and sc.spec is not None and isinstance(sc.spec, Step) and sc.spec.extract:
            doc: list[Any] = []
            for name, spec in sc.spec.extract.items():
                value = _extract(spec, ans, doc)
                if value is None:
                    bad = "check_failed", f"extract {name!r}: the answer (HTTP {ans.status}) has no such value"
                    break
                values[name] = value
        rec.record(idx, intended_ns, ans.status, ans.sent_ns, ans.done_ns, bad[0] if bad else None,
                   bad[1] if bad else "")
        return ans, bad

    # ------------------------------------------------------------------ result
    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.spec is not None:
            out["sessions"] = {**self.counts, "steps": self.srec.scenarios() if self.srec.names != ["-"] else {}}
            rule = self.spec.refresh
            if rule is not None:
                out["sessions"]["refresh"] = RefreshUse(every=rule.every, expires_in=rule.expires_in,
                                                        margin=rule.margin, own_steps=rule.steps is not None,
                                                        by_trigger=dict(sorted(self.triggers.items())))
        if self.jindex:
            out["journeys"] = self.jrec.scenarios()
        return out


def _target(data: bytes) -> str:
    """The request-target (path and query) of a rendered request."""
    start = data.index(b" ") + 1
    return data[start:data.index(b" ", start)].decode("latin-1")


def _redirect(data: bytes, status: int, location: str, base: str) -> bytes | None:
    """The request that follows a redirect on the target's own host (None: elsewhere, not followed). 301/302/303
    become a GET without a body; 307/308 repeat the method and body."""
    url = urllib.parse.urljoin(base + _target(data), location)
    to, own = urllib.parse.urlsplit(url), urllib.parse.urlsplit(base)
    if (to.scheme, to.netloc) != (own.scheme, own.netloc):
        return None
    target = (to.path or "/") + (f"?{to.query}" if to.query else "")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    method = lines[0].split(b" ", 1)[0]
    keep = [ln for ln in lines[1:] if not ln.lower().startswith(b"cookie:")]
    if status in (307, 308):
        return b"\r\n".join([b"%s %s HTTP/1.1" % (method, target.encode()), *keep]) + b"\r\n\r\n" + body
    keep = [ln for ln in keep if not ln.lower().startswith((b"content-length:", b"content-type:"))]
    return b"\r\n".join([b"GET %s HTTP/1.1" % target.encode(), *keep]) + b"\r\n\r\n"


def session_names(plan: Plan) -> list[str]:
    """Login and refresh steps counted as scenarios (`measure_login`): appended to the recording's names."""
    spec = plan.session
    if spec is None or not spec.measure_login:
        return []
    names = [f"login/{st.name}" for st in spec.login]
    if spec.refresh is not None and spec.refresh.steps:
        names += [f"refresh/{st.name}" for st in spec.refresh.steps]
    return names

