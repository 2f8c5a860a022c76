from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadwatch.errors import InvalidInput
from loadwatch.stats.csvdetect import detect_csv, format_table

GOLDEN = Path(__file__).parent / "golden" / "tigerbeetle_nightly.csv"


def test_golden_csv():
    r = detect_csv(GOLDEN, window=30, max_pvalue=0.01, min_magnitude=0.05)
    assert [(c["metric"], c["index"], c["time"]) for c in r["change_points"]] == [
        ("throughput", 15, "2023-01-16T02:00:00Z"),
        ("throughput", 71, "2023-03-13T02:00:00Z"),
    ]
    assert r["rows"] == 365 and r["metrics"] == ["throughput"]
    json.dumps(r)  # JSON-safe
    table = format_table(r)
    assert "throughput" in table and "+21.2%" in table and "-8.4%" in table


def test_attributes_and_missing_cells(tmp_path):
    lines = ["time,commit,latency,rps"]
    for i in range(40):
        lat = "" if i == 5 else str(10.0 + (5.0 if i >= 20 else 0.0) + (i % 3) * 0.1)
        lines.append(f"t{i},c{i:03d},{lat},{100 + i % 2}")
    p = tmp_path / "s.csv"
    p.write_text("\n".join(lines) + "\n")
    r = detect_csv(p)
    [cp] = r["change_points"]
    assert cp["metric"] == "latency" and cp["index"] == 20 and cp["commit"] == "c020" and cp["time"] == "t20"
    assert "c020" in format_table(r)
    assert r["metrics"] == ["latency", "rps"]


def test_no_change_table(tmp_path):
    p = tmp_path / "flat.csv"
    p.write_text("time,x\n" + "".join(f"{i},5\n" for i in range(10)))
    assert detect_csv(p)["change_points"] == []
    assert "no change points" in format_table(detect_csv(p))


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "file not found"),
        ("", "empty"),
        ("\n\n", "empty"),
        ("time\n1\n2\n3\n", "time column and at least one metric"),
        ("time,a\n1,2\n", "at least 3"),
        ("time,a\n", "at least 3"),
        ("time,a\n1,2\n2,3,4\n3,4\n", "line 3"),
        ("time,a\n1,x\n2,y\n3,z\n", "no numeric metric column"),
        ("time,a\n1,2\n2,3\n3,abc\n4,5\n", "line 4"),
        ("time,a\n1,2\n2,nan\n3,4\n", "not a finite number"),
        ("time,a,a\n1,2,3\n2,3,4\n3,4,5\n", "duplicate"),
        ("time,,b\n1,2,3\n2,3,4\n3,4,5\n", "empty name"),
        ("1,2\n1,2\n2,3\n3,4\n", "must be a header"),
        ('time,a\n1,"2\n', "at least 3"),
    ],
)
def test_bad_csv(tmp_path, content, needle):
    p = tmp_path / "bad.csv"
    if content is not None:
        p.write_text(content)
    with pytest.raises(InvalidInput) as e:
        detect_csv(p)
    assert needle in str(e.value)
    assert str(p) in str(e.value)


def test_bad_bytes_and_directory(tmp_path):
    p = tmp_path / "bin.csv"
    p.write_bytes(b"time,a\n1,\xff\xfe\n")
    with pytest.raises(InvalidInput, match="UTF-8"):
        detect_csv(p)
    p.write_bytes(b"time,a\n1,2\x00\n2,3\n3,4\n")
    with pytest.raises(InvalidInput, match="NUL"):
        detect_csv(p)
    with pytest.raises(InvalidInput, match="directory"):
        detect_csv(tmp_path)


def test_bad_options():
    with pytest.raises(InvalidInput, match="window"):
        detect_csv(GOLDEN, window=2)
    with pytest.raises(InvalidInput, match="p-value"):
        detect_csv(GOLDEN, max_pvalue=1.5)
    with pytest.raises(InvalidInput, match="magnitude"):
        detect_csv(GOLDEN, min_magnitude=-1)


_cell = st.one_of(
    st.text(alphabet=string.printable + "é\x00\u2028", max_size=6),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(-(10**6), 10**6).map(str),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(_cell, min_size=0, max_size=4), min_size=0, max_size=8), raw=st.binary(max_size=40))
def test_fuzzed_csvs_raise_only_invalid_input(tmp_path, rows, raw):
    p = tmp_path / "fuzz.csv"
    for payload in ("\n".join(",".join(r) for r in rows).encode("utf-8", "surrogatepass"), raw):
        p.write_bytes(payload)
        try:
            result = detect_csv(p)
        except InvalidInput:
            continue
        # anything accepted is a well-formed result
        assert set(result) >= {"change_points", "metrics", "rows"} and result["rows"] >= 3
        json.dumps(result)
