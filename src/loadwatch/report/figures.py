"""The report's charts section: which charts a report has and what they are drawn from (loadwatch.report.charts
draws them), in a process pool when one is given."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

from markupsafe import Markup

from loadwatch.report import charts
from loadwatch.report.source import ReportSource, capacity_block

__all__ = ["charts_view", "draw_charts"]

ChartJobs = Mapping[str, tuple[Callable[..., str | None], tuple[Any, ...]]]


def draw_charts(pool: Executor | None, jobs: ChartJobs) -> dict[str, str | None]:
    """Each chart's SVG; drawn in `pool` when given (the year-long report draws them in a worker process that
    imported matplotlib while the store was being read), else here. A worker that fails costs nothing but
    time: that chart is drawn here instead."""
    if pool is None:
        return {k: fn(*args) for k, (fn, args) in jobs.items()}
    futures = {k: pool.submit(fn, *args) for k, (fn, args) in jobs.items()}
    out: dict[str, str | None] = {}
    for k, fut in futures.items():
        try:
            out[k] = fut.result()
        except Exception:  # BrokenProcessPool, pickling: draw it here
            fn, args = jobs[k]
            out[k] = fn(*args)
    return out


def charts_view(src: ReportSource, first: Sequence[str], pool: Executor | None = None) -> dict[str, Any]:
    """The trend (scenarios in `first` on top), throughput, this run's timeline, its spectrum and the capacity
    chart; None for a chart with nothing to draw."""
    history, change_points = list(src.history), list(src.summary.change_points)
    svgs = draw_charts(pool, {
        "trend": (charts.trend_chart, (history, change_points, charts.order_scenarios(history, first))),
        "throughput": (charts.throughput_chart, (history, change_points)),
        "timeline": (charts.run_timeline_chart, (src.timeline, src.resource_samples)),
        "spectrum": (charts.spectrum_chart, (src.spectrum,)),
        "capacity": (charts.capacity_chart, (capacity_block(src.summary) or {},)),
    })
    return {
        "charts": {k: Markup(v) if v else None for k, v in svgs.items()},
        "has_timeline": bool(src.timeline),
    }
