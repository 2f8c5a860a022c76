"""The A/B result's renderings (pure): JSON without NaN or infinities, Markdown and HTML with every row."""

from __future__ import annotations

import json
import math

from loadwatch.ab import render
from loadwatch.ab.session import AbResult, AbSettings, Look, RoundRecord
from loadwatch.stats.paired import Interval, Row


def _result(aa: bool = False) -> AbResult:
    rows = [
        Row("*", "p50", "regression", "", 12, 0.004, 0.025, Interval(0.1, 0.08, 0.12), Interval(0.1, 0.09, 0.11),
            (5.0, 5.5), (5.0, 5.1), (5.5, 5.6), 0.02),
        Row("*", "p95", "inconclusive", "too few pairs for this level", 3, 0.004, 0.05,
            Interval(0.2, -math.inf, math.inf), Interval(0.2, 0.1, 0.3), (9.0, 11.0), (9.0,), (11.0,), None),
        Row("slow", "p95", "not_judged", "2 request(s) above p95 in the thinnest round; needs 10", 12, 0.004, 0.05,
            None, None, None),
    ]
    rounds = [RoundRecord(i, "A" if i % 4 in (0, 3) else "B", 1.0e9 + i, 100, 0, 50.0, 5.0, 9.0, False, {"*": ""})
              for i in range(4)]
    return AbResult(plan="p", baseline="http://127.0.0.1:1", candidate="http://127.0.0.1:2", aa=aa,
                    settings=AbSettings(), rounds=rounds, looks=[Look(2, 0.008, 1, 2)], rows=rows, planned_pairs=2,
                    verdict="regression", elapsed_s=10.0)


def test_json_is_strict_and_complete():
    doc = render.to_json(_result())
    text = json.dumps(doc, allow_nan=False)  # no NaN or Infinity: unbounded ends are null
    back = json.loads(text)
    assert back["verdict"] == "regression" and back["exit_code"] == 1 and back["pairs"] == 2
    p95 = back["rows"][1]["paired"]
    assert p95["percent_low"] is None and p95["percent_high"] is None and p95["percent"] > 0
    assert math.isclose(back["rows"][0]["paired"]["percent_low"], 100 * math.expm1(0.08))
    assert back["rows"][2]["verdict"] == "not_judged" and back["rows"][2]["paired"] is None
    assert back["false_alarms"] is None


def test_markdown_and_html_show_every_row():
    md = render.to_markdown(_result())
    assert "**REGRESSION**" in md and "| * | p50 |" in md and "+10.5 %" in md
    assert "unbounded (too few pairs)" in md and "not judged (2 request(s) above p95" in md
    page = render.to_html(_result())
    assert page.count("<tr>") == 4 and page.count('class="a"') >= 2 and "<svg" in page


def test_aa_lists_the_flagged_rows():
    md = render.to_markdown(_result(aa=True))
    assert "A/A: 1 of 2 judged row(s) flagged (* p50)" in md
    assert render.to_json(_result(aa=True))["false_alarms"]["rows_flagged"] == ["* p50"]
