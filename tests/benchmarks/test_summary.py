"""BENCHMARKS.md's summary table is what benchmarks/summary.py computes from the raw files: a figure cannot drift
from its source."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_summary_table_is_generated_from_the_raw_files():
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "summary.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_every_row_names_its_raw_file_or_the_command_that_measures_it():
    table = subprocess.run([sys.executable, str(REPO / "benchmarks" / "summary.py")], capture_output=True,
                           text=True, check=True, timeout=120).stdout
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| Target")]
    assert len(rows) >= 20
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        source, measured = cells[-1], cells[2]
        if source == "–":
            assert "measure with `python benchmarks/" in measured, row
        else:
            for name in source.replace("`", "").split(", "):
                assert (REPO / "benchmarks" / name).exists(), name
