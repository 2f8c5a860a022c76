"""The recording of one generator process: every outcome into per-second, per-scenario windows (raw µs arrays,
binned into HdrHistograms once a second), the measured totals per scenario, censored and clamped values, the
error kinds, and the recording's part of the process's result. The driver (driver.py) decides what happened to
a request; this module decides how it is counted.

Window of a request = the second (from the agreed start) in which it *completed*; windows starting before
the end of the warm-up are kept and flagged, and excluded from the totals. Latency = completion − intended
start; service time = completion − actual send. Responses record latency whatever their status.

The hot path (the driver's `on_response` for a plain 2xx/3xx answer) does what `Recorder.record` does inline,
on `Recorder.cur` and `Recorder.win_end_ns`: that is this module's interface to it, kept to two attributes so a
response costs no extra call."""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loadwatch import hist

__all__ = ["ERROR_SAMPLE_CHARS", "NO_CENSORED", "Recorder", "WindowAcc"]

NO_CENSORED = 1 << 62  # "no censored value yet" for the running minimum
ERROR_SAMPLE_CHARS = 300  # the first message of each error kind is kept, this long


class WindowAcc:
    """One scenario's outcomes in the current one-second window."""

    __slots__ = ("censored", "classes", "cmin_lat", "cmin_svc", "errors", "kinds", "lat", "n", "svc")

    def __init__(self) -> None:
        self.n = 0
        self.errors = 0
        self.lat = array("q")
        self.svc = array("q")
        self.kinds: dict[str, list[Any]] = {}
        self.classes = [0] * 10  # responses by status class (index 2 = 2xx; 0 = a status beyond 999)
        self.censored = 0  # latencies recorded at abandonment (lower bounds)
        self.cmin_lat = NO_CENSORED  # smallest censored latency (µs): percentiles at or above it are lower bounds
        self.cmin_svc = NO_CENSORED


@dataclass
class _Totals:
    requests: int = 0
    errors: int = 0
    lat: Any = field(default_factory=hist.new_hist)
    svc: Any = field(default_factory=hist.new_hist)
    kinds: dict[str, list[Any]] = field(default_factory=dict)
    classes: list[int] = field(default_factory=lambda: [0] * 10)
    censored: int = 0
    clamped: int = 0
    cmin_lat: int = NO_CENSORED
    cmin_svc: int = NO_CENSORED


# (window index, window start in epoch s, requests, errors, p95 ms of the window): the driver's progress report
Tick = Callable[[int, float, int, int, float], None]


