"""The typed findings (loadwatch.findings): validated where a record is read, never rewritten."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from loadwatch.findings import Findings
from loadwatch.record import RunSummary

SUMMARY = Path(__file__).resolve().parents[1] / "pipeline" / "summaries" / "history.json.gz"


def _row() -> dict:
    return {"scenario": "*", "metric": "p95_ms", "value": 3, "baseline": None, "change_percent": None, "ci": None,
            "ci_unit": "percent", "robust_z": None, "checks": {"z": False, "floor": False, "ci": None},
            "outcome": "insufficient_history", "n_baseline": 0, "direction": 1, "floor": 0.075, "later_key": [1]}


def test_a_row_is_kept_as_written():
    row = _row()
    f = Findings(verdict="pass", comparison=[row])
    dumped = f.model_dump()["comparison"][0]
    assert dumped == row and list(dumped) == list(row)  # key order, the int in a float field, a later version's key
    assert json.dumps(dumped) == json.dumps(row)


def test_a_value_of_the_wrong_type_fails_where_the_record_is_read():
    bad = {**_row(), "value": "fast"}
    with pytest.raises(ValidationError) as err:
        Findings(verdict="pass", comparison=[bad])
    assert "comparison.0" in str(err.value) and "value" in str(err.value)
    with pytest.raises(ValidationError):
        Findings(verdict="maybe")  # not a verdict


def test_a_stored_summary_is_validated_through_the_record_model():
    summary = json.loads(gzip.decompress(SUMMARY.read_bytes()))
    model = RunSummary.model_validate(summary)
    assert model.comparison[0]["checks"]["z"] in (True, False)
    summary["change_points"][0]["runs_after"] = "four"
    with pytest.raises(ValidationError, match="change_points"):
        RunSummary.model_validate(summary)
