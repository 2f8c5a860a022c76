"""Real login services for the session tests, served by uvicorn on loopback in a thread:

- `oauth_app`: FastAPI's own OAuth2 password flow (OAuth2PasswordRequestForm, OAuth2PasswordBearer) whose tokens
  expire after TOKEN_LIFETIME_S; it counts every 401 it answers, and a journey (create an item, then update it
  with the id and revision the creation answered).
- `django_app`: Django's own LoginView and CsrfViewMiddleware (a form login with a CSRF token in the page and a
  cookie), a login_required page, and a redirect to it."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from fastapi import Body, Depends, FastAPI, HTTPException, Response
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

TOKEN_LIFETIME_S = 2.0
USERS = {f"user{i}": f"pw-{i}" for i in range(8)}

oauth_app = FastAPI()
oauth_stats: Counter[str] = Counter()
_tokens: dict[str, tuple[str, float]] = {}  # token -> (user, expiry on the monotonic clock)
_items: dict[str, dict[str, Any]] = {}
_bearer = OAuth2PasswordBearer(tokenUrl="token")


@oauth_app.post("/token")
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, Any]:
    if USERS.get(form.username) != form.password:
        oauth_stats["bad_password"] += 1
        raise HTTPException(400, "incorrect username or password")
    oauth_stats["tokens"] += 1
    tok = secrets.token_urlsafe(16)
    _tokens[tok] = (form.username, time.monotonic() + TOKEN_LIFETIME_S)
    return {"access_token": tok, "token_type": "bearer", "expires_in": TOKEN_LIFETIME_S}


def _user(tok: Annotated[str, Depends(_bearer)]) -> str:
    found = _tokens.get(tok)
    if found is None or time.monotonic() > found[1]:
        oauth_stats["unauthorized"] += 1
        raise HTTPException(401, "token expired or unknown", headers={"WWW-Authenticate": "Bearer"})
    return found[0]


@oauth_app.get("/me")
def me(user: Annotated[str, Depends(_user)]) -> dict[str, str]:
    oauth_stats["me"] += 1
    return {"user": user}


@oauth_app.post("/items")
def create_item(user: Annotated[str, Depends(_user)], body: Annotated[dict[str, Any], Body()],
                response: Response) -> dict[str, Any]:
    item_id = uuid.uuid4().hex
    _items[item_id] = {"owner": user, "name": body.get("name"), "rev": 1}
    response.headers["X-Item-Id"] = item_id  # the journey takes the id from this header, the revision from the body
    return {"rev": 1}


@oauth_app.put("/items/{item_id}")
def update_item(item_id: str, user: Annotated[str, Depends(_user)],
                body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    item = _items.get(item_id)
    # the id and the revision must be the ones the creation answered, the revision a JSON number
    # and the name the same as at the creation (one user for the whole journey)
    if (item is None or body.get("id") != item_id or type(body.get("rev")) is not int or body["rev"] != item["rev"]
            or body.get("name") != item["name"]):
        oauth_stats["bad_update"] += 1
        raise HTTPException(409, f"stale or unknown item: {body!r}")
    item["rev"] += 1
    oauth_stats["updated"] += 1
    return {"id": item_id, "rev": item["rev"]}


@contextmanager
def serve(app: Any) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


django_stats: Counter[str] = Counter()


def django_app(db: Path) -> Any:
    """Django configured in this process (once): LoginView, CSRF middleware, sessions in signed cookies."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="loadwatch-test-" + "x" * 40,
            ALLOWED_HOSTS=["127.0.0.1", "localhost"],
            ROOT_URLCONF=__name__,
            INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions"],
            MIDDLEWARE=[
                "django.contrib.sessions.middleware.SessionMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware",
            ],
            SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(db)}},
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],  # fast: the test is about the flow
            LOGIN_URL="/accounts/login/",
            LOGIN_REDIRECT_URL="/private/",
            TEMPLATES=[{
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader", {
                    "registration/login.html": '<html><form method="post">{% csrf_token %}{{ form }}</form></html>',
                })]},
            }],
            USE_TZ=True,
        )
        django.setup()
        from django.contrib.auth.models import User
        from django.core.management import call_command

        call_command("migrate", run_syncdb=True, verbosity=0)
        for name, pw in USERS.items():
            User.objects.create_user(name, password=pw)
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


def _private(request: Any) -> Any:
    from django.http import JsonResponse

    django_stats["private:" + request.user.username] += 1
    return JsonResponse({"user": request.user.username})


def _go(request: Any) -> Any:
    from django.shortcuts import redirect

    django_stats["go"] += 1
    return redirect("/private/")


def _urls() -> list[Any]:
    from django.contrib.auth.decorators import login_required
    from django.contrib.auth.views import LoginView
    from django.urls import path

    return [
        path("accounts/login/", LoginView.as_view()),
        path("private/", login_required(_private)),
        path("go/", login_required(_go)),
    ]


def __getattr__(name: str) -> Any:  # Django reads ROOT_URLCONF's urlpatterns only once it is configured
    if name == "urlpatterns":
        return _urls()
    raise AttributeError(name)


# the plan's login step against oauth_app: a password form, its token and lifetime extracted
TOKEN_LOGIN = {
    "name": "token",
    "method": "POST",
    "path": "/token",
    "form": {"username": "{users.username}", "password": "{users.password}"},
    "extract": {"token": {"json": "access_token"}, "expires_in": {"json": "expires_in"}},
    "expect": {"status": [200]},
}
