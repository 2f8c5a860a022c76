"""Prometheus exposition of a run: rendering, label escaping, the atomic textfile, the Pushgateway PUT
(against a real loopback HTTP server), and the alert rules (promtool when installed, else parsed)."""

from __future__ import annotations

import base64
import http.server
import json
import logging
import re
import shutil
import socket
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from promtext import Sample, parse

from loadwatch.report import prometheus

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
PROMTOOL = shutil.which("promtool")
P95_DESCRIPTION = (
    "The latest run of plan bad had a whole-run p95 latency over 50 ms (from the intended send time). Open the "
    'run\'s report.html; per-scenario values are in loadwatch_latency_seconds{plan="bad"}.'
)
NASTY_PLAN = 'tool "catalog"\\v2\nnight'


def summary(**over: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "schema_version": 1,
        "run_id": "20250101T020000Z-abc123",
        "status": "completed",
        "started_at": "2025-01-01T02:00:00+00:00",
        "finished_at": "2025-01-01T02:01:10+00:00",
        "verdict": "regression",
        "trigger": "schedule",
        "plan": {"name": "tool_catalog", "hash": "f00d"},
        "load": {
            "requests": 1000,
            "errors": 3,
            "rps": 50.0,
            "dropped": 0,
            "late": 2,
            "generator_bound": False,
            "latency_ms": {"mean": 2.0, "p50": 1.5, "p95": 7.25, "p99": 12.0},
            "service_time_ms": {"mean": 1.5, "p50": 1.25, "p95": 6.0, "p99": 10.0},
            "scenarios": {
                "list_tools": {
                    "requests": 350,
                    "errors": 0,
                    "rps": 17.5,
                    "latency_ms": {"mean": 1.0, "p50": 1.0, "p95": 5.0, "p99": 9.0},
                },
                'get "x"': {"requests": 0, "errors": 0, "rps": 0.0, "latency_ms": {"p95": None}},
            },
        },
        "thresholds": [
            {"expr": "p95 < 50ms", "scenario": "*", "value": 7.25, "passed": True},
            {"expr": "error_rate < 0.1%", "scenario": "*", "value": 0.3, "passed": False},
        ],
        "comparison": [
            {"scenario": "list_tools", "metric": "p95_ms", "outcome": "regression"},
            {"scenario": "*", "metric": "p99_ms", "outcome": "suspect"},
            {"scenario": "*", "metric": "rps", "outcome": "ok"},
        ],
        "change_points": [{"run_id": "x"}],
        "score": {"total": 80, "p95": 40, "error_rate": 0, "throughput": 20, "consistency": 10},
        "resources": {
            "target": {"samples": 10, "cpu_percent": {"avg": 20.0, "max": 40.0}, "rss_mb": {"avg": 50.0, "max": 60.0}},
            "host": {"samples": 0},
        },
        "target_stats": {"delta": {"performance.cache.hit_rate_window": 97.5, "performance.cache.hits": 10}},
    }
    s.update(over)
    return s


