"""URL redaction and derivation (loadwatch.urls): pure functions."""

from __future__ import annotations

from loadwatch.urls import redact_url, with_database


def test_the_password_is_hidden_wherever_it_is():
    assert redact_url("postgresql://lw:s3cret@db:5432/x?sslmode=require&password=p2") == \
        "postgresql://lw:***@db:5432/x?sslmode=require&password=***"
    assert redact_url("postgresql://lw@db/x") == "postgresql://lw@db/x"
    assert redact_url("postgresql://lw:@db/x") == "postgresql://lw@db/x"


def test_another_database_on_the_same_server():
    assert with_database("postgresql://lw:pw@h:5/postgres?x=1", "loadwatch") == "postgresql://lw:pw@h:5/loadwatch?x=1"
