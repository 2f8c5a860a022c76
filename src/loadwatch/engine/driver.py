"""One generator process's driver: drives the open or closed model over `Conn`s (the pacer's sends, the users,
the connections and their queue, timeouts, the run loop and the drain) and tells the recorder (recording.py) what
became of every request.

Every request that was due is accounted for (docs/METHOD.md, "How requests are counted"):
  * the total timeout runs from the intended send, waiting for a connection included: a request abandoned at
    its deadline (queued, connecting or sent) is an error of its kind (`read_timeout`, `connect_timeout`) *and*
    a latency recorded at the time it had waited, counted `censored` (its true latency is at least that);
    service time likewise for a request that was sent. Requests left at the end of the drain are censored too;
  * transport failures (refused, reset, DNS, TLS) and protocol errors are requests and errors, no latency;
  * a send the pacer abandons at the in-flight cap is a request and an error of kind `dropped` of its scenario
    (the target held `max_in_flight` requests), no latency;
  * a value beyond the histogram's range is recorded at its edge and counted `clamped`;
  * open model: a send written more than 1 ms after its intended time because every connection was busy is
    `late_target` (the target's slowness); the pacer's own lateness with a connection free is `late`."""

from __future__ import annotations

import asyncio
import math
import random
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import Any
from urllib.parse import urlsplit

from loadwatch.config import Plan
from loadwatch.engine.build import CompiledScenario, RequestFactory, check_response
from loadwatch.engine.client import TIMEOUT_KINDS, Conn, classify_error, open_conn
from loadwatch.engine.data import DataExhausted, Table
from loadwatch.engine.pacer import LATE_TOLERANCE_NS, OpenPacer, tick_for_rate
from loadwatch.engine.recording import ERROR_SAMPLE_CHARS, Recorder
from loadwatch.engine.schedule import closed_users_at, intended_offsets, local_users, split_count
from loadwatch.engine.session import SessionRunner, needs_sessions, session_names

__all__ = ["HOUSEKEEPING_S", "Runner", "WorkerConfig", "make_ssl_context"]

HOUSEKEEPING_S = 0.1  # timeout sweep, loop-lag probe, window roll, stop check: every 100 ms
STOP_GRACE_S = 0.5  # after a cooperative stop, in-flight requests get this long before being cancelled
CLOSED_ERROR_BACKOFF_S = 0.05  # a closed-model user pauses after a transport error (no busy loop on refusals)


def make_ssl_context() -> ssl.SSLContext:
    """Default verification (honours SSL_CERT_FILE); LOADWATCH_TLS_INSECURE=1 disables it for self-signed targets."""
    import os

    ctx = ssl.create_default_context()
    if os.environ.get("LOADWATCH_TLS_INSECURE") == "1":
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass
class WorkerConfig:
    plan: Plan
    pools: dict[str, list[str]]
    index: int = 0  # this process among the local workers
    part: int = 0  # this process among all processes of all shards
    parts: int = 1
    local_workers: int = 1  # generator processes of this run_load call (share one machine)
    start_at: float = 0.0  # epoch seconds of the agreed start
    data: dict[str, Table] = field(default_factory=dict)  # the plan's data sources, read by the parent


class _Req:
    __slots__ = ("data", "intended_ns", "sc", "user")

    def __init__(self, sc: CompiledScenario, intended_ns: int, user: _User | None, data: bytes) -> None:
        self.sc = sc
        self.intended_ns = intended_ns
        self.user = user
        self.data = data


class _User:
    __slots__ = ("active", "conn", "handle", "n", "req", "running")

    def __init__(self, n: int) -> None:
        self.n = n
        self.req: _Req | None = None  # reused: a user has at most one request in flight
        self.conn: Conn | None = None
        self.active = False
        self.running = False
        self.handle: asyncio.TimerHandle | None = None


