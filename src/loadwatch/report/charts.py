"""The report's charts: matplotlib figures rendered to inline SVG, plus hand-made sparklines.

matplotlib is imported lazily (its import costs about half a second) and used through `Figure` directly, without
pyplot (no global state, no GUI backend). Each chart is one figure of small multiples, so a report costs four
figures whatever the number of scenarios. Text stays text in the SVG (`svg.fonttype: none`): smaller files, and
matplotlib escapes it as XML, so hostile scenario names cannot break out. Math text is off so a "$" in a name
is just a dollar sign."""

from __future__ import annotations

import importlib
import io
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from loadwatch.vocabulary import ALL

__all__ = [
    "ALL",
    "as_float",
    "capacity_chart",
    "order_scenarios",
    "parse_time",
    "run_timeline_chart",
    "sparkline_svg",
    "spectrum_chart",
    "throughput_chart",
    "trend_chart",
    "warm",
]

MAX_TREND_PANELS = 12  # scenarios drawn in the trend chart; the table still lists every one

# One palette for every chart: percentiles from light to dark, the current run warm, the baseline grey.
C_P50, C_P95, C_P99 = "#9ecae1", "#2171b5", "#08306b"
C_CURRENT, C_BASELINE = "#d94801", "#737373"
C_REGRESSION, C_IMPROVEMENT = "#cb181d", "#238b45"
C_WARMUP = "#f0f0f0"

_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e5e5",
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "path.simplify": True,
    "svg.hashsalt": "loadwatch",  # stable ids: the same data gives the same file
}


def as_float(x: Any) -> float | None:
    """A finite float, or None for anything else (missing, text, NaN, inf)."""
    if isinstance(x, bool) or x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def parse_time(x: Any) -> datetime | None:
    """An ISO string, a datetime or epoch seconds as a datetime; None when it is none of those."""
    if isinstance(x, datetime):
        return x
    if isinstance(x, str):
        try:
            return datetime.fromisoformat(x.replace("Z", "+00:00"))
        except ValueError:
            return None
    v = as_float(x)
    if v is not None:
        try:
            return datetime.fromtimestamp(v)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def warm() -> None:
    """Import what drawing needs (about 0.5 s); a chart process calls this while the data is still loading."""
    for name in ("matplotlib.figure", "matplotlib.backends.backend_svg", "matplotlib.dates", "matplotlib.ticker"):
        _mpl(name)


def _mpl(name: str) -> Any:
    """A matplotlib module, imported on first use (typed loosely: its stubs are partial)."""
    return importlib.import_module(name)


def _svg(fig: Any) -> str:
    """The figure as an inline <svg> element: no XML prologue or metadata, scaling to its container."""
    backend = _mpl("matplotlib.backends.backend_svg")
    buf = io.StringIO()
    with warnings.catch_warnings():
        # e.g. AutoDateLocator on runs minutes apart: harmless, and never for the user's terminal
        warnings.simplefilter("ignore", UserWarning)
        backend.FigureCanvasSVG(fig).print_svg(buf)
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, count=1, flags=re.S)
    # fixed pt size -> fluid width; the viewBox keeps the aspect ratio
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 class="chart" role="img"', text, count=1)
    return text


def _figure(width: float, height: float, rows: int, cols: int = 1, *, gap: float = 0.45, **kw: Any) -> tuple[Any, Any]:
    """A figure with fixed margins in inches (constrained layout would cost most of the drawing time)."""
    left, right, top, bottom, wgap = 0.62, 0.15, 0.3, 0.45, 0.6
    with _mpl("matplotlib").rc_context(_RC):
        fig = _mpl("matplotlib.figure").Figure(figsize=(width, height))
        axes = fig.subplots(rows, cols, squeeze=False, **kw)
    axis_h = max((height - top - bottom - (rows - 1) * gap) / rows, 0.1)
    axis_w = max((width - left - right - (cols - 1) * wgap) / cols, 0.1)
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        top=1 - top / height,
        bottom=bottom / height,
        hspace=gap / axis_h,
        wspace=wgap / axis_w,
    )
    return fig, axes


def _render(fig: Any) -> str:
    with _mpl("matplotlib").rc_context(_RC):
        return _svg(fig)


