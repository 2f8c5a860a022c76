"""A real run with sessions, a journey and data sources, reported: the engine against FastAPI's OAuth2 password flow
on loopback (tests/engine/login_apps.py; tokens live 2 s), the run's record built as the chain builds it
(loadwatch.record.build_record, the night's warnings from loadwatch.pipeline.chain), and report.md, report.html
and summary.json written by loadwatch.report.render.

The plan: two generator processes, four closed-model users, each a session that logs in with a row of a `unique`
users file (user0 and user1, the first row of each process, have a wrong password: those sessions never log in, so
logins fail and their scenario requests are not sent), renews its token from the answer's `expires_in`, and runs a
journey (create an item, then update it with the id and revision the creation answered) and a one-request scenario
drawing from a `sequential` source that wraps (5 rows: it runs out) and a `random` one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine import login_apps
from engine.login_apps import TOKEN_LOGIN

from loadwatch.config import load_plan
from loadwatch.engine import run_load
from loadwatch.findings import Findings
from loadwatch.pipeline.chain import night_warnings
from loadwatch.record import RecordContext, build_record, report_input
from loadwatch.report.render import write_report

BAD_USERS = ("user0", "user1")  # unique rows are split p, p + P, ...: with two processes, each one's first row
AUTH = {"Authorization": "Bearer {token}"}


@dataclass(frozen=True)
class Reported:
    """A run's summary.json as written, with its report.md and report.html, and the input they were rendered from."""

    summary: dict[str, Any]
    md: str
    html: str
    data: dict[str, Any]


def _files(tmp: Path) -> None:
    (tmp / "users.csv").write_text("username,password\n" + "".join(
        f"{u},{'wrong' if u in BAD_USERS else p}\n" for u, p in login_apps.USERS.items()))
    (tmp / "notes.jsonl").write_text("".join(json.dumps({"text": f"note {i}"}) + "\n" for i in range(5)))
    (tmp / "terms.csv").write_text("word\nalpha\nbeta\ngamma\n")


def _plan_doc(url: str) -> dict[str, Any]:
    return {
        "name": "logged-in",
        "target": {"url": url},
        "load": {"model": "closed", "users": 4, "think_time": 0.05, "duration": 4},
        "data": {
            "users": {"file": "users.csv", "strategy": "unique"},
            "notes": {"file": "notes.jsonl", "strategy": "sequential", "on_exhausted": "wrap"},
            "terms": {"file": "terms.csv", "strategy": "random"},
        },
        "session": {"login": [TOKEN_LOGIN], "refresh": {"expires_in": "expires_in"}},
        "scenarios": [
            {"name": "edit", "weight": 2, "steps": [
                {"name": "create", "method": "POST", "path": "/items", "json": {"name": "by {users.username}"},
                 "headers": AUTH, "extract": {"item": {"header": "x-item-id"}, "rev": {"json": "rev"}}},
                {"name": "update", "method": "PUT", "path": "/items/{item}",
                 "json": {"id": "{item}", "rev": "{rev}", "name": "by {users.username}"},
                 "headers": AUTH, "expect": {"status": [200]}},
            ]},
            {"name": "me", "path": "/me", "query": {"note": "{notes.text}", "q": "{terms.word}"}, "headers": AUTH},
        ],
    }


def report_run(result: Any, plan: Any, started: datetime, out: Path) -> Reported:
    """The run's record as the chain builds it (a first night: nothing to compare with), and its report."""
    record = build_record(
        run_id=f"{started:%Y%m%dT%H%M%SZ}-5e5510", started_at=started, finished_at=datetime.now(UTC),
        status="completed", plan=plan, environment={}, load=result, monitor=None, target_stats={},
        findings=Findings(verdict="insufficient_history"), context=RecordContext(trigger="test"), timings={},
        warnings=night_warnings(result.summary, {"busy": False, "cpu_percent": None}),
    )
    data = dict(report_input(record, []))
    paths = write_report(data, out)
    return Reported(summary=json.loads(paths["summary"].read_text()), md=paths["md"].read_text(),
                    html=paths["html"].read_text(), data=data)


@pytest.fixture(scope="session")
def stateful_run(tmp_path_factory: pytest.TempPathFactory) -> Reported:
    tmp = tmp_path_factory.mktemp("stateful")
    _files(tmp)
    with login_apps.serve(login_apps.oauth_app) as url:
        (tmp / "plan.yaml").write_text(yaml.safe_dump(_plan_doc(url)))
        plan = load_plan(tmp / "plan.yaml")
        started = datetime.now(UTC)
        result = run_load(plan, workers=2)
    return report_run(result, plan, started, tmp / "out")