class Runner:
    """Drives one process's share of the plan. Create and `await run()` inside a running loop."""

    def __init__(
        self,
        cfg: WorkerConfig,
        *,
        stop_check: Callable[[], bool] = lambda: False,
        report: Callable[[dict[str, Any]], None] | None = None,
        ssl_ctx: ssl.SSLContext | None = None,
    ) -> None:
        self.cfg = cfg
        plan = cfg.plan
        self.load = plan.load
        url = urlsplit(plan.target.url)
        self.host = url.hostname or "127.0.0.1"
        self.tls = url.scheme == "https"
        self.port = url.port or (443 if self.tls else 80)
        default_port = (url.port is None) or (url.port == (443 if self.tls else 80))
        host_header = self.host if default_port else f"{self.host}:{self.port}"
        if ":" in self.host and not default_port:
            host_header = f"[{self.host}]:{self.port}"
        self.ssl_ctx = (ssl_ctx or make_ssl_context()) if self.tls else None
        self.factory = RequestFactory(
            plan, cfg.pools, host_header, seed=self.load.seed, part=cfg.part, parts=cfg.parts, data=cfg.data
        )
        self.names = self.factory.names + session_names(plan)
        self.stop_check = stop_check
        self.report = report
        self.timeout_ns = int(self.load.timeout.total * 1e9)
        self.connect_timeout = self.load.timeout.connect
        self.duration = self.load.total_duration
        self.warmup = self.load.warmup
        self.grace = min(self.load.timeout.total, 10.0)
        self.max_sends = (
            split_count(self.load.max_requests, cfg.part, cfg.parts) if self.load.max_requests is not None else None
        )
        self.send_cap = self.max_sends if self.max_sends is not None else 1 << 62
        self.think_zero = self.load.think_time <= 0
        self.single = self.factory.single
        # lean connections (no body/HEAD callbacks) unless a scenario needs them
        self.full_conns = any(s.head or s.want_body for s in self.factory.scenarios)
        self.rng = random.Random(f"think:{self.load.seed}:{cfg.part}")
        self.rec = Recorder(
            self.names, warmup_s=self.warmup, start_epoch=cfg.start_at, tick=self._tick if report is not None else None
        )
        # state
        self.t0_ns = 0
        self.start_epoch = cfg.start_at
        self.in_flight = 0
        self.sent = 0
        self.cancelled = 0
        self.conns: set[Conn] = set()
        self.idle: list[Conn] = []
        self.n_conns = 0
        self.max_conns = self.load.connections or self.load.max_in_flight
        self.waiting: deque[_Req] = deque()  # open model: in intended order (the sweep expires from the front)
        self.connecting: set[asyncio.Task[None]] = set()
        self.users: list[_User] = []
        self.phase = "warmup" if self.warmup > 0 else "measure"
        self.scheduling = True
        self.stopped = False
        self.finishing = False  # leftovers are being cancelled: count as read_timeout, or cancelled on stop
        self.lags_ms: list[float] = []
        self.late_target = 0  # open model: sends late because every connection was busy (the target's doing)
        self.protocol_errors = 0
        self.protocol_sample = ""
        self.warmup_ns = 0  # perf_counter_ns at which the warm-up ends (set when the run starts)
        self.pacer: OpenPacer | None = None
        self.sched_done: asyncio.Future[None] | None = None
        self.start_skew_s = 0.0
        self.cpu_s = 0.0
        # sessions, journeys, redirects: the awaiting path (session.py); plain plans keep the callback hot path
        self.sess = SessionRunner(self, plan, self.factory, host_header) if needs_sessions(plan) else None

    # ------------------------------------------------------------------ progress
    def _tick(self, window: int, t: float, n: int, errors: int, p95_ms: float) -> None:
        """The recorder closed a window: tell the parent process (its live progress line)."""
        assert self.report is not None
        rec = self.rec
        self.report(
            {
                "type": "tick",
                "index": self.cfg.index,
                "window": window,
                "t": t,
                "elapsed": (perf_counter_ns() - self.t0_ns) / 1e9,
                "requests": rec.completed,
                "errors": rec.completed_errors,
                "window_requests": n,
                "window_errors": errors,
                "p95_ms": p95_ms,
                "in_flight": self.in_flight,
                "phase": self.phase,
            }
        )

    # ------------------------------------------------------------------ ConnOwner callbacks
    def on_response(self, conn: Conn, token: Any, status: int, body: bytes | None, done_ns: int, keep: bool) -> None:
        # The hot path: one call per response. `Recorder.record` is inlined here for plain answers (same rules).
        req: _Req = token
        sc = req.sc
        if sc.plain and 200 <= status < 400:
            rec = self.rec
            if done_ns >= rec.win_end_ns:
                rec.roll_at(done_ns)
            acc = rec.cur[sc.index]
            acc.n += 1
            sent = conn.sent_ns
            start = req.intended_ns
            if sent < start:
                start = sent  # early sends: from the actual send
            acc.lat.append((done_ns - start) // 1000)
            acc.svc.append((done_ns - sent) // 1000)
            acc.classes[status // 100] += 1
        else:
            bad = check_response(sc, status, body)
            self.rec.record(
                sc.index, req.intended_ns, status, conn.sent_ns, done_ns, bad[0] if bad else None, bad[1] if bad else ""
            )
        user = req.user
        if user is None:
            self.in_flight -= 1
            if keep:
                if self.waiting:
                    self._send_queued(conn, self.waiting.popleft())
                else:
                    self.idle.append(conn)
            else:
                conn.close()
                self._pump()
            return
        if not keep:
            conn.close()
            user.conn = None
        elif self.think_zero and user.active and self.scheduling and self.sent < self.send_cap:
            # closed user, no think time: the next request goes out on this connection now, reusing the
            # user's request object (one in flight per user); intended = this completion
            sc = self.single or self.factory.pick()
            try:
                data = sc.static or self.factory.render(sc)
            except DataExhausted:
                self._end_schedule()  # this process has no row left: it stops sending (the result says so)
                user.conn = conn
                self.in_flight -= 1
                user.running = False
                return
            req.sc = sc
            req.intended_ns = done_ns
            req.data = data
            self.sent += 1
            # Conn.send, inlined
            conn.token = req
            if self.full_conns:  # lean connections never carry HEAD or a body check
                conn.head = sc.head
                conn.want_body = sc.want_body
            conn.first = None
            conn.sent_ns = perf_counter_ns()
            conn.deadline_ns = done_ns + self.timeout_ns  # from the intended send (= this completion)
            conn.transport.write(data)  # type: ignore[union-attr]
            return  # in_flight unchanged: one completed, one sent
        else:
            user.conn = conn
        self.in_flight -= 1
        self._user_next(user, done_ns)

    def on_failure(self, conn: Conn, token: Any, kind: str, message: str, done_ns: int) -> None:
        self._fail_req(token, kind, message, done_ns, conn.sent_ns)

    def on_protocol_error(self, conn: Conn, message: str) -> None:
        self.protocol_errors += 1
        if not self.protocol_sample:
            self.protocol_sample = message[:ERROR_SAMPLE_CHARS]

    def on_closed(self, conn: Conn) -> None:
        if conn in self.conns:
            self.conns.discard(conn)
            self.n_conns -= 1
            if conn in self.idle:
                self.idle.remove(conn)
            if conn.user is not None and conn.user.conn is conn:
                conn.user.conn = None
            self._pump()

    # ------------------------------------------------------------------ sending
    def _fail_req(self, req: _Req, kind: str, message: str, done_ns: int, sent_ns: int = 0) -> None:
        """`sent_ns`: when the request was written (0: never, it was queued or connecting)."""
        self.in_flight -= 1
        if self.finishing and self.stopped:
            self.cancelled += 1
        elif kind in TIMEOUT_KINDS:
            self.rec.abandoned(req.sc.index, req.intended_ns, sent_ns, done_ns, kind, message)
        else:
            self.rec.record(req.sc.index, req.intended_ns, 0, 0, done_ns, kind, message)
        if req.user is not None:
            self._user_next(req.user, done_ns, backoff=CLOSED_ERROR_BACKOFF_S)

    def _send_on(self, conn: Conn, req: _Req) -> None:
        sc = req.sc
        conn.send(req.data, req, sc.head, sc.want_body, req.intended_ns + self.timeout_ns)

    def _count_late_target(self, req: _Req) -> None:
        """A queued request leaves the queue: late by more than the tolerance = late while every connection
        was busy (counted like the pacer's counters, for sends intended after the warm-up)."""
        if req.intended_ns >= self.warmup_ns and perf_counter_ns() - req.intended_ns > LATE_TOLERANCE_NS:
            self.late_target += 1

    def _send_queued(self, conn: Conn, req: _Req) -> None:
        self._count_late_target(req)
        self._send_on(conn, req)

    def _dispatch(self, req: _Req) -> bool:
        """Open model: an idle connection, else a new one (up to the cap), else wait for one.
        True when a connection was free (the send went out, or its connection is being opened, now)."""
        self.in_flight += 1
        self.sent += 1
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                self._send_on(conn, req)
                return True
        if self.n_conns < self.max_conns:
            self._connect(req)
            return True
        self.waiting.append(req)
        return False

    def _pump(self) -> None:
        waiting = self.waiting
        while waiting and not self.finishing:
            if self.idle:
                conn = self.idle.pop()
                if conn.closed:
                    continue
                self._send_queued(conn, waiting.popleft())
            elif self.n_conns < self.max_conns:
                req = waiting.popleft()
                self._count_late_target(req)
                self._connect(req)
            else:
                return

    def _expire_waiting(self, now_ns: int) -> None:
        """Queued requests past their total timeout (from the intended send) are abandoned: the queue is in
        intended order, so only its front can be due."""
        waiting = self.waiting
        limit = now_ns - self.timeout_ns
        while waiting and waiting[0].intended_ns <= limit:
            req = waiting.popleft()
            self._fail_req(req, "read_timeout", "no connection became free within the total timeout", now_ns)

    def _connect(self, req: _Req) -> None:
        self.n_conns += 1
        task = asyncio.get_running_loop().create_task(self._connect_and_send(req))
        self.connecting.add(task)
        task.add_done_callback(self.connecting.discard)

    async def _connect_and_send(self, req: _Req) -> None:
        # the connect gets the connect timeout, or what is left of the total one if that is less
        left_s = (req.intended_ns + self.timeout_ns - perf_counter_ns()) / 1e9
        if left_s <= 0:
            self.n_conns -= 1
            msg = "total timeout passed before a connection was opened"
            self._fail_req(req, "read_timeout", msg, perf_counter_ns())
            if req.user is None:
                self._pump()
            return
        try:
            conn = await open_conn(
                self,
                self.host,
                self.port,
                ssl_ctx=self.ssl_ctx,
                server_hostname=self.host,
                timeout=min(self.connect_timeout, left_s),
                full=self.full_conns,
            )
        except asyncio.CancelledError:
            self.n_conns -= 1
            self._fail_req(req, "read_timeout", "still connecting when the run ended", perf_counter_ns())
            return
        except Exception as exc:  # every connect failure is a classified outcome, never a crash
            self.n_conns -= 1
            kind, msg = classify_error(exc, connecting=True)
            self._fail_req(req, kind, msg, perf_counter_ns())
            if req.user is None:
                self._pump()
            return
        self.conns.add(conn)
        conn.user = req.user
        if req.user is not None:
            req.user.conn = conn
        self._send_on(conn, req)

    # ------------------------------------------------------------------ open model
    def _open_send(self, intended_ns: int) -> bool:
        if self.sess is not None:
            self.sess.arrive(intended_ns)
            return True
        sc = self.factory.pick()
        try:
            data = self.factory.render(sc)
        except DataExhausted:
            self._end_schedule()  # a stopping data source ran out in this process: no more sends
            return True
        return self._dispatch(_Req(sc, intended_ns, None, data))

    def _open_drop(self, intended_ns: int) -> None:
        """The pacer abandoned a send at the in-flight cap: a request of its scenario and an error, no latency.
        Counted for sends intended after the warm-up, like the pacer's `dropped`."""
        if intended_ns < self.warmup_ns:
            return
        sc = self.factory.pick()
        cap = self.load.max_in_flight
        self.rec.record(
            sc.index,
            intended_ns,
            0,
            0,
            perf_counter_ns(),
            "dropped",
            f"not sent: {cap} requests were in flight (max_in_flight={cap}); the target held them. "
            "Raise max_in_flight or lower the rate",
        )

    def _open_full(self) -> bool:
        return self.in_flight >= self.load.max_in_flight

    # ------------------------------------------------------------------ closed model
    def _user_next(self, user: _User, done_ns: int, backoff: float = 0.0) -> None:
        if not (user.active and self.scheduling):
            user.running = False  # its connection stays open: the end of the run closes them all
            return
        think = self.load.think_time
        if think > 0:
            j = self.load.think_jitter
            think *= 1.0 + j * (2.0 * self.rng.random() - 1.0)
        delay = max(think, backoff)
        if delay <= 0:
            self._user_send(user, 0)
        else:
            due = done_ns + int(delay * 1e9)
            user.handle = asyncio.get_running_loop().call_later(delay, self._user_send, user, due)

    def _user_send(self, user: _User, intended_ns: int) -> None:
        user.handle = None
        if not (user.active and self.scheduling):
            user.running = False
            return
        if self.max_sends is not None and self.sent >= self.max_sends:
            self._end_schedule()
            user.running = False
            return
        user.running = True
        sc = self.factory.pick()
        # intended = when the think time ended (timer lateness is the generator's, and counted)
        intended_ns = intended_ns or perf_counter_ns()
        try:
            data = self.factory.render(sc)
        except DataExhausted:
            self._end_schedule()
            user.running = False
            return
        req = user.req
        if req is None:
            req = user.req = _Req(sc, intended_ns, user, data)
        else:
            req.sc = sc
            req.intended_ns = intended_ns
            req.data = data
        self.in_flight += 1
        self.sent += 1
        conn = user.conn
        if conn is not None and not conn.closed:
            self._send_on(conn, req)
        else:
            self._connect(req)

    def _adjust_users(self, t: float) -> None:
        want = local_users(closed_users_at(self.load, t), self.cfg.part, self.cfg.parts)
        if self.sess is not None:
            self.sess.adjust(want)
            return
        while len(self.users) < want:
            self.users.append(_User(len(self.users)))
        for i, u in enumerate(self.users):
            if i < want and not u.active:
                u.active = True
                if not u.running:
                    self._user_send(u, 0)
            elif i >= want and u.active:
                u.active = False
                if u.handle is not None:
                    u.handle.cancel()
                    u.handle = None
                    u.running = False
                if u.conn is not None and u.conn.token is None:
                    u.conn.close()
                    u.conn = None

    # ------------------------------------------------------------------ control
    def end_schedule(self) -> None:
        """Stop scheduling sends (the run's end, a stop, or a data source that ran out)."""
        self._end_schedule()

    def _end_schedule(self) -> None:
        if not self.scheduling:
            return
        self.scheduling = False
        if self.pacer is not None:
            self.pacer.stop()
        for u in self.users:
            if u.handle is not None:
                u.handle.cancel()
                u.handle = None
                u.running = False
        if self.sched_done is not None and not self.sched_done.done():
            self.sched_done.set_result(None)

    async def _housekeeping(self) -> None:
        step_ns = int(HOUSEKEEPING_S * 1e9)
        last = perf_counter_ns()
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            now = perf_counter_ns()
            self.lags_ms.append(max(now - last - step_ns, 0) / 1e6)
            last = now
            for conn in [c for c in self.conns if c.token is not None]:
                conn.expire(now)
            if self.sess is not None:
                self.sess.client.expire(now)
            if self.waiting:
                self._expire_waiting(now)
            if now >= self.rec.win_end_ns:
                self.rec.roll_at(now)
            t = (now - self.t0_ns) / 1e9
            if self.phase == "warmup" and t >= self.warmup:
                self.phase = "measure"
            if self.scheduling:
                if self.stop_check():
                    self.stopped = True
                    self._end_schedule()
                elif t >= self.duration:
                    self._end_schedule()
                elif self.load.model == "closed":
                    self._adjust_users(t)

    async def run(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        delay = self.start_epoch - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        # anchor the schedule at the agreed wall-clock start even if this process woke late
        self.start_skew_s = max(time.time() - self.start_epoch, 0.0)
        self.t0_ns = perf_counter_ns() - int(self.start_skew_s * 1e9)
        self.rec.start(self.t0_ns)
        if self.sess is not None:
            self.sess.start(self.t0_ns)
        self.warmup_ns = self.t0_ns + int(self.warmup * 1e9)
        cpu0 = time.process_time()
        self.sched_done = loop.create_future()
        hk = loop.create_task(self._housekeeping())
        try:
            if self.load.model == "open":
                offsets = intended_offsets(self.load, part=self.cfg.part, parts=self.cfg.parts, seed=self.load.seed)
                peak = max([self.load.rate or 0.0, *(s.target for s in self.load.stages or [])])
                tick = tick_for_rate(peak / self.cfg.parts, self.cfg.local_workers)
                self.pacer = OpenPacer(
                    offsets,
                    self.t0_ns,
                    self._open_send,
                    self._open_full,
                    drop=self._open_drop,
                    warmup_s=self.warmup,
                    max_sends=self.max_sends,
                    tick_ns=tick,
                    # processes take turns on the ms grid instead of all waking (and sending) at the same instant
                    phase_ns=(self.cfg.part * 1_000_000) % tick,
                )
                self.pacer.done.add_done_callback(lambda _f: self._end_schedule())
                self.pacer.start()
            else:
                self._adjust_users(0.0)
            await self.sched_done
            sched_end_ns = perf_counter_ns()
            self.phase = "drain"
            grace = STOP_GRACE_S if self.stopped else self.grace
            deadline = perf_counter_ns() + int(grace * 1e9)
            while self.in_flight > 0 and perf_counter_ns() < deadline:
                if not self.stopped and self.stop_check():
                    self.stopped = True
                    deadline = min(deadline, perf_counter_ns() + int(STOP_GRACE_S * 1e9))
                await asyncio.sleep(0.01)
            # leftovers: read_timeout at the natural end, cancelled after a stop
            self.finishing = True
            now = perf_counter_ns()
            for conn in list(self.conns):
                if conn.token is not None:
                    conn.deadline_ns = now
                    conn.expire(now)
            while self.waiting:
                self._fail_req(self.waiting.popleft(), "read_timeout", "no connection free before the run ended", now)
            if self.sess is not None:
                await self.sess.finish()
            tasks = list(self.connecting)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            hk.cancel()
            for conn in list(self.conns):
                conn.close()
        end_ns = perf_counter_ns()
        self.rec.close()
        cpu = time.process_time() - cpu0
        wall = max((end_ns - self.t0_ns) / 1e9, 1e-9)
        self.cpu_s = cpu
        return self._result(cpu / wall * 100.0, (sched_end_ns - self.t0_ns) / 1e9, end_ns)

    def _result(self, cpu_percent: float, sched_s: float, end_ns: int) -> dict[str, Any]:
        measured_s = (
            max(min(sched_s, self.duration) - math.ceil(self.warmup - 1e-9), 1e-9)
            if self.warmup < min(sched_s, self.duration)
            else 1e-9
        )
        lags = sorted(self.lags_ms)
        p = self.pacer
        return {
            "index": self.cfg.index,
            "part": self.cfg.part,
            "model": self.load.model,
            "started_at": self.start_epoch,
            "finished_at": self.start_epoch + (end_ns - self.t0_ns) / 1e9,
            "start_skew_s": round(self.start_skew_s, 4),
            "duration_s": self.duration,
            "warmup_s": self.warmup,
            "measured_s": measured_s,
            "scenarios": self.rec.scenarios(),
            "windows": self.rec.windows,
            "sends": self.sent,
            "measured_sends": p.measured_sends if p else None,
            "intended": p.intended if p else None,
            "late": p.late if p else 0,
            "late_ms_sum": p.late_ns / 1e6 if p else 0.0,
            "latency_ms_sum": self.rec.latency_ms_sum(),
            "late_target": self.late_target,
            "dropped": p.dropped if p else 0,
            "protocol_errors": self.protocol_errors,
            "protocol_error_sample": self.protocol_sample,
            "pacer_wakeups": p.wakeups if p else 0,
            "pacer_tick_ms": p.tick_ns / 1e6 if p else None,
            "cancelled": self.cancelled,
            "stopped": self.stopped,
            "cpu_percent": round(cpu_percent, 1),
            "cpu_s": round(self.cpu_s, 4),
            "loop_lag_ms": {
                "p99": round(lags[min(int(len(lags) * 0.99), len(lags) - 1)], 2) if lags else 0.0,
                "max": round(lags[-1], 2) if lags else 0.0,
            },
            "late_tolerance_ms": LATE_TOLERANCE_NS / 1e6,
            **(self.sess.result() if self.sess is not None else {}),
            **({"data": {n: f.use(self.t0_ns) for n, f in self.factory.feeders.items()}} if self.factory.feeders
               else {}),
        }