def one(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_render_exports_the_run_with_units_and_types() -> None:
    types, samples = parse(prometheus.render_metrics(summary()))
    assert types["loadwatch_latency_seconds"] == "summary"
    assert all(t in ("gauge", "summary") for t in types.values())
    assert one(samples, "loadwatch_latency_seconds", scenario="*", quantile="0.95") == pytest.approx(0.00725)
    assert one(samples, "loadwatch_latency_seconds", scenario="list_tools", quantile="0.99") == pytest.approx(0.009)
    assert one(samples, "loadwatch_latency_seconds_count", scenario="*") == 1000
    assert one(samples, "loadwatch_latency_seconds_sum", scenario="*") == pytest.approx(2.0)
    assert one(samples, "loadwatch_service_time_seconds", scenario="*", quantile="0.5") == pytest.approx(0.00125)
    assert one(samples, "loadwatch_error_ratio", scenario="*") == pytest.approx(0.003)
    assert one(samples, "loadwatch_throughput_rps", scenario="list_tools") == 17.5
    assert one(samples, "loadwatch_requests", scenario="*") == 1000
    assert one(samples, "loadwatch_errors", scenario="*") == 3
    assert one(samples, "loadwatch_run_timestamp_seconds", plan="tool_catalog") == 1735696800
    assert one(samples, "loadwatch_verdict", verdict="regression") == 1
    assert sum(s.value for s in samples if s.name == "loadwatch_verdict") == 1
    info = [s for s in samples if s.name == "loadwatch_run_info"]
    assert info[0].labels["run_id"] == "20250101T020000Z-abc123" and info[0].labels["plan_hash"] == "f00d"
    assert one(samples, "loadwatch_threshold_passed", expr="p95 < 50ms") == 1
    assert one(samples, "loadwatch_threshold_passed", expr="error_rate < 0.1%") == 0
    assert one(samples, "loadwatch_regressions") == 1
    assert one(samples, "loadwatch_comparisons", outcome="suspect") == 1
    assert one(samples, "loadwatch_change_points") == 1
    assert one(samples, "loadwatch_score", component="total") == 80
    assert one(samples, "loadwatch_cpu_percent", group="target", stat="max") == 40
    assert one(samples, "loadwatch_rss_bytes", group="target", stat="avg") == 50 * 1024 * 1024
    assert one(samples, "loadwatch_target_hit_ratio", counter="performance.cache") == pytest.approx(0.975)
    # a group without samples and a scenario without requests export nothing misleading
    assert not [s for s in samples if s.labels.get("group") == "host"]
    assert not [s for s in samples if s.name == "loadwatch_error_ratio" and s.labels["scenario"] == 'get "x"']
    assert not [s for s in samples if s.name == "loadwatch_latency_seconds" and s.labels["scenario"] == 'get "x"']


def test_label_values_are_escaped_and_round_trip() -> None:
    s = summary(
        plan={"name": NASTY_PLAN, "hash": "h"},
        thresholds=[{"expr": 'p95 < 50ms "quoted" \\ back', "scenario": "a\nb", "passed": True}],
    )
    text = prometheus.render_metrics(s)
    assert "\nnight" not in text  # a raw newline inside a label would break the format
    _, samples = parse(text)
    assert {smp.labels["plan"] for smp in samples} == {NASTY_PLAN}
    t = next(smp for smp in samples if smp.name == "loadwatch_threshold_passed")
    assert t.labels["expr"] == 'p95 < 50ms "quoted" \\ back' and t.labels["scenario"] == "a\nb"
    assert prometheus.escape_label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_failed_preflight_and_junk_values_render_valid_text() -> None:
    s = summary(
        status="failed_preflight",
        verdict="failed",
        load={},
        thresholds=[],
        comparison=[],
        score={},
        resources={},
        target_stats={},
        change_points=[],
    )
    _, samples = parse(prometheus.render_metrics(s))
    assert one(samples, "loadwatch_verdict", verdict="failed") == 1
    assert not [x for x in samples if x.name.startswith("loadwatch_latency")]
    junk = summary(
        verdict="brand_new",
        started_at="not a date",
        load={"requests": "many", "errors": None, "rps": float("nan"), "latency_ms": {"p95": float("inf")}},
    )
    _, samples = parse(prometheus.render_metrics(junk))
    assert one(samples, "loadwatch_verdict", verdict="brand_new") == 1
    assert not [x for x in samples if x.name in ("loadwatch_run_timestamp_seconds", "loadwatch_throughput_rps")]
    _, samples = parse(prometheus.render_metrics({}))
    assert one(samples, "loadwatch_run_info", plan="unknown") == 1


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package `prometheus`)")
def test_promtool_accepts_the_exposition() -> None:
    for s in (summary(), summary(plan={"name": NASTY_PLAN}), summary(load={}, verdict="failed")):
        proc = subprocess.run(
            [str(PROMTOOL), "check", "metrics"],
            input=prometheus.render_metrics(s),
            text=True,
            capture_output=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_textfile_is_written_atomically_per_plan(tmp_path: Path) -> None:
    d = tmp_path / "textfile"
    first = prometheus.write_textfile("a 1\n", d, "tool/catalog nightly")
    assert first.name == "loadwatch_tool_catalog_nightly.prom"
    assert stat.S_IMODE(first.stat().st_mode) == 0o644
    second = prometheus.write_textfile("a 2\n", d, "tool/catalog nightly")
    assert second == first and first.read_text() == "a 2\n"
    other = prometheus.write_textfile("b 1\n", d, "other")
    assert sorted(p.name for p in d.iterdir()) == sorted([first.name, other.name])  # no temp files left


def test_publish_does_nothing_without_configuration(tmp_path: Path) -> None:
    assert prometheus.publish(summary(), env={}) == []


class _Gateway(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, str]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        type(self).received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    _Gateway.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", _Gateway.received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_publish_writes_the_file_and_pushes(tmp_path: Path, gateway: tuple[str, list[Any]]) -> None:
    url, received = gateway
    s = summary()
    done = prometheus.publish(s, env={prometheus.TEXTFILE_DIR_ENV: str(tmp_path), prometheus.PUSHGATEWAY_ENV: url})
    expected_text = prometheus.render_metrics(s)
    assert done == [str(tmp_path / "loadwatch_tool_catalog.prom"), url + "metrics/job/loadwatch/plan/tool_catalog"]
    assert (tmp_path / "loadwatch_tool_catalog.prom").read_text() == expected_text
    assert received == [
        ("/metrics/job/loadwatch/plan/tool_catalog", "text/plain; version=0.0.4; charset=utf-8", expected_text)
    ]


def test_push_uses_base64_grouping_for_a_slash(gateway: tuple[str, list[Any]]) -> None:
    url, received = gateway
    prometheus.publish(summary(plan={"name": "team/plan"}), env={prometheus.PUSHGATEWAY_ENV: url})
    ((path, _, _),) = received
    encoded = path.rsplit("/", 1)[1]
    assert path.startswith("/metrics/job/loadwatch/plan@base64/")
    assert base64.urlsafe_b64decode(encoded).decode() == "team/plan"


def test_publish_failures_are_logged_never_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # a loopback port with nothing listening
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with caplog.at_level(logging.WARNING, logger="loadwatch.report.prometheus"):
        done = prometheus.publish(
            summary(), env={prometheus.TEXTFILE_DIR_ENV: str(blocker / "sub"), prometheus.PUSHGATEWAY_ENV: dead}
        )
    assert done == []
    assert "could not write the textfile" in caplog.text and "push to" in caplog.text


def test_push_url_password_is_redacted_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://user:s3cret@127.0.0.1:{sock.getsockname()[1]}"
    with caplog.at_level(logging.WARNING, logger="loadwatch.report.prometheus"):
        prometheus.publish(summary(), env={prometheus.PUSHGATEWAY_ENV: dead})
    assert "s3cret" not in caplog.text and "user:***@127.0.0.1" in caplog.text


# --- alert rules ---------------------------------------------------------------------------------


def test_alert_rules_structure_and_metrics_exist() -> None:
    doc = yaml.safe_load(ALERTS.read_text())
    rules = [r for g in doc["groups"] for r in g["rules"]]
    names = {r["alert"] for r in rules}
    assert {
        "LoadwatchP95High",
        "LoadwatchErrorRatioHigh",
        "LoadwatchThroughputLow",
        "LoadwatchRunStale",
        "LoadwatchRegression",
    } <= names
    exported = {s.name for s in parse(prometheus.render_metrics(summary()))[1]}
    for r in rules:
        assert r["labels"]["severity"] in ("critical", "warning", "info")
        assert r["annotations"]["summary"]
        for metric in {m for m in re.findall(r"\bloadwatch_[a-z_]+", r["expr"])}:
            assert metric in exported, (r["alert"], metric)


def _series(labels: dict[str, str], metric: str, value: float) -> dict[str, str]:
    body = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{metric}{{{body}}}", "values": f"{value}x10"}


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package `prometheus`)")
def test_promtool_checks_rules_and_the_gates_fire(tmp_path: Path) -> None:
    proc = subprocess.run([str(PROMTOOL), "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bad = {"plan": "bad", "scenario": "*"}
    good = {"plan": "good", "scenario": "*"}
    series = [
        _series({**bad, "quantile": "0.95"}, "loadwatch_latency_seconds", 0.080),
        _series({**good, "quantile": "0.95"}, "loadwatch_latency_seconds", 0.010),
        _series(bad, "loadwatch_error_ratio", 0.05),
        _series(good, "loadwatch_error_ratio", 0),
        _series(bad, "loadwatch_throughput_rps", 4),
        _series(good, "loadwatch_throughput_rps", 50),
        _series({"plan": "bad", "verdict": "regression"}, "loadwatch_verdict", 1),
        _series({"plan": "good", "verdict": "regression"}, "loadwatch_verdict", 0),
        # the good plan ran recently (test time starts at 0; the stale check is at 26 h)
        {"series": 'loadwatch_run_timestamp_seconds{plan="bad"}', "values": "0x30"},
        {"series": 'loadwatch_run_timestamp_seconds{plan="good"}', "values": "90000x30"},
    ]

    # promtool compares annotations too: test the expressions on a copy without them, and one rendered
    # annotation on the real file
    doc = yaml.safe_load(ALERTS.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    bare = tmp_path / "alerts_bare.yml"
    bare.write_text(json.dumps(doc))
    tests = {
        "rule_files": [str(bare)],
        "evaluation_interval": "1h",
        "tests": [
            {
                "interval": "1h",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": "1h",
                        "alertname": "LoadwatchP95High",
                        "exp_alerts": [{"exp_labels": {**bad, "quantile": "0.95", "severity": "warning"}}],
                    },
                    {
                        "eval_time": "1h",
                        "alertname": "LoadwatchErrorRatioHigh",
                        "exp_alerts": [{"exp_labels": {**bad, "severity": "critical"}}],
                    },
                    {
                        "eval_time": "1h",
                        "alertname": "LoadwatchThroughputLow",
                        "exp_alerts": [{"exp_labels": {**bad, "severity": "warning"}}],
                    },
                    {
                        "eval_time": "1h",
                        "alertname": "LoadwatchRegression",
                        "exp_alerts": [
                            {"exp_labels": {"plan": "bad", "verdict": "regression", "severity": "critical"}}
                        ],
                    },
                    {"eval_time": "1h", "alertname": "LoadwatchRunStale", "exp_alerts": []},
                    {
                        "eval_time": "26h",
                        "alertname": "LoadwatchRunStale",
                        "exp_alerts": [{"exp_labels": {"plan": "bad", "severity": "warning"}}],
                    },
                ],
            }
        ],
    }
    rendered = {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": "1h",
        "tests": [
            {
                "interval": "1h",
                "input_series": series[:1],
                "alert_rule_test": [
                    {
                        "eval_time": "1h",
                        "alertname": "LoadwatchP95High",
                        "exp_alerts": [
                            {
                                "exp_labels": {**bad, "quantile": "0.95", "severity": "warning"},
                                "exp_annotations": {
                                    "summary": "loadwatch bad: p95 latency 80ms (gate: 50 ms)",
                                    "description": P95_DESCRIPTION,
                                },
                            }
                        ],
                    }
                ],
            }
        ],
    }
    for name, doc in (("alerts_test.yml", tests), ("annotations_test.yml", rendered)):
        test_file = tmp_path / name
        test_file.write_text(json.dumps(doc))  # JSON is YAML
        cmd = [str(PROMTOOL), "test", "rules", str(test_file)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