class Recorder:
    """Counts the outcomes of the scenarios `names` (indexed like `CompiledScenario.index`)."""

    def __init__(self, names: list[str], *, warmup_s: float, start_epoch: float, tick: Tick | None = None) -> None:
        hist.record_many(hist.new_hist(), [1])  # builds the cached geometry now, not inside the first window
        self.names = names
        self.warmup = warmup_s
        self.start_epoch = start_epoch
        self.tick = tick
        self.t0_ns = 0
        self.win = 0
        self.win_end_ns = 0  # perf_counter_ns at which window `win` ends (set by `start`)
        self.cur = [WindowAcc() for _ in names]
        self.totals = [_Totals() for _ in names]
        self.windows: list[dict[str, Any]] = []
        self.scratch = hist.new_hist()
        self.completed = 0  # outcomes recorded, counted per closed window
        self.completed_errors = 0

    def start(self, t0_ns: int) -> None:
        """Window 0 begins at `t0_ns` (perf_counter_ns of the agreed start)."""
        self.t0_ns = t0_ns
        self.win_end_ns = t0_ns + 1_000_000_000

    # ------------------------------------------------------------------ windows
    def roll_at(self, now_ns: int) -> None:
        """Close the current window and move to the one `now_ns` falls in (call when now_ns >= win_end_ns)."""
        self.roll((now_ns - self.t0_ns) // 1_000_000_000)

    def close(self) -> None:
        """The end of the run: the last window is closed."""
        self.roll(self.win + 1)

    def roll(self, w_new: int) -> None:
        old = self.win
        warm = old < self.warmup
        t = round(self.start_epoch + old, 3)
        n_all = 0
        e_all = 0
        lat_all: list[array[int]] = []
        sc_hist = self.scratch
        for i, acc in enumerate(self.cur):
            if not acc.n:
                continue
            n_all += acc.n
            e_all += acc.errors
            hist.clear(sc_hist)
            hist.record_many(sc_hist, acc.lat)
            self.windows.append(
                {
                    "t": t,
                    "scenario": self.names[i],
                    "requests": acc.n,
                    "errors": acc.errors,
                    "warmup": warm,
                    "latency": hist.encode(sc_hist),
                }
            )
            lat_all.append(acc.lat)
            if not warm:
                self._add_to_totals(self.totals[i], acc)
            self.cur[i] = WindowAcc()
        self.completed += n_all
        self.completed_errors += e_all
        self.win = w_new
        self.win_end_ns = self.t0_ns + (w_new + 1) * 1_000_000_000
        if self.tick is not None:
            p95 = 0.0
            if lat_all:
                h = hist.new_hist()
                for a in lat_all:
                    hist.record_many(h, a)
                p95 = hist.percentile_us(h, 95.0) / 1000.0
            self.tick(old, t, n_all, e_all, p95)

    @staticmethod
    def _add_to_totals(tot: _Totals, acc: WindowAcc) -> None:
        tot.requests += acc.n
        tot.errors += acc.errors
        # beyond the range: recorded at the edge, counted, and a lower bound like a censored value
        cl = hist.record_many(tot.lat, acc.lat)
        cs = hist.record_many(tot.svc, acc.svc)
        tot.clamped += cl + cs
        tot.censored += acc.censored
        tot.cmin_lat = min(tot.cmin_lat, acc.cmin_lat, hist.HIGHEST_US if cl else NO_CENSORED)
        tot.cmin_svc = min(tot.cmin_svc, acc.cmin_svc, hist.HIGHEST_US if cs else NO_CENSORED)
        for kind, (count, sample) in acc.kinds.items():
            k = tot.kinds.setdefault(kind, [0, sample])
            k[0] += count
        for c in range(10):
            tot.classes[c] += acc.classes[c]

    # ------------------------------------------------------------------ outcomes
    def record(
        self, index: int, intended_ns: int, status: int, sent_ns: int, done_ns: int, kind: str | None, msg: str
    ) -> None:
        """One request of scenario `index`: answered (`status`, a latency) and/or an error of `kind`."""
        if done_ns >= self.win_end_ns:
            self.roll_at(done_ns)
        acc = self.cur[index]
        acc.n += 1
        if status:
            start = intended_ns if intended_ns < sent_ns else sent_ns  # early sends: from the actual send
            acc.lat.append((done_ns - start) // 1000)
            acc.svc.append((done_ns - sent_ns) // 1000)
            acc.classes[status // 100 if status < 1000 else 0] += 1
        if kind is not None:
            acc.errors += 1
            k = acc.kinds.get(kind)
            if k is None:
                acc.kinds[kind] = [1, msg[:ERROR_SAMPLE_CHARS]]
            else:
                k[0] += 1

    def abandoned(self, index: int, intended_ns: int, sent_ns: int, done_ns: int, kind: str, msg: str) -> None:
        """A request abandoned after a wait (timeout, end of run): an error and a censored latency; a censored
        service time too if it was sent (`sent_ns` 0: it never was)."""
        self.record(index, intended_ns, 0, 0, done_ns, kind, msg)
        acc = self.cur[index]  # the window `record` rolled to
        start = intended_ns if not sent_ns or intended_ns < sent_ns else sent_ns
        lat = (done_ns - start) // 1000
        acc.lat.append(lat)
        acc.censored += 1
        if lat < acc.cmin_lat:
            acc.cmin_lat = lat
        if sent_ns:
            svc = (done_ns - sent_ns) // 1000
            acc.svc.append(svc)
            if svc < acc.cmin_svc:
                acc.cmin_svc = svc

    # ------------------------------------------------------------------ result
    def scenarios(self) -> dict[str, Any]:
        """The measured totals per scenario, as the process's result carries them."""
        out: dict[str, Any] = {}
        for name, tot in zip(self.names, self.totals, strict=True):
            out[name] = {
                "requests": tot.requests,
                "errors": tot.errors,
                "errors_by_kind": {k: {"count": c, "sample": s} for k, (c, s) in sorted(tot.kinds.items())},
                "status_classes": {f"{c}xx": n for c, n in enumerate(tot.classes) if n},
                "latency": hist.encode(tot.lat),
                "service": hist.encode(tot.svc),
                "censored": tot.censored,
                "clamped": tot.clamped,
                "censored_min_us": {
                    "latency": tot.cmin_lat if tot.cmin_lat != NO_CENSORED else None,
                    "service": tot.cmin_svc if tot.cmin_svc != NO_CENSORED else None,
                },
            }
        return out

    def latency_ms_sum(self) -> float:
        """The latency this process measured, in total (ms): what the generator's own delay is weighed against."""
        return sum((hist.stats_ms(t.lat)["mean"] or 0.0) * int(t.lat.total_count) for t in self.totals)