def _legend(ax: Any, **kw: Any) -> None:
    """A legend when the axes has labelled lines (an empty one makes matplotlib warn on the user's terminal)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


def _label(scenario: str) -> str:
    return "all scenarios" if scenario == ALL else scenario


def _short(text: str, n: int = 48) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _history_x(history: Sequence[Mapping[str, Any]]) -> tuple[list[Any], bool]:
    """x positions of the runs: their start times if every run has one, else their index."""
    times = [parse_time(h.get("started_at")) for h in history]
    if times and all(t is not None for t in times):
        # mixing naive and aware datetimes cannot be plotted together: drop the zone if they differ
        if len({t.tzinfo is None for t in times if t is not None}) > 1:
            times = [t.replace(tzinfo=None) for t in times if t is not None]
        # converted once here, not once per line drawn
        return list(_mpl("matplotlib.dates").date2num(times)), True
    return list(range(1, len(history) + 1)), False


def _series(history: Sequence[Mapping[str, Any]], scenario: str, metric: str) -> list[float | None]:
    out: list[float | None] = []
    for h in history:
        block = (h.get("metrics") or {}).get(scenario) or {}
        out.append(as_float(block.get(metric)) if isinstance(block, Mapping) else None)
    return out


def _plot_gappy(ax: Any, xs: Sequence[Any], ys: Sequence[float | None], **kw: Any) -> bool:
    pts = [(x, y) for x, y in zip(xs, ys, strict=False) if y is not None]
    if not pts:
        return False
    px, py = zip(*pts, strict=True)
    ax.plot(px, py, marker="o" if len(pts) < 3 else None, markersize=2.5, **kw)
    return True


def _mark_change_points(
    ax: Any, xs: Sequence[Any], run_index: Mapping[str, int], cps: Iterable[Mapping[str, Any]]
) -> None:
    for cp in cps:
        i = run_index.get(str(cp.get("run_id")))
        if i is None:
            continue
        color = C_REGRESSION if cp.get("direction") == "regression" else C_IMPROVEMENT
        style = "--" if cp.get("state") == "confirmed" else ":"
        ax.axvline(xs[i], color=color, linestyle=style, linewidth=1.0, alpha=0.9)


def _format_date_axis(ax: Any, dated: bool) -> None:
    if dated:
        mdates = _mpl("matplotlib.dates")
        ax.xaxis_date()
        loc = mdates.AutoDateLocator(maxticks=6)
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    else:
        ax.set_xlabel("run")


def order_scenarios(history: Sequence[Mapping[str, Any]], first: Iterable[str] = ()) -> list[str]:
    """ "*" first, then the given scenarios (those with findings), then the rest by name."""
    names: set[str] = set()
    for h in history:
        m = h.get("metrics")
        if isinstance(m, Mapping):
            names.update(str(k) for k in m)
    out = [ALL] if ALL in names else []
    for s in first:
        if s in names and s not in out:
            out.append(s)
    out.extend(sorted(n for n in names if n not in out))
    return out


def trend_chart(
    history: Sequence[Mapping[str, Any]],
    change_points: Sequence[Mapping[str, Any]],
    scenarios: Sequence[str],
) -> str | None:
    """p50/p95/p99 over the runs, one panel per scenario, change points of the latency metrics as vertical lines
    (red: regression, green: improvement; dashed: confirmed, dotted: pending)."""
    scenarios = [s for s in scenarios if any(v is not None for v in _series(history, s, "p95_ms"))]
    scenarios = scenarios[:MAX_TREND_PANELS]
    if len(history) < 2 or not scenarios:
        return None
    xs, dated = _history_x(history)
    run_index = {str(h.get("run_id")): i for i, h in enumerate(history)}
    cols = 1 if len(scenarios) == 1 else 2
    rows = math.ceil(len(scenarios) / cols)
    fig, axes = _figure(10.5, 0.4 + 1.75 * rows, rows, cols, sharex=True)
    for k, ax in enumerate(axes.flat):
        if k >= len(scenarios):
            ax.set_visible(False)
            continue
        sc = scenarios[k]
        for metric, color, name in (("p99_ms", C_P99, "p99"), ("p95_ms", C_P95, "p95"), ("p50_ms", C_P50, "p50")):
            _plot_gappy(ax, xs, _series(history, sc, metric), color=color, label=name)
        cps = [c for c in change_points if c.get("scenario") == sc and str(c.get("metric", "")).startswith("p")]
        _mark_change_points(ax, xs, run_index, cps)
        ax.set_title(_short(_label(sc)), loc="left")
        ax.set_ylabel("ms")
        ax.set_ylim(bottom=0)
        if k == 0:
            _legend(ax, loc="upper left", ncols=3, frameon=False)
    _format_date_axis(axes.flat[0], dated)  # shared x axes share one locator and formatter
    return _render(fig)


def throughput_chart(
    history: Sequence[Mapping[str, Any]],
    change_points: Sequence[Mapping[str, Any]],
) -> str | None:
    """Throughput, error rate, target CPU and capacity (when the plan has a capacity stage) of the whole run over
    the runs, on one shared axis."""
    if len(history) < 2:
        return None
    xs, dated = _history_x(history)
    panels = [
        ("rps", "requests/s", C_P95),
        ("error_rate", "errors %", C_REGRESSION),
        ("cpu_percent", "target CPU %", C_CURRENT),
        ("capacity_rps", "capacity req/s", C_P99),
    ]
    panels = [p for p in panels if any(v is not None for v in _series(history, ALL, p[0]))]
    if not panels:
        return None
    run_index = {str(h.get("run_id")): i for i, h in enumerate(history)}
    fig, axes = _figure(10.5, 0.75 + 1.2 * len(panels), len(panels), 1, sharex=True, gap=0.2)
    for ax, (metric, ylabel, color) in zip(axes.flat, panels, strict=True):
        _plot_gappy(ax, xs, _series(history, ALL, metric), color=color, linewidth=1.5)
        _mark_change_points(
            ax, xs, run_index, [c for c in change_points if c.get("scenario") == ALL and c.get("metric") == metric]
        )
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
    _format_date_axis(axes.flat[0], dated)
    return _render(fig)


def _resource_series(samples: Sequence[Mapping[str, Any]], group: str, t0: float) -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    for s in samples:
        if s.get("group") != group:
            continue
        t, v = as_float(s.get("t")), as_float(s.get("cpu_percent"))
        if t is not None and v is not None:
            xs.append(t - t0)
            ys.append(v)
    return xs, ys


def run_timeline_chart(
    timeline: Sequence[Mapping[str, Any]],
    resource_samples: Sequence[Mapping[str, Any]],
) -> str | None:
    """This run second by second on ONE time axis: latency percentiles, throughput and errors, CPU of the
    target, its database and the host (all cores). The warm-up is shaded."""
    rows = [r for r in timeline if isinstance(r, Mapping) and as_float(r.get("t")) is not None]
    samples = [s for s in resource_samples if isinstance(s, Mapping) and as_float(s.get("t")) is not None]
    if not rows and not samples:
        return None
    starts = [as_float(r["t"]) for r in rows] + [as_float(s["t"]) for s in samples]
    t0 = min(t for t in starts if t is not None)
    ts = [float(r["t"]) - t0 for r in rows]
    groups = [g for g in ("target", "database", "host") if any(s.get("group") == g for s in samples)]
    n = (2 if rows else 0) + (1 if groups else 0)
    if n == 0:  # samples of other groups only (e.g. the generator): nothing this chart shows
        return None
    fig, axes = _figure(10.5, 0.75 + 1.3 * n, n, 1, sharex=True, gap=0.2)
    axs = list(axes.flat)
    warm = [t for t, r in zip(ts, rows, strict=True) if r.get("warmup")]
    if rows:
        lat, thr = axs[0], axs[1]
        for metric, color, name in (("p99_ms", C_P99, "p99"), ("p95_ms", C_P95, "p95"), ("p50_ms", C_P50, "p50")):
            _plot_gappy(lat, ts, [as_float(r.get(metric)) for r in rows], color=color, label=name)
        lat.set_ylabel("latency ms")
        lat.set_ylim(bottom=0)
        _legend(lat, loc="upper left", ncols=3, frameon=False)
        _plot_gappy(thr, ts, [as_float(r.get("rps")) for r in rows], color=C_P95, label="requests/s")
        errs = [as_float(r.get("errors")) for r in rows]
        if any(e for e in errs):
            _plot_gappy(thr, ts, errs, color=C_REGRESSION, label="errors/s")
        thr.set_ylabel("per second")
        thr.set_ylim(bottom=0)
        _legend(thr, loc="upper left", ncols=2, frameon=False)
    if groups:
        cpu = axs[-1]
        for g, color, style in (("target", C_CURRENT, "-"), ("database", C_BASELINE, "-"), ("host", "#bdbdbd", ":")):
            if g in groups:
                gx, gy = _resource_series(samples, g, t0)
                _plot_gappy(cpu, gx, gy, color=color, linestyle=style, label=g)
        cpu.set_ylabel("CPU %")
        cpu.set_ylim(bottom=0)
        _legend(cpu, loc="upper left", ncols=2, frameon=False)
    if warm:
        for ax in axs:
            ax.axvspan(min(warm) - 0.5, max(warm) + 0.5, color=C_WARMUP, zorder=0, lw=0)
    axs[-1].set_xlabel("seconds since the start of the run" + (" (warm-up shaded)" if warm else ""))
    return _render(fig)


def capacity_chart(capacity: Mapping[str, Any]) -> str | None:
    """The capacity search's steps as latency against offered rate: p50/p95/p99 per step (hollow markers where a
    step broke an SLO), the latency SLO limits, the capacity and the first bad rate as vertical lines; below, the
    error rate and the target's CPU per step."""
    rows = []
    for s in capacity.get("steps") or []:
        if isinstance(s, Mapping) and as_float(s.get("rate")) is not None:
            rows.append(s)
    if not rows:
        return None
    rows.sort(key=lambda s: float(s["rate"]))
    xs = [float(s["rate"]) for s in rows]
    cpu = [as_float(s.get("target_cpu")) for s in rows]
    fig, axes = _figure(10.5, 4.6, 2, 1, sharex=True, gap=0.25, height_ratios=[2.2, 1])
    ax, low = axes[0][0], axes[1][0]
    for key, color, name in (("p99", C_P99, "p99"), ("p95", C_P95, "p95"), ("p50", C_P50, "p50")):
        ys = [as_float(s.get(key)) for s in rows]
        _plot_gappy(ax, xs, ys, color=color, label=name, linewidth=0.8)
        for passed, face in ((True, color), (False, "white")):
            pts = [(x, y) for x, y, s in zip(xs, ys, rows, strict=True)
                   if y is not None and bool(s.get("passed")) == passed]
            if pts:
                ax.scatter(*zip(*pts, strict=True), s=14, facecolors=face, edgecolors=color, zorder=3)
    for slo in capacity.get("slos") or []:
        limit = _latency_limit(slo)
        if limit is not None:
            ax.axhline(limit, color=C_REGRESSION, linestyle=":", linewidth=0.9)
            ax.annotate(_short(str(slo), 32), (0.01, limit), xycoords=("axes fraction", "data"), fontsize=7,
                        color=C_REGRESSION, va="bottom")
    bracket = capacity.get("bracket") or [None, None]
    cap, bad = as_float(capacity.get("capacity_rps")), as_float(bracket[1] if len(bracket) > 1 else None)
    for axis in (ax, low):
        if cap is not None:
            axis.axvline(cap, color=C_IMPROVEMENT, linestyle="--", linewidth=1.0)
        if bad is not None:
            axis.axvline(bad, color=C_REGRESSION, linestyle="--", linewidth=0.8, alpha=0.7)
    if cap is not None:
        ax.annotate(f"capacity {cap:.4g} req/s", (cap, 1.0), xycoords=("data", "axes fraction"), fontsize=7,
                    color=C_IMPROVEMENT, ha="right", va="top", rotation=90)
    ys_all = [v for s in rows for v in (as_float(s.get(k)) for k in ("p50", "p95", "p99")) if v is not None]
    ticker = _mpl("matplotlib.ticker")
    plain = ticker.FuncFormatter(lambda v, _pos: f"{v:g}")  # math text is off: log axes' default labels read "$10^{2}$"
    if ys_all and min(ys_all) > 0 and max(ys_all) / min(ys_all) > 30:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    else:
        ax.set_ylim(bottom=0)
    ax.set_ylabel("latency ms")
    _legend(ax, loc="best", ncols=3, frameon=False)  # the capacity line may sit anywhere along x
    low.plot(xs, [as_float(s.get("error_rate")) or 0.0 for s in rows], color=C_REGRESSION, marker="o", markersize=2.5,
             label="errors %")
    if any(c is not None for c in cpu):
        _plot_gappy(low, xs, cpu, color=C_CURRENT, label="target CPU %")
    low.set_ylim(bottom=0)
    low.set_ylabel("%")
    low.set_xlabel("offered rate, req/s (open model; latency from the intended send time)")
    if max(xs) / max(min(xs), 1e-9) > 20:
        ax.set_xscale("log")
        low.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        low.xaxis.set_major_formatter(plain)
        low.xaxis.set_minor_formatter(ticker.NullFormatter())
    _legend(low, loc="upper left", ncols=2, frameon=False)
    return _render(fig)


