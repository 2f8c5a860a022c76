"""Logged-in sessions and journeys end to end, against real login services on loopback (login_apps.py):
FastAPI's OAuth2 password flow with tokens that expire every 2 s, Django's own LoginView with its CSRF protection,
and a journey whose second request carries what the first answer returned."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadwatch.commands.load import format_summary
from loadwatch.config import load_plan
from loadwatch.engine import run_load
from loadwatch.errors import InvalidInput

from . import login_apps
from .login_apps import TOKEN_LOGIN


@pytest.fixture(scope="module")
def oauth_url() -> Iterator[str]:
    with login_apps.serve(login_apps.oauth_app) as url:
        yield url


@pytest.fixture(scope="module")
def django_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = login_apps.django_app(tmp_path_factory.mktemp("django") / "db.sqlite3")
    with login_apps.serve(app) as url:
        yield url


def _plan(tmp_path: Path, doc: dict[str, Any]) -> Any:
    (tmp_path / "users.csv").write_text("username,password\n" + "".join(
        f"{u},{p}\n" for u, p in login_apps.USERS.items()))
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({"data": {"users": {"file": "users.csv", "strategy": "unique"}}, **doc}))
    return load_plan(path)


@pytest.mark.slow
def test_tokens_are_refreshed_before_they_expire(tmp_path, oauth_url):
    """Tokens live 2 s; the session renews them at 1.5 s (expires_in less a quarter), so no request meets a 401 over
    a 15 s run, seven lifetimes of a token (the issue's case: a token that expires during a long run must not turn
    the rest into 401s)."""
    stats = login_apps.oauth_stats
    stats.clear()
    plan = _plan(tmp_path, {
        "target": {"url": oauth_url},
        "load": {"model": "closed", "users": 4, "think_time": 0.05, "duration": 15},
        "session": {"login": [TOKEN_LOGIN], "refresh": {"expires_in": "expires_in"}},
        "scenarios": [{"name": "me", "path": "/me", "headers": {"Authorization": "Bearer {token}"},
                       "expect": {"status": [200], "json_field": "user"}}],
    })
    s = run_load(plan, workers=2).summary
    sessions = s["sessions"]
    assert stats["unauthorized"] == 0 and stats["bad_password"] == 0  # at the server: never a 401
    assert s["errors"] == 0 and s["scenarios"]["me"]["requests"] == stats["me"] > 100
    assert sessions["sessions"] == 4 and sessions["logins"] == 4 and sessions["login_failures"] == 0
    # 15 s with a renewal every 1.5 s: about 10 per session, at least one per 2 s lifetime (a slow machine renews
    # later, never after expiry)
    assert sessions["refreshes"] >= 4 * 7 and sessions["refresh_failures"] == 0
    assert sessions["refresh"]["by_trigger"] == {"expires_in": sessions["refreshes"]}  # each timed by the answer
    # the login's requests are timed apart from the scenarios (the refresh repeats the login's steps)
    assert sessions["steps"]["login/token"]["requests"] == stats["tokens"] == 4 + sessions["refreshes"]
    assert "login/token" not in s["scenarios"]


def test_a_failed_refresh_is_an_error_of_its_own_kind(tmp_path, oauth_url):
    login_apps.oauth_stats.clear()
    refresh = {**TOKEN_LOGIN, "name": "renew", "form": {"username": "{users.username}", "password": "wrong"}}
    plan = _plan(tmp_path, {
        "target": {"url": oauth_url},
        "load": {"model": "closed", "users": 1, "think_time": 0.1, "duration": 4},
        "session": {"login": [TOKEN_LOGIN], "refresh": {"every": 1, "margin": 0.5, "steps": [refresh]}},
        "scenarios": [{"name": "me", "path": "/me", "headers": {"Authorization": "Bearer {token}"}}],
    })
    s = run_load(plan, workers=1).summary
    kinds = s["scenarios"]["me"]["errors_by_kind"]
    assert kinds["session_refresh"]["count"] >= 1 and "renew" in kinds["session_refresh"]["sample"]
    assert "http_4xx" not in kinds  # the request that needed the refresh was not sent with a stale token
    assert s["sessions"]["refresh_failures"] >= 1 and s["sessions"]["logins"] >= 2  # logged in again after it
    assert s["sessions"]["steps"]["refresh/renew"]["errors_by_kind"]["http_4xx"]["count"] >= 1
    # what renews the credentials, and what timed each renewal: the plan's period (no expires_in in this plan)
    assert s["sessions"]["refresh"] == {"every": 1.0, "expires_in": None, "margin": 0.5, "own_steps": True,
                                        "by_trigger": {"every": s["sessions"]["refreshes"]}}
    assert f"failed; timed by every {s['sessions']['refreshes']})" in format_summary(s, plan.target.url)


def test_journey_carries_an_extracted_value_into_the_next_body(tmp_path, oauth_url):
    stats = login_apps.oauth_stats
    stats.clear()
    plan = _plan(tmp_path, {
        "target": {"url": oauth_url},
        "load": {"rate": 40, "duration": 3},
        "session": {"login": [TOKEN_LOGIN], "refresh": {"expires_in": "expires_in"}, "pool": 4},
        "scenarios": [
            {"name": "edit", "weight": 3, "steps": [
                {"name": "create", "method": "POST", "path": "/items", "json": {"name": "by {users.username}"},
                 "headers": {"Authorization": "Bearer {token}"},
                 "extract": {"item": {"header": "x-item-id"}, "rev": {"json": "rev"}}},
                {"name": "update", "method": "PUT", "path": "/items/{item}",
                 "json": {"id": "{item}", "rev": "{rev}", "name": "by {users.username}"},
                 "headers": {"Authorization": "Bearer {token}"}, "expect": {"status": [200]}},
            ]},
            {"name": "me", "path": "/me", "headers": {"Authorization": "Bearer {token}"}},
        ],
    })
    s = run_load(plan, workers=1).summary
    sc = s["scenarios"]
    assert set(sc) == {"edit/create", "edit/update", "me"}  # each step measured as journey/step
    assert s["errors"] == 0 and stats["bad_update"] == 0
    assert sc["edit/update"]["requests"] == sc["edit/create"]["requests"] == stats["updated"] > 40
    journey = s["journeys"]["edit"]
    assert journey["requests"] == stats["updated"] and journey["errors"] == 0
    # end to end: from the first step's intended send to the last answer, so at least each step's own latency
    assert journey["latency_ms"]["max"] >= sc["edit/update"]["latency_ms"]["max"]
    assert s["sessions"]["sessions"] == 4 and s["sessions"]["logins"] == 4


CSRF = 'name="csrfmiddlewaretoken" value="([^"]+)"'


def _django_plan(tmp_path: Path, url: str, form_extra: dict[str, str]) -> Any:
    return _plan(tmp_path, {
        "target": {"url": url},
        "load": {"model": "closed", "users": 3, "think_time": 0.05, "duration": 4},
        "session": {"login": [
            {"name": "form", "path": "/accounts/login/", "extract": {"csrf": {"regex": CSRF}},
             "expect": {"status": [200]}},
            {"name": "submit", "method": "POST", "path": "/accounts/login/",
             "form": {"username": "{users.username}", "password": "{users.password}", **form_extra},
             "expect": {"status": [302]}},
        ]},
        "scenarios": [
            {"name": "private", "path": "/private/", "expect": {"status": [200], "json_field": "user"}},
            {"name": "go", "path": "/go/", "redirects": 2, "expect": {"status": [200]}},
        ],
    })


def test_cookie_and_csrf_form_login_with_djangos_own_view(tmp_path, django_url):
    stats = login_apps.django_stats
    stats.clear()
    s = run_load(_django_plan(tmp_path, django_url, {"csrfmiddlewaretoken": "{csrf}"}), workers=1).summary
    assert s["errors"] == 0 and s["sessions"]["logins"] == 3 and s["sessions"]["login_failures"] == 0
    users = {k for k in stats if k.startswith("private:")}
    assert len(users) == 3 and "private:" not in stats  # three users, each with its own session cookie
    go = s["scenarios"]["go"]
    # each hop is a request of the scenario: /go/ (302) then /private/ (200)
    assert go["status_classes"] == {"2xx": go["requests"] // 2, "3xx": go["requests"] // 2} and stats["go"] > 0


def test_without_the_csrf_token_djangos_protection_refuses_the_login(tmp_path, django_url):
    s = run_load(_django_plan(tmp_path, django_url, {}), workers=1).summary
    assert s["sessions"]["logins"] >= 1 and s["sessions"]["login_failures"] == s["sessions"]["logins"]
    assert s["sessions"]["steps"]["login/submit"]["status_classes"] == {
        "4xx": s["sessions"]["steps"]["login/submit"]["requests"]}  # 403 from CsrfViewMiddleware
    assert set(s["errors_by_kind"]) == {"session_login"} and s["requests"] == s["errors"] > 0


def test_a_template_naming_a_value_nothing_extracts_is_invalid(tmp_path):
    with pytest.raises(InvalidInput, match=r"scenario 'edit/update' field path uses \{item\}, which names no value"):
        _plan(tmp_path, {"target": {"url": "http://127.0.0.1:9"}, "load": {"rate": 1},
                         "scenarios": [{"name": "edit", "steps": [
                             {"name": "update", "path": "/items/{item}"},
                             {"name": "create", "path": "/items", "extract": {"item": {"json": "id"}}}]}]})
    with pytest.raises(InvalidInput, match=r"expires_in names 'ttl', which no login or refresh step extracts"):
        _plan(tmp_path, {"target": {"url": "http://127.0.0.1:9"}, "load": {"rate": 1},
                         "session": {"login": [TOKEN_LOGIN], "refresh": {"expires_in": "ttl"}},
                         "scenarios": [{"name": "me", "path": "/me"}]})


def test_measure_login_counts_the_login_as_a_scenario(tmp_path, oauth_url):
    login_apps.oauth_stats.clear()
    plan = _plan(tmp_path, {
        "target": {"url": oauth_url},
        # 1 s: well inside the tokens' 2 s life, so this plan needs no renewal
        "load": {"model": "closed", "users": 2, "think_time": 0.1, "duration": 1},
        "session": {"login": [TOKEN_LOGIN], "measure_login": True},
        "scenarios": [{"name": "me", "path": "/me", "headers": {"Authorization": "Bearer {token}"}}],
    })
    s = run_load(plan, workers=1).summary
    assert s["scenarios"]["login/token"]["requests"] == 2 == login_apps.oauth_stats["tokens"]
    assert s["requests"] == s["scenarios"]["me"]["requests"] + 2 and s["errors"] == 0
    assert s["sessions"]["steps"] == {}  # counted with the scenarios instead


def test_a_value_only_the_refresh_extracts_is_not_one_a_scenario_can_use(tmp_path):
    renew = {**TOKEN_LOGIN, "name": "renew", "extract": {"fresh": {"json": "access_token"}}}
    with pytest.raises(InvalidInput, match=r"scenario 'me' field headers\.Authorization uses \{fresh\}"):
        _plan(tmp_path, {"target": {"url": "http://127.0.0.1:9"}, "load": {"rate": 1},
                         "session": {"login": [TOKEN_LOGIN], "refresh": {"every": 5, "steps": [renew]}},
                         "scenarios": [{"name": "me", "path": "/me", "headers": {"Authorization": "Bearer {fresh}"}}]})
