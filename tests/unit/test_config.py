"""Plan validation: every mistake a user can make names the file, the field and what is allowed."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from loadwatch.config import check_target_allowed, load_plan, parse_plan, plan_from_url
from loadwatch.errors import InvalidInput

BASE = {"load": {"rate": 10, "duration": 5}, "scenarios": [{"name": "a", "path": "/a"}]}


def _with(**changes):
    doc = yaml.safe_load(yaml.safe_dump(BASE))
    for dotted, value in changes.items():
        node = doc
        *parents, last = dotted.split("__")
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        node[last] = value
    return doc


def test_bundled_plans_are_valid():
    plan = load_plan()
    assert [s.name for s in plan.scenarios] == [
        "list_tools", "search_by_name", "get_tool", "search_enabled", "search_latest", "performance_stats"]
    assert [s.weight for s in plan.scenarios] == [35, 20, 15, 15, 10, 5]
    seed = load_plan("src/loadwatch/plans/seed_2users.yaml")
    assert seed.load.model == "closed" and seed.load.users == 2 and seed.load.think_time == 0.5
    assert seed.load.ramp == 10


@pytest.mark.parametrize(
    ("doc", "field", "message"),
    [
        (_with(load__rate=-1), "load.rate", "greater than 0"),
        (_with(load__model="random"), "load.model", "'open' or 'closed'"),
        (_with(load__warmup=10), "load", "warmup"),
        (_with(scenarios__0__path="nope"), "scenarios[0](a).path", "start with '/'"),
        (_with(scenarios__0__method="FETCH"), "scenarios[0](a).method", "one of GET"),
        (_with(scenarios__0__name="bad name!"), "scenarios[0](bad name!).name", "1-64 characters"),
        (_with(scenarios__0__path="/x/{tool}"), "(plan)", "pools"),
        (_with(target__url="ftp://x"), "target.url", "http(s)"),
        (_with(bogus=1), "bogus", "unknown field"),
        ({"load": {"rate": 1}}, "scenarios", "required"),
    ],
)
def test_bad_plans_name_the_field(doc, field, message):
    with pytest.raises(InvalidInput) as err:
        parse_plan(doc, source="p.yaml")
    assert err.value.message.startswith(f"p.yaml: {field}: ")
    assert message in err.value.message


def test_plan_file_errors(tmp_path):
    with pytest.raises(InvalidInput, match="file not found"):
        load_plan(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("load: [unclosed\n")
    with pytest.raises(InvalidInput, match=r"bad.yaml: line \d+, column \d+: not valid YAML"):
        load_plan(bad)
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidInput, match="UTF-8"):
        load_plan(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(InvalidInput, match="YAML mapping"):
        load_plan(bad)
    with pytest.raises(InvalidInput, match="directory"):
        load_plan(tmp_path)


def test_overrides_revalidate_and_cap_warmup():
    plan = load_plan()
    short = plan.with_load(duration=8)
    assert short.load.duration == 8 and short.load.warmup == 2
    assert plan.with_load(users=3).load.model == "closed"
    with pytest.raises(InvalidInput, match=r"load\.rate"):
        plan.with_load(rate=-5)


def test_plan_hash_ignores_target_address():
    plan = load_plan()
    assert plan.with_target_url("http://127.0.0.1:9").plan_hash() == plan.plan_hash()
    assert plan.with_load(rate=99).plan_hash() != plan.plan_hash()


def test_allow_list(monkeypatch):
    for ok in ("http://127.0.0.1:8080", "http://localhost", "http://[::1]:80", "http://127.3.4.5"):
        check_target_allowed(ok)
    with pytest.raises(InvalidInput, match="allow-list"):
        check_target_allowed("http://example.com")
    check_target_allowed("http://example.com", ["example.com"])
    monkeypatch.setenv("LOADWATCH_ALLOWED_HOSTS", "a.test, example.com")
    check_target_allowed("http://example.com")


def test_plan_from_url():
    plan = plan_from_url("http://127.0.0.1:8080/x?a=1", rate=5, users=None, duration=3, warmup=0)
    assert plan.scenarios[0].path == "/x" and plan.scenarios[0].query == {"a": "1"}
    with pytest.raises(InvalidInput, match="URL"):
        plan_from_url("127.0.0.1:8080", rate=5, users=None, duration=3, warmup=0)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["load", "scenarios", "target", "pools", "thresholds", "monitor", "name", "x"]), _json,
        max_size=6,
    )
)
def test_generated_broken_plans_only_raise_invalid_input(doc):
    try:
        parse_plan(doc, source="gen.yaml")
    except InvalidInput as exc:
        assert exc.message.startswith("gen.yaml")


def test_plans_keep_their_hash_when_fields_are_added():
    """Runs are compared by plan hash: the request, data and session fields added to the plan count only when a plan
    uses them (the hashes below are those of the code before they existed)."""
    from loadwatch.config import load_plan, parse_plan

    assert load_plan().plan_hash() == "4a27fabd72170bba"
    plain = {"load": {"rate": 1}, "scenarios": [{"name": "a", "path": "/x", "json": {"a": 1}}]}
    assert parse_plan(plain).plan_hash() == "e094e11cc942e4e4"
    with_form = {"load": {"rate": 1}, "scenarios": [{"name": "a", "path": "/x", "form": {"a": "1"}}]}
    assert parse_plan(with_form).plan_hash() != parse_plan(plain).plan_hash()


def test_notify_section_is_validated_and_outside_the_plan_hash(tmp_path):
    doc = {**BASE, "notify": {"urls": ["json://127.0.0.1:9000/hook", "slack://${A}/${B}/${C}/#perf"],
                              "blocks": ["slack-webhook/oncall"], "remind_days": 3}}
    plan = parse_plan(doc)
    assert plan.notify.channels() == ["json://127.0.0.1:9000/hook", "slack://${A}/${B}/${C}/#perf",
                                      "block:slack-webhook/oncall"]
    assert plan.plan_hash() == parse_plan(BASE).plan_hash()  # channels never break comparability
    bad = tmp_path / "plan.yaml"
    bad.write_text(yaml.safe_dump({**BASE, "notify": {"urls": ["nosuch://x"]}}))
    with pytest.raises(InvalidInput, match=r"plan\.yaml: notify\.urls: 'nosuch://x' is not an Apprise URL"):
        load_plan(bad)
    with pytest.raises(InvalidInput, match=r"notify\.blocks: .*block:<block type>/<name>"):
        parse_plan({**BASE, "notify": {"blocks": ["oncall"]}})
    with pytest.raises(InvalidInput, match=r"notify\.remind_days: .*greater than 0"):
        parse_plan({**BASE, "notify": {"remind_days": 0}})


def test_notify_channels_from_the_command_line_are_checked():
    from loadwatch.params import RunParams, resolve_plan

    plan = resolve_plan(RunParams(notify=["json://127.0.0.1/x", "block:custom-webhook/ops"]))
    assert plan.notify.urls == ["json://127.0.0.1/x"] and plan.notify.blocks == ["custom-webhook/ops"]
    with pytest.raises(InvalidInput, match=r"parameters: notify: 'http//oops' is not an Apprise URL"):
        resolve_plan(RunParams(notify=["http//oops"]))


def test_ab_section_is_validated_and_outside_the_plan_hash(tmp_path):
    ab = {"baseline": "http://127.0.0.1:8001/", "candidate": "./server --port {port}", "percentiles": ["p50", "p99"],
          "floors": {"p99": 10}, "budget": 60}
    plan = parse_plan({**BASE, "ab": ab})
    assert plan.ab is not None and plan.ab.baseline == "http://127.0.0.1:8001" and plan.ab.looks == 3
    assert plan.plan_hash() == parse_plan(BASE).plan_hash()  # a same-night comparison never breaks comparability
    bad = tmp_path / "plan.yaml"
    bad.write_text(yaml.safe_dump({**BASE, "ab": {**ab, "baseline": "http://10.0.0.5:8001"}}))
    with pytest.raises(InvalidInput, match=r"plan\.yaml: ab\.baseline: .*loopback .*'10\.0\.0\.5'"):
        load_plan(bad)
    with pytest.raises(InvalidInput, match=r"ab\.candidate: .*a command starting one with \{port\}"):
        parse_plan({**BASE, "ab": {**ab, "candidate": "./server --port 8002"}})
    with pytest.raises(InvalidInput, match=r"ab\.percentiles: unknown percentile\(s\) p75"):
        parse_plan({**BASE, "ab": {**ab, "percentiles": ["p75"]}})
    with pytest.raises(InvalidInput, match=r"ab\.floors: p95: 150"):
        parse_plan({**BASE, "ab": {**ab, "floors": {"p95": 150}}})
    with pytest.raises(InvalidInput, match=r"ab: .*a pair of rounds takes 61 s, more than the budget 60 s"):
        parse_plan({**BASE, "ab": {**ab, "round": 30, "settle": 0.5}})
    with pytest.raises(InvalidInput, match=r"ab\.baseline: required field is missing"):
        parse_plan({**BASE, "ab": {"candidate": "http://127.0.0.1:1"}})


def test_min_history_is_bounded_by_the_window_and_outside_the_plan_hash():
    from loadwatch.pipeline.compare import gate_config

    plan = parse_plan({**BASE, "verdict": {"min_history": 5}})
    assert gate_config(plan.verdict).min_history == 5
    assert gate_config(parse_plan(BASE).verdict).min_history == 10  # the method's default
    assert plan.plan_hash() == parse_plan(BASE).plan_hash()  # the judgement changes, not what is comparable
    for bad in (4, 21, "ten"):
        with pytest.raises(InvalidInput, match=r"p\.yaml: verdict\.min_history"):
            parse_plan({**BASE, "verdict": {"min_history": bad}}, source="p.yaml")
