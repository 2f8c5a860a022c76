"""`loadwatch detect FILE.csv`: the change-point detector over a CSV file.

The CSV has a header row; the first column is the time (any text); every other column is numeric (a metric) when
most of its non-empty cells are numbers, otherwise a text attribute (e.g. commit) reported with each change.
Empty cells in a metric column are filled from the previous row (the first ones from the next), as Otava does."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from loadwatch.errors import InvalidInput
from loadwatch.stats.edivisive import MIN_SEGMENT, detect_change_points

__all__ = ["MIN_ROWS", "detect_csv", "format_table", "read_series"]

MIN_ROWS = 3
_ALLOWED = "a header row, a time column first, numeric metric columns, optional text columns, at least 3 data rows"


def _number(cell: str) -> float | None:
    try:
        v = float(cell.strip().replace("_", "x"))  # "1_000" is not a number in a CSV
    except ValueError:
        return None
    return v


def read_series(path: Path) -> tuple[list[str], dict[str, list[float]], dict[str, list[str]]]:
    """(times, metric -> values, attribute -> values) from a CSV; InvalidInput for anything malformed."""
    src = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInput(f"file not found; expected a CSV with {_ALLOWED}", source=src) from None
    except IsADirectoryError:
        raise InvalidInput(f"is a directory; expected a CSV with {_ALLOWED}", source=src) from None
    except UnicodeDecodeError as e:
        raise InvalidInput(f"not UTF-8 text (byte {e.start}); expected a CSV with {_ALLOWED}", source=src) from None
    except OSError as e:
        raise InvalidInput(f"cannot read the file ({e.strerror}); expected a CSV with {_ALLOWED}", source=src) from None
    if "\x00" in text:
        raise InvalidInput(f"contains NUL bytes; expected a CSV with {_ALLOWED}", source=src)
    try:
        rows = [(n, row) for n, row in enumerate(csv.reader(text.splitlines()), start=1) if any(c.strip() for c in row)]
    except csv.Error as e:
        raise InvalidInput(f"not a valid CSV ({e}); expected {_ALLOWED}", source=src) from None
    if not rows:
        raise InvalidInput(f"the file is empty; expected {_ALLOWED}", source=src)
    header_line, header = rows[0]
    names = [h.strip() for h in header]
    if len(names) < 2:
        raise InvalidInput(
            f"the header needs a time column and at least one metric column; expected {_ALLOWED}",
            source=src,
            field="line 1",
        )
    for i, name in enumerate(names, start=1):
        if not name:
            raise InvalidInput(f"column {i} has an empty name in the header", source=src, field=f"line {header_line}")
        if _number(name) is not None:
            raise InvalidInput(
                f"the first row must be a header, found the number {name!r} in column {i}",
                source=src,
                field=f"line {header_line}",
            )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(
            f"duplicate column names in the header: {', '.join(dupes)}", source=src, field=f"line {header_line}"
        )
    data = rows[1:]
    for line, row in data:
        if len(row) != len(names):
            raise InvalidInput(
                f"has {len(row)} fields, the header has {len(names)}; every row needs one value per column",
                source=src,
                field=f"line {line}",
            )
    if len(data) < MIN_ROWS:
        raise InvalidInput(f"{len(data)} data row(s); the detector needs at least {MIN_ROWS}", source=src)
    times = [row[0].strip() for _, row in data]
    metrics: dict[str, list[float]] = {}
    attributes: dict[str, list[str]] = {}
    for col in range(1, len(names)):
        cells = [(line, row[col].strip()) for line, row in data]
        filled = [(line, c) for line, c in cells if c]
        parsed = [_number(c) for _, c in filled]
        if filled and sum(p is not None for p in parsed) * 2 > len(filled):
            values: list[float | None] = []
            for line, c in cells:
                v = _number(c) if c else None
                if c and (v is None or not math.isfinite(v)):
                    raise InvalidInput(
                        f"{c!r} in column {names[col]!r} is not a finite number (metric columns hold numbers)",
                        source=src,
                        field=f"line {line}",
                    )
                values.append(v)
            metrics[names[col]] = _fill(values)
        else:
            attributes[names[col]] = [c for _, c in cells]
    if not metrics:
        raise InvalidInput(f"no numeric metric column; expected {_ALLOWED}", source=src)
    return times, metrics, attributes


def _fill(values: list[float | None]) -> list[float]:
    out = list(values)
    for i in range(1, len(out)):
        if out[i] is None:
            out[i] = out[i - 1]
    for i in range(len(out) - 2, -1, -1):
        if out[i] is None:
            out[i] = out[i + 1]
    return [float(v) for v in out if v is not None]


def detect_csv(
    path: Path, *, window: int = 30, max_pvalue: float = 0.001, min_magnitude: float = 0.0
) -> dict[str, Any]:
    """{"change_points": [{metric, index, time, forward_change_percent, p_value, magnitude, mean_before,
    mean_after, <attributes>}], "metrics": [...], "rows": N} for every metric column of the CSV."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 2 * MIN_SEGMENT:
        raise InvalidInput(f"window must be an integer >= {2 * MIN_SEGMENT}, got {window!r}", field="--window")
    if not (isinstance(max_pvalue, int | float) and 0.0 < max_pvalue < 1.0):
        raise InvalidInput(f"p-value must be in (0, 1), got {max_pvalue!r}", field="--p-value")
    if not (isinstance(min_magnitude, int | float) and math.isfinite(min_magnitude) and min_magnitude >= 0):
        raise InvalidInput(f"magnitude must be a number >= 0, got {min_magnitude!r}", field="--magnitude")
    times, metrics, attributes = read_series(Path(path))
    found: list[dict[str, Any]] = []
    for name, values in metrics.items():
        for cp in detect_change_points(values, window=window, max_pvalue=max_pvalue, min_magnitude=min_magnitude):
            entry: dict[str, Any] = {
                "metric": name,
                "index": cp.index,
                "time": times[cp.index],
                "forward_change_percent": cp.forward_change_percent
                if math.isfinite(cp.forward_change_percent)
                else None,
                "p_value": cp.p_value,
                "magnitude": cp.magnitude if math.isfinite(cp.magnitude) else None,
                "mean_before": cp.mean_before,
                "mean_after": cp.mean_after,
            }
            for attr, vals in attributes.items():
                entry.setdefault(attr, vals[cp.index])
            found.append(entry)
    found.sort(key=lambda c: (c["index"], c["metric"]))
    return {"change_points": found, "metrics": list(metrics), "rows": len(times)}


def format_table(result: dict[str, Any]) -> str:
    """A readable text table of detect_csv's result."""
    cps = result.get("change_points") or []
    if not cps:
        return f"no change points in {len(result.get('metrics') or [])} metric(s) over {result.get('rows', 0)} rows"
    base = ("metric", "index", "time", "forward_change_percent", "p_value", "magnitude", "mean_before", "mean_after")
    extra = [k for k in cps[0] if k not in base]
    head = ["time", "index", "metric", "change", "p-value", "mean before", "mean after", *extra]

    def fmt(c: dict[str, Any]) -> list[str]:
        change = c.get("forward_change_percent")
        return [
            str(c["time"]),
            str(c["index"]),
            str(c["metric"]),
            "n/a" if change is None else f"{change:+.1f}%",
            f"{c['p_value']:.2g}",
            f"{c['mean_before']:.6g}",
            f"{c['mean_after']:.6g}",
            *[str(c.get(k, "")) for k in extra],
        ]

    body = [fmt(c) for c in cps]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
