"""Reading the rendered report back: a Markdown section's table rows and an HTML section's table rows and text, and
the numbers in their cells (as printed: "1,234", "4.56 ms", "≥ 7 ms")."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

__all__ = ["REL", "check_stats_row", "html_sections", "md_rows", "md_section", "num"]

REL = 6e-3  # the report prints three significant digits
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def num(cell: str) -> float:
    """The first number of a cell."""
    m = _NUMBER.search(cell)
    assert m is not None, f"no number in {cell!r}"
    return float(m.group(0).replace(",", ""))


def check_stats_row(cells: list[str], entry: dict) -> None:
    """requests, errors, p50, p95, p99 of a login step, a journey or a step as printed, against the summary's entry."""
    requests, errors, p50, p95, p99 = cells[:5]
    assert int(num(requests)) == entry["requests"] and int(num(errors)) == entry["errors"]
    for cell, key in ((p50, "p50"), (p95, "p95"), (p99, "p99")):
        assert num(cell) == pytest.approx(entry["latency_ms"][key], rel=REL), key


def md_section(md: str, title: str) -> str:
    """The text of `### title` up to the next heading ("" when the report has no such section)."""
    start = md.find(f"\n### {title}\n")
    if start < 0:
        return ""
    end = md.find("\n### ", start + 1)
    return md[start:end if end >= 0 else len(md)]


def md_rows(section: str) -> list[list[str]]:
    """The cells of every table row of a section (header rows included, separator rows left out)."""
    rows = []
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


class _Sections(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[list[str]]] = {}
        self.text: dict[str, str] = {}
        self.section: str | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self.section = dict(attrs).get("id") or ""
            self.rows.setdefault(self.section, [])
            self.text.setdefault(self.section, "")
        elif self.section is not None and tag == "tr":
            self.rows[self.section].append([])
        elif self.section is not None and tag == "td":
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self.section = None
        elif tag == "td" and self.cell is not None and self.section is not None:
            self.rows[self.section][-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.section is not None:  # a space between elements: <div>logins</div><div>12</div> reads "logins 12"
            self.text[self.section] += " " + data
        if self.cell is not None:
            self.cell.append(data)


def html_sections(html: str) -> tuple[dict[str, list[list[str]]], dict[str, str]]:
    """Per `<section id>`: its table rows of `<td>` cells (header rows are empty lists), and its text."""
    p = _Sections()
    p.feed(html)
    rows = {k: [r for r in v if r] for k, v in p.rows.items()}
    return rows, {k: " ".join(v.split()) for k, v in p.text.items()}
