"""The night's warnings say when the load was not what the plan said: a data source ran out, sessions could not
log in or renew (pure: the load summary's blocks in, sentences out)."""

from __future__ import annotations

from loadwatch.pipeline.chain import night_warnings


def test_a_source_that_ran_out_and_failed_logins_are_warnings():
    load = {
        "errors_by_kind": {},
        "data": {
            "users": {"strategy": "unique", "on_exhausted": "stop", "rows": 40, "used": 40, "exhausted": True,
                      "wraps": 0, "exhausted_at_s": 12.5},
            "terms": {"strategy": "random", "on_exhausted": "stop", "rows": 9, "used": 900, "exhausted": False,
                      "wraps": 0, "exhausted_at_s": None},
        },
        "sessions": {"sessions": 4, "logins": 6, "login_failures": 2, "refreshes": 10, "refresh_failures": 0},
    }
    warnings = night_warnings(load, {"busy": False})  # type: ignore[typeddict-item]
    assert warnings == [
        "data source 'users' (unique, 40 rows) ran out 12.5 s into the run: the processes that ran out stopped "
        "sending",
        "sessions: 2 of 6 logins and 0 of 10 renewals failed; the requests that needed them were not sent "
        "(errors session_login, session_refresh)",
    ]
    assert night_warnings({"errors_by_kind": {}}, {"busy": False}) == []  # type: ignore[typeddict-item]
