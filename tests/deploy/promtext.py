"""A small parser for the Prometheus text format (0.0.4), enough to validate what loadwatch.report.prometheus
writes without depending on prometheus_client: HELP/TYPE before samples, one TYPE per family, valid names,
escaped label values, float values."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["Sample", "parse"]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"\s*(,|(?=}))')
_TYPES = {"counter", "gauge", "summary", "histogram", "untyped"}


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def _unescape(raw: str) -> str:
    out, i = [], 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\":
            nxt = raw[i + 1]
            out.append({"\\": "\\", '"': '"', "n": "\n"}[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _family(name: str, types: dict[str, str]) -> str:
    for suffix in ("_sum", "_count", "_bucket"):
        base = name.removesuffix(suffix)
        if base != name and types.get(base) in ("summary", "histogram"):
            return base
    return name


def parse(text: str) -> tuple[dict[str, str], list[Sample]]:
    """(family -> type, samples); raises ValueError on anything malformed."""
    if text and not text.endswith("\n"):
        raise ValueError("exposition must end with a line feed")
    types: dict[str, str] = {}
    helps: set[str] = set()
    seen_samples: set[str] = set()
    samples: list[Sample] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line:
            raise ValueError(f"line {n}: empty line")
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            _, kw, rest = line.split(" ", 2)
            name, _, arg = rest.partition(" ")
            if not _NAME.fullmatch(name):
                raise ValueError(f"line {n}: bad metric name {name!r}")
            if name in seen_samples:
                raise ValueError(f"line {n}: {kw} for {name} after its samples")
            if kw == "TYPE":
                if name in types or arg not in _TYPES:
                    raise ValueError(f"line {n}: duplicate or unknown TYPE {arg!r}")
                types[name] = arg
            else:
                if name in helps:
                    raise ValueError(f"line {n}: duplicate HELP for {name}")
                helps.add(name)
            continue
        if line.startswith("#"):
            continue
        m = _NAME.match(line)
        if not m:
            raise ValueError(f"line {n}: no metric name")
        name, pos = m.group(0), m.end()
        labels: dict[str, str] = {}
        if line[pos : pos + 1] == "{":
            pos += 1
            while line[pos : pos + 1] != "}":
                lm = _LABEL.match(line, pos)
                if not lm:
                    raise ValueError(f"line {n}: bad label set at column {pos}: {line!r}")
                if lm.group(1) in labels:
                    raise ValueError(f"line {n}: duplicate label {lm.group(1)}")
                labels[lm.group(1)] = _unescape(lm.group(2))
                pos = lm.end()
            pos += 1
        value_text = line[pos:].strip().split(" ")[0]
        value = float(value_text)  # ValueError on junk
        if math.isnan(value):
            raise ValueError(f"line {n}: NaN exported")
        seen_samples.add(_family(name, types))
        samples.append(Sample(name, labels, value))
    return types, samples
