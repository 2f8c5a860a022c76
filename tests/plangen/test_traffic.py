"""HAR and access log -> plan, from traffic recorded in the test with a real client against the demo target:
weights as recorded, identifiers templated into pools, credentials out of the file, and the plan runs."""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from loadwatch.cli import main
from loadwatch.config import load_plan
from loadwatch.engine import run_load

TOKEN = "s3cret-token-123"
TERMS = ["net", "disk", "log", "scan", "git", "proc", "http", "dns"]
# label -> the templated path the plan must have for it
ROUTES = {
    "list": "/api/v1/tools",
    "get": "/api/v1/tools/{tool}",
    "versions": "/api/v1/tools/{tool}/versions",
    "search": "/api/v1/tools/search/query",
    "stats": "/api/v1/tools/performance/stats",
    "health": "/health",
}
MIX = {"list": 30, "get": 30, "versions": 10, "search": 15, "stats": 10, "health": 5}
N = 400


def _headers(h: httpx.Headers) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in h.multi_items()]


def _entry(resp: httpx.Response, started: datetime) -> dict:
    req = resp.request
    return {
        "startedDateTime": started.isoformat().replace("+00:00", "Z"),
        "time": resp.elapsed.total_seconds() * 1000,
        "request": {"method": req.method, "url": str(req.url), "httpVersion": "HTTP/1.1", "cookies": [],
                    "headers": _headers(req.headers),
                    "queryString": [{"name": k, "value": v} for k, v in req.url.params.multi_items()],
                    "headersSize": -1, "bodySize": 0},
        "response": {"status": resp.status_code, "statusText": resp.reason_phrase, "httpVersion": "HTTP/1.1",
                     "cookies": [], "headers": _headers(resp.headers),
                     "content": {"size": len(resp.content), "mimeType": resp.headers.get("content-type", ""),
                                 "text": resp.text},
                     "redirectURL": "", "headersSize": -1, "bodySize": len(resp.content)},
        "cache": {}, "timings": {"send": 0, "wait": resp.elapsed.total_seconds() * 1000, "receive": 0},
    }


@pytest.fixture(scope="module")
def recording(demo_url, shop_url):
    """N requests to the demo target in a seeded mix (plus static assets and another host), each with the label
    of the route it exercises: (HAR entries, [(label or None, response, start time)])."""
    rng = random.Random(7)
    done: list[tuple[str | None, httpx.Response, datetime]] = []
    with httpx.Client(base_url=demo_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client:
        def send(label: str | None, url: str, **kw) -> httpx.Response:
            started = datetime.now(UTC)
            resp = client.get(url, **kw)
            done.append((label, resp, started))
            return resp

        active = {"page_size": "100", "latest": "true", "enabled": "true", "status": "active"}  # get_tool finds these
        names = [t["tool_name"] for t in send("list", "/api/v1/tools", params=active).json()["tools"]]
        assert len(names) >= 20
        labels = rng.choices(list(MIX), weights=list(MIX.values()), k=N - 1)
        for i, label in enumerate(labels):
            if label == "list":
                send(label, "/api/v1/tools", params={"page": str(rng.randint(1, 3)), "page_size": "50"})
            elif label == "get":
                send(label, f"/api/v1/tools/{rng.choice(names)}")
            elif label == "versions":
                send(label, f"/api/v1/tools/{rng.choice(names)}/versions")
            elif label == "search":
                send(label, "/api/v1/tools/search/query", params={"q": rng.choice(TERMS), "limit": "20"})
            else:
                send(label, ROUTES[label])
            if i % 40 == 0:  # what a browser also fetches: left out of the plan
                send(None, "/static/app.js")
                send(None, shop_url + "/health")
    bad = [(r.request.url, r.status_code) for label, r, _ in done if label and r.status_code >= 400]
    assert not bad, f"the recording itself must be clean: {bad[:5]}"
    return [_entry(r, t) for _, r, t in done], done


def _expected_shares(done) -> dict[str, float]:
    counts = Counter(label for label, _, _ in done if label)
    return {ROUTES[k]: n / sum(counts.values()) for k, n in counts.items()}


def _plan_shares(plan) -> dict[str, float]:
    total = sum(s.weight for s in plan.scenarios)
    return {s.path: s.weight / total for s in plan.scenarios}


def test_har_plan_weights_pools_and_run(recording, demo_url, tmp_path, monkeypatch, capsys):
    entries, done = recording
    har = tmp_path / "catalog.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "httpx", "version": httpx.__version__},
                                       "entries": entries}}))
    out = tmp_path / "catalog.yaml"
    assert main(["init", "--har", str(har), "--out", str(out)]) == 0, capsys.readouterr().err
    plan = load_plan(out)
    text = out.read_text()
    assert plan.target.url == demo_url  # the host most requests went to
    expected, got = _expected_shares(done), _plan_shares(plan)
    assert set(got) == set(expected)
    for path, share in expected.items():
        assert got[path] == pytest.approx(share, rel=0.01), path
    # identifiers in paths -> one pool of the recorded names, shared by both routes that use them
    recorded_names = {r.url.path.split("/")[4] for label, r, _ in done if label in ("get", "versions")}
    assert set(plan.pools["tool"].values or []) == recorded_names
    by_path = {s.path: s for s in plan.scenarios}
    assert by_path["/api/v1/tools/search/query"].query == {"q": "{q}", "limit": "20"}
    assert set(plan.pools["q"].values or []) <= set(TERMS)
    # the credential is a reference to the environment, never the recorded value
    assert TOKEN not in text
    # (httpx sends header names in lower case, as HTTP/2 browsers record them; the plan keeps the recorded case)
    assert all(s.headers == {"authorization": "Bearer ${AUTHORIZATION}"} for s in plan.scenarios)
    assert "accept-encoding" not in text and "user-agent" not in text  # set by the client, not the request
    assert "static asset request(s)" in text and "request(s) to another host, 127.0.0.1:" in text
    # explicit thresholds (issue 22): the error rate, and a p95 limit from the recording's own timings
    assert plan.thresholds[0] == "error_rate < 1%" and plan.thresholds[1].startswith("p95 < ")
    limit = float(plan.thresholds[1].removeprefix("p95 < ").removesuffix("ms"))
    recorded = re.search(r"3x the recording's p95 of ([0-9.]+) ms", text)
    assert recorded is not None and 0 < float(recorded.group(1)) <= max(e["time"] for e in entries)
    assert abs(limit - max(50, math.ceil(3 * float(recorded.group(1))))) <= 1  # the note rounds the p95

    monkeypatch.setenv("AUTHORIZATION", TOKEN)
    result = run_load(plan.with_load(rate=50, duration=2.5, warmup=0.5), workers=1).summary
    assert result["requests"] >= 50 and result["errors"] == 0, result["errors_by_kind"]