def _latency_limit(slo: Any) -> float | None:
    """The limit in ms of a whole-run latency SLO ("p99 < 50ms"), else None."""
    from loadwatch.errors import InvalidInput
    from loadwatch.stats.thresholds import parse_threshold

    try:
        t = parse_threshold(str(slo))
    except InvalidInput:
        return None
    return t.limit if t.unit == "ms" and t.scenario == ALL else None


def _spectrum_points(points: Any) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    if not isinstance(points, Sequence) or isinstance(points, str):
        return out
    for p in points:
        if not isinstance(p, Sequence) or isinstance(p, str) or len(p) != 2:
            continue
        q, ms = as_float(p[0]), as_float(p[1])
        if q is None or ms is None or not 0 <= q <= 100:
            continue
        # "1/(1-q)" stretches the tail; the maximum (q = 100) sits at the 99.999th
        out.append((1.0 / (1.0 - min(q, 99.999) / 100.0), ms))
    return sorted(out)


def spectrum_chart(spectrum: Mapping[str, Any]) -> str | None:
    """The latency percentile spectrum of this run against the baseline, HdrHistogram style: x = 1/(1-q), log."""
    cur = _spectrum_points(spectrum.get("current"))
    base = _spectrum_points(spectrum.get("baseline"))
    if not cur and not base:
        return None
    ticker = _mpl("matplotlib.ticker")
    fig, axes = _figure(10.5, 3.0, 1, 1)
    ax = axes[0][0]
    if base:
        ax.plot(*zip(*base, strict=True), color=C_BASELINE, marker="o", markersize=3, label="baseline (merged)")
    if cur:
        ax.plot(*zip(*cur, strict=True), color=C_CURRENT, marker="o", markersize=3, linewidth=1.8, label="this run")
    ax.set_xscale("log")
    ticks = [1, 2, 10, 100, 1000, 10000, 100000]
    ax.xaxis.set_major_locator(ticker.FixedLocator(ticks))
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.set_xticklabels(["0%", "50%", "90%", "99%", "99.9%", "99.99%", "max"])
    ax.set_xlim(1.5, 150000)
    ys = [y for _, y in cur + base]
    if ys and min(ys) > 0 and max(ys) / min(ys) > 100:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency ms")
    _legend(ax, loc="upper left", frameon=False)
    return _render(fig)


