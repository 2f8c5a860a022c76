"""summary.json's contract, pinned: the typed run record (loadwatch.record.RunSummary) writes exactly what
the dict-built summary.json of loadwatch before the typed record wrote.

Two pins, both taken from that earlier code (the commit before the record became a model):
- summaries/*.json.gz: real summary.json files it wrote (a night with a capacity stage, a night with a history of
  28 earlier nights, change points and incidents, and a failed preflight). The model reads each and writes it back
  byte for byte (same keys, same order, same types).
- summary_shape.json: the union of the shapes (keys and JSON types, recursively; data keys such as scenario names
  folded, see record_shape.py) of 36 summaries it wrote: `loadwatch run --duration 3` four times, once with the
  capacity stage, once against an unreachable target, 29 consecutive nights of a benchmark on the demo target,
  and once after the busy-machine check added `target_stats.contention`; `open_changes` (issue 22: the changes a
  night followed or opened, loadwatch.changes.OpenChange) added by hand from the model, and the default checks'
  threshold rows (`default`, `reason`, a null `value`: loadwatch.stats.safe_defaults); whose statement is it
  (issue 22.7), by hand from the types: `resources.database.statement_intervals` (loadwatch.observations.
  StatementIntervals) and `attribution.owners` (loadwatch.findings.StatementOwner), both optional;
  `timings_s`'s lap keys renamed by hand to their stages' names (issue 23: `open_target`, `capture_before`, a
  `capture_after` lap of its own, `notify`), which an earlier summary reads back as (loadwatch.record.OLD_LAP_KEYS);
  `plan.verdict` (the plan's `verdict:` section, its `min_history` the report's "needed"), by hand, optional: a
  summary written before it has none.
  Regenerate only for a deliberate change of the contract: `python tests/pipeline/record_shape.py
  tests/pipeline/summary_shape.json <summary.json files>`.
The summaries the chain writes today are checked against the shape in test_chain.py (a real run)."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import pytest
from record_shape import differences, shape_of

from loadwatch.record import OLD_LAP_KEYS, RunRecord, RunSummary

HERE = Path(__file__).parent
GOLDEN = json.loads((HERE / "summary_shape.json").read_text())
FIXTURES = sorted((HERE / "summaries").glob("*.json.gz"))


def _load(path: Path) -> dict:
    return json.loads(gzip.decompress(path.read_bytes()))


def _renamed_laps(timings: dict[str, float]) -> dict[str, float]:
    return {OLD_LAP_KEYS.get(k, k): v for k, v in timings.items()}


def _text(summary: dict) -> str:
    return json.dumps(summary, indent=2, default=str)  # as record.write_summary writes it


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name.split(".")[0])
def test_the_model_writes_back_an_earlier_summary_byte_for_byte(path):
    earlier = _load(path)
    model = RunSummary.model_validate(earlier)
    # `open_changes` (issue 22) is the one key added since, deliberately: an earlier summary reads back with it empty;
    # and two laps renamed to their stages' names (issue 23), in their place
    now = {**earlier, "open_changes": [], "timings_s": _renamed_laps(earlier["timings_s"])}
    assert model.to_json() == now
    assert _text(model.to_json()) == _text(now)
    assert differences(GOLDEN, shape_of(now)) == []


def test_the_fixtures_cover_the_optional_blocks():
    summaries = {p.name.split(".")[0]: _load(p) for p in FIXTURES}
    assert summaries["capacity"]["capacity"]["capacity_rps"] is not None or summaries["capacity"]["capacity"]["reason"]
    assert "capacity" not in summaries["history"]  # written only when the run had a capacity stage
    assert summaries["history"]["comparison"] and summaries["history"]["change_points"]
    assert summaries["history"]["incidents"] and summaries["history"]["attribution"]["rows"]
    assert summaries["failed_preflight"]["status"] == "failed_preflight" and summaries["failed_preflight"]["load"] == {}


def test_the_record_serialises_as_the_stored_json():
    summary = _load(HERE / "summaries" / "history.json.gz")
    record = RunRecord(summary=RunSummary.model_validate(summary), status="completed", trigger="cli",
                       histograms={"*": {"latency": "HISTFAAAA"}}, windows=[{"t": 1.0}])
    doc = record.to_json()
    assert list(doc) == ["summary", "status", "trigger", "flow_run_id", "notes", "tags", "histograms", "windows",
                         "timeline", "resource_samples", "metrics"]  # the keys the store and the spool read
    assert doc["metrics"]["*"]["p95_ms"] == summary["load"]["latency_ms"]["p95"]  # derived when not given
    assert doc["summary"] == {**summary, "open_changes": [], "timings_s": _renamed_laps(summary["timings_s"])}


def test_the_shape_check_sees_a_renamed_key_and_a_changed_type():
    earlier = _load(HERE / "summaries" / "history.json.gz")
    summary = {**earlier, "open_changes": [], "timings_s": _renamed_laps(earlier["timings_s"])}
    renamed = copy.deepcopy(summary)
    renamed["load"]["latency_ms"]["p95_ms"] = renamed["load"]["latency_ms"].pop("p95")
    assert differences(GOLDEN, shape_of(renamed)) == [".load.latency_ms.p95: missing",
                                                      ".load.latency_ms.p95_ms: not in the golden shape"]
    retyped = copy.deepcopy(summary)
    retyped["baseline_run_ids"] = [1, 2]
    retyped["score"]["total"] = str(retyped["score"]["total"])
    assert differences(GOLDEN, shape_of(retyped)) == [
        ".baseline_run_ids.[]: number is not a kind the golden shape has (string)",
        ".score.total: string is not a kind the golden shape has (number)",
    ]
    extra = copy.deepcopy(summary)
    extra["outputs"] = {"dir": "/tmp"}
    assert differences(GOLDEN, shape_of(extra)) == [".outputs: not in the golden shape"]


def test_scenario_names_are_data_not_shape():
    summary = _load(HERE / "summaries" / "history.json.gz")
    renamed = copy.deepcopy(summary)
    renamed["load"]["scenarios"] = {f"other_{k}": v for k, v in renamed["load"]["scenarios"].items()}
    assert shape_of(renamed) == shape_of(summary)


def test_an_earlier_summarys_laps_are_read_by_their_stages_names():
    earlier = _load(HERE / "summaries" / "capacity.json.gz")
    assert list(earlier["timings_s"]) == ["preflight", "target", "baseline", "lock", "load", "capacity", "compare",
                                          "store", "publish"]
    read = RunSummary.model_validate(earlier)
    assert list(read.timings_s) == ["preflight", "open_target", "capture_before", "lock", "load", "capacity",
                                    "compare", "store", "publish"]
    assert read.timings_s["open_target"] == earlier["timings_s"]["target"]
    assert read.timings_s["capture_before"] == earlier["timings_s"]["baseline"]
    assert RunSummary.model_validate(read.to_json()) == read  # a current summary reads back unchanged
