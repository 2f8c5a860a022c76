"""Data sources (`data:` in the plan): rows whose columns are drawn together, read once in the parent before the
generator processes start (CSV and JSON Lines files, a read-only SQL query), and each process's `Feeder` over them.

The `unique` strategy needs no coordination while the load runs: process `part` of `parts` (all processes of all
shards, numbered as for the rate split) takes rows part, part + parts, part + 2·parts, ... so no two processes can
draw the same row. `sequential` walks the rows in order in every process; `circular` does too, each process
starting at its own place and wrapping; `random` draws with replacement."""

from __future__ import annotations

import csv
import decimal
import io
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter_ns
from typing import Any

from loadwatch.config import DataSource, Plan
from loadwatch.errors import InvalidInput, TargetUnavailable
from loadwatch.load_shapes import DataUse

__all__ = ["DataExhausted", "Feeder", "Table", "check_columns", "load_data", "merge_data_use"]


@dataclass(frozen=True)
class Table:
    """One source's rows (values typed as read: CSV text, JSON values, SQL values made JSON-friendly)."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


class DataExhausted(Exception):
    """A `sequential` or `unique` source with `on_exhausted: stop` has no row left for this process."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput("data file not found", source=str(path)) from None
    except IsADirectoryError:
        raise InvalidInput("is a directory; expected a data file", source=str(path)) from None
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror}", source=str(path)) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInput(f"not UTF-8 text (byte 0x{data[exc.start]:02x})", source=str(path),
                           field=f"line {line}") from None


def _read_csv(path: Path, limit: int) -> Table:
    reader = csv.reader(io.StringIO(_decode(path), newline=""), strict=True)
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise InvalidInput("empty: a CSV source needs a header row, then one row per record", source=str(path),
                               field="line 1")
        columns = tuple(h.strip() for h in header)
        bad = sorted({c for c in columns if not c or columns.count(c) > 1})
        if bad or "" in columns:
            raise InvalidInput(f"header names must be unique and non-empty: {columns}", source=str(path),
                               field="line 1")
        rows: list[tuple[Any, ...]] = []
        for row in reader:
            if not row:
                continue  # a blank line
            if len(row) != len(columns):
                raise InvalidInput(f"{len(row)} fields where the header names {len(columns)}: {', '.join(columns)}",
                                   source=str(path), field=f"line {reader.line_num}")
            rows.append(tuple(row))
            if len(rows) >= limit:
                break
    except csv.Error as exc:
        raise InvalidInput(f"not valid CSV: {exc}", source=str(path), field=f"line {reader.line_num}") from None
    return Table(columns, rows)


