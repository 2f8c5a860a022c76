"""Data sources: files and a SQL query read once (bad files name the file and line), the strategies of a process's
feeder, and a unique CSV feeder across two spawned worker processes checked at a real loopback server."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadwatch.commands.load import format_summary
from loadwatch.config import DataSource, load_plan, parse_plan
from loadwatch.engine import run_load
from loadwatch.engine.data import DataExhausted, Feeder, Table, load_data
from loadwatch.errors import InvalidInput

from .loopback import serving


def _plan_file(tmp_path: Path, data: dict[str, Any], path: str = "/u/{users.name}", url: str = "http://127.0.0.1:9",
               load: str = "{rate: 1}") -> Path:
    import yaml

    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"target": {"url": url}, "data": data,
                                    "scenarios": [{"name": "s", "path": path}]}) + f"load: {load}\n")
    return plan


@pytest.mark.parametrize(
    ("name", "content", "message", "line"),
    [
        ("u.csv", b"", "empty: a CSV source needs a header row", "line 1"),
        ("u.csv", b"name,pw\nann,1\nbob\n", "1 fields where the header names 2: name, pw", "line 3"),
        ("u.csv", b"name,pw\nann,1\n\xe9ve,2\n", "not UTF-8 text (byte 0xe9)", "line 3"),
        ("u.csv", b"name,pw\n", "has no rows", None),
        ("u.jsonl", b'{"name": "ann"}\n{"name": "bob", "pw": 1}\n', "columns name, pw, where the first row has name",
         "line 2"),
        ("u.jsonl", b'{"name": "ann"}\n[1]\n', "each line must be a JSON object", "line 2"),
        ("u.jsonl", b'{"name": "ann"}\n{"name": \n', "not JSON", "line 2"),
    ],
)
def test_bad_files_name_the_file_and_line(tmp_path, name, content, message, line):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / name).write_bytes(content)
    plan = load_plan(_plan_file(tmp_path, {"users": {"file": f"d/{name}"}}))
    with pytest.raises(InvalidInput) as info:
        load_data(plan)
    assert info.value.exit_code == 2
    assert message in str(info.value)
    if line is not None:
        assert f"{tmp_path / 'd' / name}: {line}: " in str(info.value)


def test_missing_file_and_unknown_column_and_format(tmp_path):
    plan = load_plan(_plan_file(tmp_path, {"users": {"file": "nope.csv"}}))
    with pytest.raises(InvalidInput, match=r"nope\.csv: data file not found"):
        load_data(plan)
    with pytest.raises(InvalidInput, match=r"cannot tell the format of 'u\.txt'"):
        load_plan(_plan_file(tmp_path, {"users": {"file": "u.txt"}}))
    with pytest.raises(InvalidInput, match=r"field path uses \{people\.name\}, which names no value"):
        load_plan(_plan_file(tmp_path, {"users": {"file": "u.csv"}}, path="/u/{people.name}"))
    (tmp_path / "u.csv").write_text("id,name\n1,ann\n")
    plan = load_plan(_plan_file(tmp_path, {"users": {"file": "u.csv"}}, path="/u/{users.email}", url="http://127.0.0.1:1"))
    with pytest.raises(InvalidInput, match=r"scenarios\[s\]\.path: .*data source 'users' has the columns id, name"):
        run_load(plan)


def test_csv_and_jsonl_rows_keep_their_columns_together(tmp_path):
    (tmp_path / "u.csv").write_text('name,pw\nann,"a,1"\n\nbob,b2\n', encoding="utf-8")
    (tmp_path / "o.jsonl").write_text('{"id": 7, "tags": ["x"]}\n\n{"tags": [], "id": 8}\n')
    plan = load_plan(_plan_file(tmp_path, {"users": {"file": "u.csv"}, "orders": {"file": "o.jsonl"}}))
    tables = load_data(plan)
    assert tables["users"] == Table(("name", "pw"), [("ann", "a,1"), ("bob", "b2")])
    assert tables["orders"] == Table(("id", "tags"), [(7, ["x"]), (8, [])])  # typed: a number stays a number


def test_sql_source_reads_the_targets_database(fresh_db):
    import psycopg

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE customers (id int, email text, credit numeric)")
        conn.execute("INSERT INTO customers VALUES (1, 'a@x', 2.50), (2, 'b@x', 3)")
    plan = parse_plan({"target": {"url": "http://127.0.0.1:9", "database_url": fresh_db}, "load": {"rate": 1},
                       "data": {"c": {"query": "SELECT id, email, credit FROM customers ORDER BY id"}},
                       "scenarios": [{"name": "s", "path": "/c/{c.id}"}]})
    assert load_data(plan)["c"] == Table(("id", "email", "credit"), [(1, "a@x", 2.5), (2, "b@x", 3)])
    bad = plan.model_copy(update={"data": {"c": DataSource(query="SELECT nope FROM customers")}})
    with pytest.raises(InvalidInput, match=r"data\.c\.query: the query failed: column \"nope\" does not exist"):
        load_data(bad)
    writes = plan.model_copy(update={"data": {"c": DataSource(query="DELETE FROM customers RETURNING id")}})
    with pytest.raises(InvalidInput, match="read-only transaction"):
        load_data(writes)
    with pytest.raises(InvalidInput, match=r"runs a query: set `target\.database_url`"):
        parse_plan({"load": {"rate": 1}, "data": {"c": {"query": "SELECT 1"}},
                    "scenarios": [{"name": "s", "path": "/"}]})


def _feeder(strategy: str, rows: int, part: int = 0, parts: int = 1, on_exhausted: str = "stop") -> Feeder:
    src = DataSource(file="x.csv", strategy=strategy, on_exhausted=on_exhausted)  # type: ignore[arg-type]
    return Feeder("d", Table(("i",), [(i,) for i in range(rows)]), src, random.Random(1), part, parts)


def test_strategies():
    parts = [_feeder("unique", 10, p, 3) for p in range(3)]
    drawn = []
    for f in parts:
        with pytest.raises(DataExhausted):
            while True:
                drawn.append(f.next()[0])
    assert sorted(drawn) == list(range(10))  # every row once, across the processes
    assert [f.use(0)["used"] for f in parts] == [4, 3, 3] and all(f.exhausted for f in parts)
    wrap = _feeder("unique", 4, on_exhausted="wrap")
    assert [wrap.next()[0] for _ in range(6)] == [0, 1, 2, 3, 0, 1] and wrap.wraps == 1 and wrap.exhausted
    assert [_feeder("sequential", 3, 1, 2).next()[0] for _ in range(2)] == [0, 0]  # every process from the top
    circ = _feeder("circular", 4, 1, 2)
    assert [circ.next()[0] for _ in range(5)] == [2, 3, 0, 1, 2] and not circ.exhausted
    assert len({_feeder("random", 1000).next() for _ in range(3)}) >= 1


@pytest.fixture(scope="module")
def recorder() -> Iterator[tuple[str, list[str]]]:
    """A keep-alive loopback server that answers 200 and records every request line it is sent."""
    seen: list[str] = []

    def answer(head: bytes) -> bytes:
        seen.append(head.split(b" ", 2)[1].decode())
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    with serving(answer) as url:
        yield url, seen


def test_unique_rows_across_two_processes_are_never_sent_twice(tmp_path, recorder):
    url, seen = recorder
    seen.clear()
    (tmp_path / "ids.csv").write_text("id,kind\n" + "".join(f"{i},k{i % 3}\n" for i in range(300)))
    plan = load_plan(_plan_file(tmp_path, {"ids": {"file": "ids.csv", "strategy": "unique"}},
                                path="/order/{ids.id}/{ids.kind}", url=url, load="{rate: 400, duration: 2}"))
    result = run_load(plan, workers=2)
    s = result.summary
    assert s["errors"] == 0 and s["requests"] == len(seen) > 0
    counts = Counter(seen)
    assert max(counts.values()) == 1  # checked at the server: no row was used twice
    assert all(p == f"/order/{p.split('/')[2]}/k{int(p.split('/')[2]) % 3}" for p in seen)  # columns together
    use = s["data"]["ids"]
    assert use["rows"] == 300 and use["used"] == len(seen) and use["strategy"] == "unique"
    if len(seen) == 300:  # all rows used within the run: it ran out and said so
        assert use["exhausted"] and use["exhausted_at_s"] is not None


def test_a_unique_source_that_runs_out_stops_the_sends(tmp_path, recorder):
    url, seen = recorder
    seen.clear()
    (tmp_path / "ids.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(40)))
    plan = load_plan(_plan_file(tmp_path, {"ids": {"file": "ids.csv", "strategy": "unique"}}, path="/o/{ids.id}",
                                url=url, load="{rate: 200, duration: 2}"))
    s = run_load(plan, workers=2).summary
    assert sorted(seen) == sorted(f"/o/{i}" for i in range(40))  # each row once, then nothing more
    assert s["requests"] == 40 and s["data"]["ids"]["exhausted"] and s["data"]["ids"]["on_exhausted"] == "stop"
    assert s["data"]["ids"]["exhausted_at_s"] < 1.0  # 40 rows at 200/s: gone after 0.2 s of a 2 s run
    assert "data ids (unique): 40 draws from 40 rows; WARNING ran out after" in format_summary(s, url)
    seen.clear()
    wrap = load_plan(_plan_file(tmp_path, {"ids": {"file": "ids.csv", "strategy": "unique", "on_exhausted": "wrap"}},
                                path="/o/{ids.id}", url=url, load="{rate: 200, duration: 1}"))
    s = run_load(wrap, workers=2).summary
    assert s["requests"] == len(seen) > 40 and s["data"]["ids"]["wraps"] >= 2


def test_unique_rows_are_split_across_shards_too(tmp_path, recorder):
    """Two shards (as Dask runs them: run_load with share (i, 2), each with its own processes) never send the
    same row; their merged summary counts each row once."""
    from loadwatch.engine import merge_results

    url, seen = recorder
    seen.clear()
    (tmp_path / "ids.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(30)))
    plan = load_plan(_plan_file(tmp_path, {"ids": {"file": "ids.csv", "strategy": "unique"}}, path="/o/{ids.id}",
                                url=url, load="{rate: 200, duration: 1}"))
    shards = [run_load(plan, workers=2, share=(i, 2)) for i in range(2)]
    assert sorted(seen) == sorted(f"/o/{i}" for i in range(30))  # every row once over both shards
    merged = merge_results(shards).summary["data"]["ids"]
    assert merged["rows"] == 30 and merged["used"] == 30 and merged["exhausted"]


def test_closed_users_stop_when_their_unique_rows_run_out(tmp_path, recorder):
    url, seen = recorder
    seen.clear()
    (tmp_path / "ids.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(30)))
    plan = load_plan(_plan_file(tmp_path, {"ids": {"file": "ids.csv", "strategy": "unique"}}, path="/c/{ids.id}",
                                url=url, load="{model: closed, users: 4, think_time: 0, duration: 2}"))
    s = run_load(plan, workers=2).summary
    assert sorted(seen) == sorted(f"/c/{i}" for i in range(30)) and s["requests"] == 30 and s["errors"] == 0
    assert s["data"]["ids"]["exhausted"] and s["data"]["ids"]["used"] == 30


def test_a_journey_without_a_session_carries_a_value_between_its_steps(tmp_path, recorder):
    """No login, no cookies: a journey alone (closed model) takes a value from one answer into the next path;
    a row of a data source stays the same across the journey's steps."""
    url, seen = recorder
    seen.clear()
    (tmp_path / "ids.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(1000)))
    import yaml

    (tmp_path / "plan.yaml").write_text(yaml.safe_dump({
        "target": {"url": url}, "load": {"model": "closed", "users": 1, "think_time": 0, "duration": 1},
        "data": {"ids": {"file": "ids.csv", "strategy": "sequential"}},
        "scenarios": [{"name": "j", "steps": [
            {"name": "first", "path": "/first/{ids.id}", "extract": {"word": {"regex": "o(k)"}}},
            {"name": "next", "path": "/next/{word}/{ids.id}"}]}]}))
    plan = load_plan(tmp_path / "plan.yaml")
    s = run_load(plan, workers=1).summary
    pairs = list(zip(seen[::2], seen[1::2], strict=False))
    assert pairs and all(b == a.replace("/first/", "/next/k/") for a, b in pairs)
    assert s["journeys"]["j"]["requests"] == s["scenarios"]["j/next"]["requests"] >= len(pairs) - 1
    assert s["errors"] == 0 and "sessions" not in s