def test_har_run_refused_without_the_credential(recording, tmp_path, monkeypatch):
    from loadwatch.errors import InvalidInput

    entries, _ = recording
    har = tmp_path / "c.har"
    har.write_text(json.dumps({"log": {"entries": entries[:50]}}))
    out = tmp_path / "c.yaml"
    assert main(["init", "--har", str(har), "--out", str(out)]) == 0
    monkeypatch.delenv("AUTHORIZATION", raising=False)
    with pytest.raises(InvalidInput, match=r"AUTHORIZATION\}, which is not set"):
        run_load(load_plan(out).with_load(rate=5, duration=1, warmup=0), workers=1)


def _combined(resp: httpx.Response, started: datetime) -> str:
    req = resp.request
    target = req.url.raw_path.decode()
    when = started.strftime("%d/%b/%Y:%H:%M:%S +0000")
    ua = req.headers.get("user-agent", "-")
    return (f'127.0.0.1 - - [{when}] "{req.method} {target} HTTP/1.1" {resp.status_code} {len(resp.content)} '
            f'"-" "{ua}"')


def test_access_log_plan_weights_rate_and_check(recording, demo_url, tmp_path, capsys):
    _, done = recording
    demo_host = httpx.URL(demo_url).netloc
    lines = [_combined(r, t) for _, r, t in done if r.request.url.netloc == demo_host]
    lines.insert(7, '203.0.113.9 - - [30/Nov/2026:01:00:00 +0000] "\\x16\\x03\\x01" 400 0 "-" "-"')  # a TLS probe
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\n")
    out = tmp_path / "from_log.yaml"
    assert main(["init", "--access-log", str(log), "--base-url", demo_url, "--out", str(out), "--check"]) == 0, \
        capsys.readouterr().err
    plan = load_plan(out)
    expected, got = _expected_shares(done), _plan_shares(plan)
    assert set(got) == set(expected)
    for path, share in expected.items():
        assert got[path] == pytest.approx(share, rel=0.01), path
    peak = max(Counter(int(t.timestamp()) for label, _, t in done if label).values())
    assert plan.load.rate == peak
    text = out.read_text()
    assert "the busiest second of the log" in text
    assert "1 line(s) that are not an HTTP request line" in text and "static asset request(s)" in text
    assert plan.thresholds == ["error_rate < 1%"] and "no latency threshold: the source has no timings" in text
    err = capsys.readouterr().err
    assert err.count("ok  ") == len(plan.scenarios) and "FAIL" not in err


def test_json_lines_log(tmp_path):
    log = tmp_path / "app.jsonl"
    rows = [{"method": "GET", "path": f"/users/{1000 + i % 7}", "status": 200, "time": 1700000000 + i // 3}
            for i in range(30)]
    rows += [{"method": "GET", "url": "/users?active=true", "status": 200, "time": 1700000010}] * 10
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "p.yaml"
    assert main(["init", "--access-log", str(log), "--out", str(out), "--base-url", "http://127.0.0.1:9"]) == 0
    plan = load_plan(out)
    assert {s.path: s.weight for s in plan.scenarios} == {"/users/{user}": 30, "/users": 10}
    assert sorted(plan.pools["user"].values or []) == [str(1000 + i) for i in range(7)]
    assert plan.load.rate == 10  # the busiest second: the ten /users lines
    assert Path(out).read_text().count("# ") > 10