def _read_jsonl(path: Path, limit: int) -> Table:
    columns: tuple[str, ...] = ()
    rows: list[tuple[Any, ...]] = []
    for n, line in enumerate(_decode(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError as exc:
            raise InvalidInput(f"not JSON: {exc}", source=str(path), field=f"line {n}") from None
        if not isinstance(doc, dict) or not doc:
            raise InvalidInput("each line must be a JSON object with the row's columns", source=str(path),
                               field=f"line {n}")
        if not columns:
            columns = tuple(doc)
        elif set(doc) != set(columns):
            raise InvalidInput(f"columns {', '.join(doc)}, where the first row has {', '.join(columns)}",
                               source=str(path), field=f"line {n}")
        rows.append(tuple(doc[c] for c in columns))
        if len(rows) >= limit:
            break
    return Table(columns, rows)


def _sql_value(v: Any) -> Any:
    """SQL values as JSON values: numbers stay numbers, the rest (dates, UUIDs, bytes) becomes text."""
    if v is None or isinstance(v, bool | int | float | str | dict | list):
        return v
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return str(v)


def _read_sql(name: str, src: DataSource, database_url: str, timeout: float) -> Table:
    import psycopg

    field = f"data.{name}.query"
    try:
        conn = psycopg.connect(database_url, connect_timeout=max(int(timeout), 1), autocommit=False)
    except psycopg.OperationalError as exc:
        raise TargetUnavailable(f"data source {name!r}: cannot connect to target.database_url: {exc}") from None
    try:
        with conn:
            conn.read_only = True  # a feeder reads; it never changes the target's data
            with conn.cursor() as cur:
                cur.execute(str(src.query))  # the plan's own SQL, against the target's own database
                if cur.description is None:
                    raise InvalidInput("the query returned no rows (not a SELECT?)", source="plan", field=field)
                columns = tuple(d.name for d in cur.description)
                rows = [tuple(_sql_value(v) for v in r) for r in cur.fetchmany(src.limit)]
    except psycopg.Error as exc:
        raise InvalidInput(f"the query failed: {str(exc).strip()}", source="plan", field=field) from None
    finally:
        conn.close()
    return Table(columns, rows)


def load_data(plan: Plan) -> dict[str, Table]:
    """Read every data source once; a bad file or query is an invalid plan naming the file and line."""
    out: dict[str, Table] = {}
    for name, src in plan.data.items():
        if src.file is not None:
            path = plan.base_dir / src.file
            table = _read_csv(path, src.limit) if src.file_format == "csv" else _read_jsonl(path, src.limit)
            where = str(path)
        else:
            table = _read_sql(name, src, str(plan.target.database_url), plan.load.timeout.connect)
            where = f"the query of data.{name}"
        if not table.rows:
            raise InvalidInput(f"{where} has no rows", source="plan", field=f"data.{name}")
        out[name] = table
    return out


def check_columns(plan: Plan, tables: Mapping[str, Table], uses: Mapping[str, dict[str, str]]) -> None:
    """Every `{source.column}` names a column the source has (`uses`: scenario -> its placeholders)."""
    for scenario, names in uses.items():
        for name, where in sorted(names.items()):
            source, dot, column = name.partition(".")
            if dot and source in tables and column not in tables[source].columns:
                raise InvalidInput(
                    f"scenario {scenario!r} field {where} uses {{{name}}}, but data source {source!r} has the "
                    f"columns {', '.join(tables[source].columns)}",
                    source="plan",
                    field=f"scenarios[{scenario}].{where}",
                )


class Feeder:
    """One process's draws from one source. `next()` raises DataExhausted when a stopping source ran out."""

    def __init__(self, name: str, table: Table, src: DataSource, rng: random.Random, part: int, parts: int) -> None:
        self.name = name
        self.key = name + "."  # where the request's drawn row is kept (no pool name ends with a dot)
        self.strategy = src.strategy
        self.on_exhausted = src.on_exhausted
        self.rng = rng
        self.rows = table.rows[part::parts] if src.strategy == "unique" else table.rows
        self.index = {c: i for i, c in enumerate(table.columns)}
        self.next_i = (part * len(self.rows)) // parts if src.strategy == "circular" else 0
        self.used = 0
        self.wraps = 0
        self.exhausted = False
        self.exhausted_ns: int | None = None  # perf_counter_ns when it first ran out (the driver reads it)

    def next(self) -> tuple[Any, ...]:
        rows = self.rows
        if self.strategy == "random":
            self.used += 1
            return rows[int(self.rng.random() * len(rows))]
        i = self.next_i
        if i >= len(rows):
            if self.strategy != "circular":
                if not self.exhausted:
                    self.exhausted = True
                    self.exhausted_ns = perf_counter_ns()
                if self.on_exhausted == "stop" or not rows:
                    raise DataExhausted(self.name)
            self.wraps += 1
            i = 0
        self.next_i = i + 1
        self.used += 1
        return rows[i]

    def use(self, t0_ns: int) -> DataUse:
        at = (self.exhausted_ns - t0_ns) / 1e9 if self.exhausted_ns is not None else None
        return DataUse(strategy=self.strategy, on_exhausted=self.on_exhausted, rows=len(self.rows), used=self.used,
                       exhausted=self.exhausted, wraps=self.wraps, exhausted_at_s=round(at, 3) if at else at)


def merge_data_use(parts: list[Mapping[str, DataUse]]) -> dict[str, DataUse]:
    """The run's use of each source: rows and draws summed over processes, the earliest exhaustion."""
    out: dict[str, DataUse] = {}
    for part in parts:
        for name, u in part.items():
            m = out.get(name)
            if m is None:
                out[name] = DataUse(**u)
                continue
            ats = [a for a in (m["exhausted_at_s"], u["exhausted_at_s"]) if a is not None]
            rows = m["rows"] + u["rows"] if m["strategy"] == "unique" else max(m["rows"], u["rows"])
            m["rows"] = rows
            m["used"] += u["used"]
            m["wraps"] += u["wraps"]
            m["exhausted"] = m["exhausted"] or u["exhausted"]
            m["exhausted_at_s"] = min(ats) if ats else None
    return out
