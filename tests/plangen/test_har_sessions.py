"""`loadwatch init --har` on a recording that logs in: a real client (httpx, its event hooks recording every
exchange) logs in to real login services (FastAPI's OAuth2 password flow; Django's own LoginView and CSRF
protection); the recorded tokens and items are deleted at the server (Django keeps its sessions in signed cookies:
there, its own login signal shows the plan's sessions logging in), and the generated
plan logs in by itself and replays with 0 errors; ids a write created become journeys. Plus the correlation on
hand-made HARs and a recording whose login was refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from engine import login_apps

from loadwatch.cli import main
from loadwatch.config import load_plan

from .test_traffic import _entry

USER, PASSWORD = "user3", login_apps.USERS["user3"]


class Recorder:
    """httpx event hooks -> HAR entries: every request and its answer, as a browser's dev tools would save."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self._started: dict[int, datetime] = {}

    def on_request(self, request: httpx.Request) -> None:
        self._started[id(request)] = datetime.now(UTC)

    def on_response(self, response: httpx.Response) -> None:
        response.read()
        entry = _entry(response, self._started.pop(id(response.request)))
        body = response.request.content
        if body:
            entry["request"]["postData"] = {"mimeType": response.request.headers.get("content-type", ""),
                                            "text": body.decode()}
        self.entries.append(entry)

    def client(self, base_url: str) -> httpx.Client:
        return httpx.Client(base_url=base_url, timeout=10,
                            event_hooks={"request": [self.on_request], "response": [self.on_response]})

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps({"log": {"version": "1.2", "entries": self.entries}}))
        return path


@pytest.fixture(scope="module")
def oauth_url() -> Iterator[str]:
    with login_apps.serve(login_apps.oauth_app) as url:
        yield url


@pytest.fixture(scope="module")
def django_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = login_apps.django_app(tmp_path_factory.mktemp("django") / "db.sqlite3")
    with login_apps.serve(app) as url:
        yield url