def sparkline_svg(
    values: Sequence[float | None],
    marks: Sequence[int] = (),
    *,
    width: int = 120,
    height: int = 24,
    color: str = C_P95,
) -> str:
    """A tiny inline SVG polyline (no matplotlib: cheap for hundreds of rows). `marks`: indexes of change points.
    Returns "" when there is nothing to draw. Only numbers go into the markup."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if len(pts) < 2:
        return ""
    n = max(len(values) - 1, 1)
    lo = min(v for _, v in pts)
    hi = max(v for _, v in pts)
    span = (hi - lo) or 1.0
    pad = 2.0

    def xy(i: int, v: float) -> tuple[float, float]:
        return pad + (width - 2 * pad) * i / n, height - pad - (height - 2 * pad) * (v - lo) / span

    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in pts))
    lines = "".join(
        f'<line x1="{xy(i, lo)[0]:.1f}" x2="{xy(i, lo)[0]:.1f}" y1="0" y2="{height}" stroke="{C_REGRESSION}" '
        f'stroke-width="1" stroke-dasharray="2,1"/>'
        for i in marks
        if 0 <= i < len(values)
    )
    lx, ly = xy(*pts[-1])
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" aria-hidden="true">'
        f'{lines}<polyline fill="none" stroke="{color}" stroke-width="1.3" points="{coords}"/>'
        f'<circle cx="{lx:.1f}" cy="{ly:.1f}" r="2" fill="{C_CURRENT}"/></svg>'
    )
