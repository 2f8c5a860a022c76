"""Pure parts of the session path: the header block of an answer, the request that follows a redirect, the
cookie jar per session (the standard library's RFC 6265 rules)."""

from __future__ import annotations

from loadwatch.engine.session import Answer, Session, _redirect, parse_head

BASE = "http://127.0.0.1:8000"
POST = (b"POST /form?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nCookie: a=1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 7\r\n\r\n{\"a\":1}")


def test_header_block_skips_interim_answers():
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\nLocation: /next\r\nSet-Cookie: s=1; Path=/\r\n\r\n"
    assert parse_head(raw) == [(b"Location", b"/next"), (b"Set-Cookie", b"s=1; Path=/")]
    ans = Answer(302, raw, b"", 1, 2)
    assert ans.header("location") == "/next" and ans.sets_cookies()
    assert not Answer(200, b"HTTP/1.1 200 OK\r\nX-Set-Cookie-Like: 1\r\n\r\n", b"", 1, 2).sets_cookies()


def test_redirects_follow_the_method_rules_and_stay_on_the_target():
    see_other = _redirect(POST, 303, "/done?ok=1", BASE)
    assert see_other is not None and see_other.startswith(b"GET /done?ok=1 HTTP/1.1\r\n")
    assert b"Content-Length" not in see_other and b"Cookie:" not in see_other  # the jar adds the new path's
    assert see_other.endswith(b"\r\n\r\n")
    temporary = _redirect(POST, 307, "http://127.0.0.1:8000/form2", BASE)
    assert temporary is not None and temporary.startswith(b"POST /form2 HTTP/1.1\r\n")
    assert temporary.endswith(b'\r\n\r\n{"a":1}') and b"Content-Length: 7" in temporary
    assert _redirect(POST, 302, "relative", BASE) is not None  # resolved against the request's URL
    assert _redirect(POST, 302, "https://127.0.0.1:8000/x", BASE) is None  # another scheme: not followed
    assert _redirect(POST, 301, "http://example.com/x", BASE) is None  # another host: the 3xx is the answer


def test_a_session_keeps_cookies_by_path_and_drops_expired_ones():
    s = Session(cookies=True)
    head = (b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=abc; Path=/app\r\n"
            b"Set-Cookie: old=1; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n")
    s.take_cookies(BASE, "/app/login", Answer(200, head, b"", 1, 2))
    assert s.cookie_line(BASE, "/app/items") == b"Cookie: sid=abc\r\n"
    assert s.cookie_line(BASE, "/other") == b""  # path rules: not sent outside /app
    assert Session(cookies=False).cookie_line(BASE, "/app/items") == b""