def _load(out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    result_file = tmp_path / "result.json"
    code = main(["load", "--plan", str(out), "--rate", "40", "--duration", "4", "--warmup", "0", "--workers", "1",
                 "--quiet", "--json", str(result_file)])
    assert code == 0, capsys.readouterr().err
    result: dict[str, Any] = json.loads(result_file.read_text())["load"]
    return result


def test_a_recorded_token_login_replays_with_logins_of_its_own(oauth_url, tmp_path, monkeypatch, capsys):
    rec = Recorder()
    with rec.client(oauth_url) as client:
        answer = client.post("/token", data={"username": USER, "password": PASSWORD})
        assert answer.status_code == 200
        token = answer.json()["access_token"]
        for _ in range(5):
            assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    har = rec.write(tmp_path / "login.har")
    login_apps._tokens.clear()  # the recorded session is gone at the server
    login_apps.oauth_stats.clear()

    out = tmp_path / "plan.yaml"
    assert main(["init", "--har", str(har), "--out", str(out)]) == 0, capsys.readouterr().err
    text = out.read_text()
    assert token not in text and PASSWORD not in text  # neither the recorded token nor the password
    assert "APP_PASSWORD" in text.split("name:")[0]  # the header comment names the variable to set
    doc = yaml.safe_load(text)
    login = doc["session"]["login"]
    assert [s["path"] for s in login] == ["/token"]
    assert login[0]["form"] == {"username": USER, "password": "${APP_PASSWORD}"}
    assert login[0]["extract"] == {"access_token": {"json": "access_token"}, "expires_in": {"json": "expires_in"}}
    assert doc["session"]["refresh"] == {"expires_in": "expires_in"}
    assert [(s["path"], s["headers"]) for s in doc["scenarios"]] == [
        ("/me", {"authorization": "Bearer {access_token}"})]

    monkeypatch.setenv("APP_PASSWORD", PASSWORD)
    result = _load(out, tmp_path, capsys)
    assert result["requests"] >= 100 and result["errors"] == 0, result["errors_by_kind"]
    stats = login_apps.oauth_stats
    # logins of its own (tokens live 2 s: renewed during the 4 s run), and no request met a refused token
    assert stats["tokens"] >= 2 and stats["unauthorized"] == 0 and stats["me"] == result["requests"]
    assert token not in login_apps._tokens


def test_an_id_a_write_created_becomes_a_journey(oauth_url, tmp_path, monkeypatch, capsys):
    """Create an item, then update it with the id the creation answered (in a header): the recorded ids are gone
    at the server, so the plan must take each run's own id from its own creation."""
    rec = Recorder()
    with rec.client(oauth_url) as client:
        token = client.post("/token", data={"username": USER, "password": PASSWORD}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        ids = []
        for i in range(3):
            created = client.post("/items", json={"name": f"n-{i}"}, headers=auth)
            ids.append(created.headers["X-Item-Id"])
            put = client.put(f"/items/{ids[-1]}", json={"id": ids[-1], "rev": 1, "name": f"n-{i}"}, headers=auth)
            assert put.status_code == 200
            assert client.get("/me", headers=auth).status_code == 200
    har = rec.write(tmp_path / "items.har")
    login_apps._tokens.clear()
    login_apps._items.clear()
    login_apps.oauth_stats.clear()

    out = tmp_path / "plan.yaml"
    assert main(["init", "--har", str(har), "--methods", "GET,POST,PUT", "--out", str(out)]) == 0, \
        capsys.readouterr().err
    text = out.read_text()
    assert not any(i in text for i in ids) and token not in text
    doc = yaml.safe_load(text)
    journey = next(s for s in doc["scenarios"] if "steps" in s)
    assert journey["weight"] == 3 and [s["path"] for s in doc["scenarios"] if "steps" not in s] == ["/me"]
    create, update = journey["steps"]
    assert (create["method"], create["path"], create["extract"]) == (
        "POST", "/items", {"x_item_id": {"header": "x-item-id"}})
    assert (update["method"], update["path"], update["json"]) == (
        "PUT", "/items/{x_item_id}", {"id": "{x_item_id}", "rev": 1, "name": "n-0"})
    assert create["headers"] == update["headers"] == {"authorization": "Bearer {access_token}",
                                                      "content-type": "application/json"}

    monkeypatch.setenv("APP_PASSWORD", PASSWORD)
    result = _load(out, tmp_path, capsys)
    stats = login_apps.oauth_stats
    assert result["errors"] == 0 and stats["updated"] > 10, (result["errors_by_kind"], stats)
    assert stats["bad_update"] == 0 and stats["unauthorized"] == 0
    assert not set(ids) & set(login_apps._items)  # every update was of an item the run created


def test_a_recorded_form_login_with_csrf_replays(django_url, tmp_path, monkeypatch, capsys):
    """Django's LoginView: the login page's CSRF token is posted with the form -> the page becomes a login step
    with a regex extraction, the session cookie the login set is never replayed."""
    rec = Recorder()
    with rec.client(django_url) as client:
        page = client.get("/accounts/login/")
        csrf = page.text.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
        done = client.post("/accounts/login/", data={"username": USER, "password": PASSWORD,
                                                     "csrfmiddlewaretoken": csrf})
        assert done.status_code == 302
        for _ in range(3):
            assert client.get("/private/").json() == {"user": USER}
        cookie = client.cookies["sessionid"]
    har = rec.write(tmp_path / "form.har")
    assert any(h["name"] == "cookie" for e in rec.entries[2:] for h in e["request"]["headers"])  # it was recorded

    out = tmp_path / "plan.yaml"
    assert main(["init", "--har", str(har), "--out", str(out)]) == 0, capsys.readouterr().err
    text = out.read_text()
    assert cookie not in text and csrf not in text and PASSWORD not in text
    doc = yaml.safe_load(text)
    page_step, login = doc["session"]["login"]
    assert page_step["path"] == login["path"] == "/accounts/login/" and login["method"] == "POST"
    assert login["form"] == {"username": USER, "password": "${APP_PASSWORD}",
                             "csrfmiddlewaretoken": "{csrfmiddlewaretoken}"}
    assert set(page_step["extract"]["csrfmiddlewaretoken"]) == {"regex"} and login["expect"] == {"status": [302]}
    assert [s["path"] for s in doc["scenarios"]] == ["/private/"] and "headers" not in doc["scenarios"][0]

    # what the server sees: each login (Django's own signal) and the cookies of every request
    from django.contrib.auth.signals import user_logged_in
    from django.core.signals import request_started

    logins: list[str] = []
    cookies: list[str] = []

    def on_login(sender: Any, request: Any, user: Any, **kw: Any) -> None:
        logins.append(user.username)

    def on_request(sender: Any, scope: dict[str, Any] | None = None, **kw: Any) -> None:
        cookies.extend(v.decode() for k, v in (scope or {}).get("headers", []) if k == b"cookie")

    user_logged_in.connect(on_login)
    request_started.connect(on_request)
    login_apps.django_stats.clear()
    monkeypatch.setenv("APP_PASSWORD", PASSWORD)
    try:
        result = _load(out, tmp_path, capsys)
    finally:
        user_logged_in.disconnect(on_login)
        request_started.disconnect(on_request)
    assert result["requests"] >= 100 and result["errors"] == 0, result["errors_by_kind"]
    assert result["sessions"]["logins"] >= 1 and result["sessions"]["login_failures"] == 0
    assert logins == [USER] * result["sessions"]["logins"]  # the server logged the plan's sessions in itself
    assert login_apps.django_stats[f"private:{USER}"] == result["requests"]
    # the sessions' own cookies were sent (not compared with the recorded one: Django's signed-cookie session of the
    # same user, signed in the same second, is the same text; the plan file not holding it is checked above)
    assert any("sessionid=" in c for c in cookies)


def _ex(method: str, url: str, status: int = 200, *, req_headers: list[tuple[str, str]] = (),  # type: ignore[assignment]
        form: str | None = None, resp_headers: list[tuple[str, str]] = (),  # type: ignore[assignment]
        body: str = "", mime: str = "text/html") -> dict[str, Any]:
    request: dict[str, Any] = {"method": method, "url": "http://127.0.0.1:9/" + url.lstrip("/"),
                               "headers": [{"name": k, "value": v} for k, v in req_headers]}
    if form is not None:
        request["postData"] = {"mimeType": "application/x-www-form-urlencoded", "text": form}
    return {"startedDateTime": "2026-12-07T07:00:00Z", "request": request,
            "response": {"status": status, "headers": [{"name": k, "value": v} for k, v in resp_headers],
                         "content": {"mimeType": mime, "text": body}}}


def test_correlation_on_a_hand_made_recording(tmp_path, capsys):
    """Values are matched, not guessed: the form field is called `tk` (no 'csrf' in it), the API token comes back
    in an answer header and is sent in a header of another name."""
    entries = [
        _ex("GET", "/signin", body='<p>hi</p>\n<input type="hidden" name="tk" value="Zq81xYw0pLm3">'),
        _ex("POST", "/signin", 303, form="login=ann&pass=hunter22&tk=Zq81xYw0pLm3",
            resp_headers=[("Set-Cookie", "sid=abcdef0123456789; Path=/"), ("X-Api-Token", "tok-7a7a7a7a7a")]),
        *[_ex("GET", "/inbox", req_headers=[("Cookie", "sid=abcdef0123456789"), ("X-Auth", "tok-7a7a7a7a7a")],
              body="[]", mime="application/json") for _ in range(3)],
        _ex("GET", "/feed?auth=tok-7a7a7a7a7a&page=2", body="[]", mime="application/json"),
        _ex("POST", "/notes", 201, body="{}", mime="application/json"),
    ]
    entries[-1]["request"]["postData"] = {"mimeType": "application/json",
                                          "text": json.dumps({"token": "tok-7a7a7a7a7a", "text": "{hi}"})}
    har = tmp_path / "hand.har"
    har.write_text(json.dumps({"log": {"entries": entries}}))
    out = tmp_path / "hand.yaml"
    assert main(["init", "--har", str(har), "--methods", "GET,POST", "--out", str(out)]) == 0, capsys.readouterr().err
    doc = yaml.safe_load(out.read_text())
    by_path = {s["path"]: s for s in doc["scenarios"]}
    assert by_path["/feed"]["query"] == {"auth": "{x_api_token}", "page": "2"}  # in a query string too
    assert by_path["/notes"]["json"] == {"token": "{x_api_token}", "text": "{{hi}}"}  # other braces stay literal
    page, login = doc["session"]["login"]
    assert page == {"name": "signin", "path": "/signin", "expect": {"status": [200]},
                    "extract": {"tk": {"regex": '<input type="hidden" name="tk" value="([^"\\s]+)'}}}
    assert login["form"] == {"login": "ann", "pass": "${APP_PASS}", "tk": "{tk}"}
    assert login["extract"] == {"x_api_token": {"header": "X-Api-Token"}}
    assert by_path["/inbox"]["headers"] == {"X-Auth": "{x_api_token}"}  # the recorded Cookie is gone
    assert "hunter22" not in out.read_text() and "abcdef0123456789" not in out.read_text()
    plan = load_plan(out)  # a valid plan: every `{name}` is extracted before it is sent
    assert plan.session is not None and len(plan.session.login) == 2


def test_a_json_login_whose_token_is_sent_as_a_bearer(tmp_path, capsys):
    token = "eyJhbGciOiJIUzI1NiJ9.e30.sig"
    entries = [
        _ex("POST", "/api/login", body=json.dumps({"data": {"session": {"token": token}}, "user": {"id": 7}}),
            mime="application/json"),
        _ex("GET", "/api/me", req_headers=[("Authorization", f"Bearer {token}")], body="{}",
            mime="application/json"),
    ]
    entries[0]["request"]["postData"] = {"mimeType": "application/json",
                                         "text": json.dumps({"email": "ann@example.org", "user_password": "pw!"})}
    har = tmp_path / "api.har"
    har.write_text(json.dumps({"log": {"entries": entries}}))
    out = tmp_path / "api.yaml"
    assert main(["init", "--har", str(har), "--out", str(out)]) == 0, capsys.readouterr().err
    text = out.read_text()
    doc = yaml.safe_load(text)
    [login] = doc["session"]["login"]
    assert login["json"] == {"email": "ann@example.org", "user_password": "${APP_USER_PASSWORD}"}
    assert login["extract"] == {"token": {"json": "data.session.token"}} and "refresh" not in doc["session"]
    assert doc["scenarios"][0]["headers"] == {"Authorization": "Bearer {token}"}
    assert token not in text and "pw!" not in text and "#   APP_USER_PASSWORD: " in text


def test_a_recording_whose_login_was_refused_is_named(tmp_path, capsys):
    entries = [_ex("POST", "/token", 401, form="username=ann&password=wrong", body='{"detail":"no"}',
                   mime="application/json"),
               _ex("GET", "/me", 401, body='{"detail":"no"}', mime="application/json")]
    har = tmp_path / "refused.har"
    har.write_text(json.dumps({"log": {"entries": entries}}))
    assert main(["init", "--har", str(har), "--out", str(tmp_path / "p.yaml")]) == 2
    err = capsys.readouterr().err
    assert "refused.har: log.entries[0].response.status: the login POST /token answered HTTP 401" in err
    assert "record a login that succeeds" in err and not (tmp_path / "p.yaml").exists()


def test_journeys_by_value_on_a_hand_made_recording(tmp_path, capsys):
    """Ids a POST created link the requests that sent them (every one of them) into a journey; names read from a
    GET answer stay a pool of recorded values (they exist on replay)."""
    entries = [_ex("GET", "/products", body=json.dumps({"items": ["widget-large", "widget-small"]}),
                   mime="application/json")]
    for oid in ("ord_8f7a6b5c4d", "ord_1a2b3c4d5e"):
        entries += [
            _ex("POST", "/orders", 201, body=json.dumps({"order": {"id": oid, "state": "new"}}),
                mime="application/json"),
            _ex("GET", f"/orders/{oid}", body=json.dumps({"id": oid}), mime="application/json"),
            _ex("POST", f"/orders/{oid}/pay", body="{}", mime="application/json"),
        ]
        entries[-3]["request"]["postData"] = {"mimeType": "application/json", "text": '{"sku": "widget-large"}'}
        entries[-1]["request"]["postData"] = {"mimeType": "application/json",
                                              "text": json.dumps({"order_id": oid, "amount": 5})}
    for name in ("widget-large", "widget-small", "widget-large", "widget-small"):
        entries.append(_ex("GET", f"/products/{name}", body="{}", mime="application/json"))
    har = tmp_path / "shop.har"
    har.write_text(json.dumps({"log": {"entries": entries}}))
    out = tmp_path / "shop.yaml"
    assert main(["init", "--har", str(har), "--methods", "GET,POST", "--out", str(out)]) == 0, \
        capsys.readouterr().err
    text = out.read_text()
    doc = yaml.safe_load(text)
    [journey] = [s for s in doc["scenarios"] if "steps" in s]
    assert journey["weight"] == 2
    create, show, pay = journey["steps"]
    assert create["extract"] == {"id": {"json": "order.id"}} and create["json"] == {"sku": "widget-large"}
    assert (show["path"], pay["path"], pay["json"]) == ("/orders/{id}", "/orders/{id}/pay",
                                                       {"order_id": "{id}", "amount": 5})
    assert "ord_8f7a6b5c4d" not in text and "ord_1a2b3c4d5e" not in text
    assert {s["path"] for s in doc["scenarios"] if "steps" not in s} == {  # (2 names: too few for a pool)
        "/products", "/products/widget-large", "/products/widget-small"}
    assert "6 request(s) now steps of 1 journey(s)" in text
    assert load_plan(out).scenarios[-1].steps is not None
