"""Bad input: exit 2, one line naming the file and the place, and nothing written (an existing plan untouched)."""

from __future__ import annotations

import json

import pytest

from loadwatch.cli import main

GOOD_LINE = '127.0.0.1 - - [30/Nov/2026:01:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl/8"'


def _spec(paths: dict) -> dict:
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": paths}


CASES = {
    "not_openapi": ("--openapi", "x.json", json.dumps({"hello": "world"}),
                    "x.json: openapi: not an OpenAPI 3.0/3.1 document: no `openapi` version field"),
    "swagger2": ("--openapi", "x.yaml", "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n",
                 "(Swagger 2.0: convert it to OpenAPI 3 first)"),
    "unresolvable_ref": ("--openapi", "x.json", json.dumps(_spec({"/a": {"get": {"responses": {"200": {
        "description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Gone"}}}}}}}})),
        "x.json: paths['/a'].get.responses['200'].content['application/json'].schema['$ref']: "
        "$ref '#/components/schemas/Gone' cannot be resolved"),
    "invalid_openapi": ("--openapi", "x.json", json.dumps(_spec({"/a": {"get": {"parameters": [
        {"name": "q", "in": "body"}], "responses": {"200": {"description": "ok"}}}}})),
        "x.json: paths['/a'].get.parameters[0]"),
    "yaml_syntax": ("--openapi", "x.yaml", "openapi: 3.1.0\ninfo: [unclosed\n", "x.yaml: line 3, column 1"),
    "empty_har": ("--har", "x.har", json.dumps({"log": {"version": "1.2", "entries": []}}),
                  "x.har: log.entries: not a HAR 1.2 recording: a HAR recording has no entries"),
    "har_bad_entry": ("--har", "x.har", json.dumps({"log": {"entries": [{"request": {"method": "GET"},
                                                                         "response": {"status": 200}}]}}),
                      "x.har: log.entries[0].request.url: not a HAR 1.2 recording: Field required"),
    "har_not_json": ("--har", "x.har", "{\"log\": ", "x.har: line 1, column 9: not JSON"),
    "unreadable_log_line": ("--access-log", "x.log", f"{GOOD_LINE}\n{GOOD_LINE}\nthis is not a log line\n",
                            "x.log: line 3: does not match the combined log format of the lines before it"),
    "not_a_log": ("--access-log", "x.log", "hello\n", "x.log: line 1: not an access log line"),
    "json_log_line": ("--access-log", "x.log", '{"method": "GET", "path": "/a", "status": 200}\n{"method": "GET"}\n',
                      "x.log: line 2: a JSON line needs `method` and `path`"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exit_2_names_file_and_place_writes_nothing(case, tmp_path, capsys, monkeypatch):
    flag, name, content, needle = CASES[case]
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(content)
    existing = tmp_path / "keep.yaml"
    existing.write_text("# the user's own plan\n")
    assert main(["init", flag, name, "--out", "keep.yaml", "--base-url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert needle in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert existing.read_text() == "# the user's own plan\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "keep.yaml"])  # no temp file left


def test_url_outside_loopback_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LOADWATCH_ALLOWED_HOSTS", raising=False)
    out = tmp_path / "p.yaml"
    assert main(["init", "--openapi", "http://example.com/openapi.json", "--out", str(out)]) == 2
    assert "--openapi: host 'example.com' is not loopback" in capsys.readouterr().err
    assert not out.exists()


def test_everything_filtered_out_is_an_error(tmp_path, capsys):
    src = tmp_path / "x.log"
    src.write_text(f"{GOOD_LINE}\n")
    out = tmp_path / "p.yaml"
    assert main(["init", "--access-log", str(src), "--out", str(out), "--exclude", "/a"]) == 2
    err = capsys.readouterr().err
    assert "nothing left to load after the filters: 1 request(s), matched by --exclude: e.g. GET /a (line 1)" in err
    assert not out.exists()


def test_unknown_method(tmp_path, capsys):
    assert main(["init", "--har", "x.har", "--methods", "GET,FETCH", "--out", str(tmp_path / "p.yaml")]) == 2
    assert "command line: --methods: expected a comma-separated list of GET, HEAD" in capsys.readouterr().err


def test_one_source_is_required(capsys):
    assert main(["init"]) == 2
    assert "one of the arguments --openapi --har --access-log is required" in capsys.readouterr().err


def test_out_is_a_directory(tmp_path, capsys):
    src = tmp_path / "x.log"
    src.write_text(f"{GOOD_LINE}\n")
    assert main(["init", "--access-log", str(src), "--out", str(tmp_path)]) == 2
    assert f"{tmp_path}: --out: is a directory" in capsys.readouterr().err
