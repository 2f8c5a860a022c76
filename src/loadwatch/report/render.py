"""The regression report's files, written in one place: report.html (one self-contained file), report.md (its
short Markdown twin) and summary.json, from one view (loadwatch.report.view).

Templates ship as package data (`loadwatch.templates`), so a non-editable install finds them from any directory.
HTML is autoescaped; the only markup passed through unescaped is the SVG that matplotlib and
`charts.sparkline_svg` generate. Markdown output is escaped by the environment's `finalize`
(loadwatch.report.markdown), so a hostile name cannot open a tag, a link or a table cell."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import jinja2

from loadwatch.record import write_summary
from loadwatch.report.markdown import md_code, md_escape
from loadwatch.report.source import ReportSource, report_source
from loadwatch.report.view import build_view

__all__ = ["render_html", "render_markdown", "write_report"]


@functools.lru_cache(maxsize=2)
def _env(kind: str) -> jinja2.Environment:
    loader = jinja2.PackageLoader("loadwatch.templates", ".")
    if kind == "html":
        env = jinja2.Environment(
            loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined
        )
    else:
        env = jinja2.Environment(
            loader=loader,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
            finalize=md_escape,
        )
        env.filters["code"] = md_code
    return env


def render_html(data: Mapping[str, Any] | ReportSource, *, view: Mapping[str, Any] | None = None) -> str:
    return _env("html").get_template("report.html.j2").render(v=view if view is not None else build_view(data))


def render_markdown(data: Mapping[str, Any] | ReportSource, *, view: Mapping[str, Any] | None = None) -> str:
    text = _env("md").get_template("report.md.j2").render(v=view if view is not None else build_view(data))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write_report(data: Mapping[str, Any] | ReportSource, out_dir: Path,
                 pool: Executor | None = None) -> dict[str, Path]:
    """report.html, report.md and summary.json (the report input's summary as it was given: keys the record model
    does not know stay in it) in `out_dir` (created), each replaced atomically. The input is validated first: when
    it does not validate nothing is written (InvalidInput). `pool`: processes to draw the charts in
    (loadwatch.report.figures.draw_charts)."""
    src = report_source(data)
    view = build_view(src, pool)
    summary = src.summary.to_json() if isinstance(data, ReportSource) else data["summary"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "html": _write(out_dir / "report.html", render_html(src, view=view)),
        "md": _write(out_dir / "report.md", render_markdown(src, view=view)),
        "summary": write_summary(summary, out_dir),
    }
