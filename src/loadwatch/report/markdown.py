"""Markdown escaping for report.md: text that cannot open a tag, a link, a table cell, emphasis or a mention, and
code spans built on purpose (`MdRaw`, which the Markdown environment's `finalize` leaves alone)."""

from __future__ import annotations

import re
from typing import Any

from loadwatch.report.format import as_text

__all__ = ["MdRaw", "md_code", "md_escape", "md_keep_spaces", "segments"]


class MdRaw(str):
    """Markdown the template built on purpose (a code span): `finalize` leaves it alone."""


_MD_SPECIAL = re.compile(r"[\\`*\[\]<>|~@!#]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|&")
_MD_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def md_escape(value: Any) -> str:
    """Inline Markdown text that cannot open a tag, link, table cell, emphasis or mention; one line."""
    if isinstance(value, MdRaw):
        return str(value)
    text = " ".join(as_text(value).split())
    return _MD_SPECIAL.sub(lambda m: _MD_ENTITIES.get(m.group(0), "\\" + m.group(0)), text)


def md_code(value: Any, limit: int = 120) -> MdRaw:
    """A code span: literal text (no autolinks, no HTML); backticks and newlines cannot end it, pipes are escaped."""
    text = " ".join(as_text(value).split())[:limit].replace("`", "'").replace("|", "\\|")
    return MdRaw(f"`{text}`") if text else MdRaw("")



def segments(text: str) -> list[tuple[bool, str]]:
    """(is code, text) parts of an explanation sentence: statements are quoted between backticks."""
    return [(i % 2 == 1, part) for i, part in enumerate(text.split("`")) if part]


def md_keep_spaces(text: str) -> str:
    """md_escape, keeping the spaces at either end (they separate the text from a code span next to it)."""
    return (" " if text[:1].isspace() else "") + md_escape(text) + (" " if text[-1:].isspace() else "")

