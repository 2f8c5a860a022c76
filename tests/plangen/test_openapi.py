"""OpenAPI -> plan, against a real FastAPI service whose request validation answers 422 to a wrong parameter:
the plan generated from the served /openapi.json runs through the real engine with 0 errors and covers every
read operation."""

from __future__ import annotations

import json
import urllib.request

import yaml

from loadwatch.cli import main
from loadwatch.config import load_plan
from loadwatch.plangen.check import check_plan

# get_report has no list operation and no example: its made-up id finds nothing (the --check test's case)
RETIRED = "get_report"


def _read_ops(url: str) -> set[str]:
    with urllib.request.urlopen(url + "/openapi.json", timeout=10) as resp:
        spec = json.loads(resp.read())
    return {op["operationId"] for item in spec["paths"].values() for m, op in item.items() if m in ("get", "head")}


def test_plan_from_served_openapi_runs_with_no_errors(shop_url, tmp_path, capsys):
    out = tmp_path / "shop.yaml"
    code = main(["init", "--openapi", shop_url + "/openapi.json", "--out", str(out), "--exclude", "/reports/*"])
    assert code == 0, capsys.readouterr().err
    plan = load_plan(out)
    names = {s.name for s in plan.scenarios}
    assert names == _read_ops(shop_url) - {RETIRED}
    assert plan.target.url == shop_url  # from the host the document was fetched from
    # the item id comes from the list operation, not from a made-up value (ids start at 101)
    assert plan.pools["item_id"].from_path == "/items" and plan.pools["item_id"].json_path == "[*].id"
    by_name = {s.name: s for s in plan.scenarios}
    assert by_name["get_item"].path == "/items/{item_id}"
    assert by_name["item_reviews"].path == "/items/{item_id}/reviews"
    assert set(by_name["search_items"].query) == {"q", "sort", "min_price", "max_results"}
    assert "x-client" in by_name["get_store"].headers
    text = out.read_text()
    assert "# Left out:" in text and "1 operation(s) of methods not in --methods (POST ×1)" in text
    assert "GET /reports/{report_id}: matched by --exclude" in text

    # the file as written, through `loadwatch load --plan` (the flags only shorten the run)
    result_file = tmp_path / "result.json"
    assert main(["load", "--plan", str(out), "--rate", "50", "--duration", "3", "--warmup", "0.5", "--workers", "1",
                 "--quiet", "--json", str(result_file)]) == 0, capsys.readouterr().err
    result = json.loads(result_file.read_text())["load"]
    # 50 req/s over a measured window of about 2 s: ~100 sends, one either side of its edges may fall outside
    assert result["requests"] >= 90
    assert result["errors"] == 0, result["errors_by_kind"]
    assert set(result["scenarios"]) == names
    assert all(s["requests"] > 0 and s["errors"] == 0 for s in result["scenarios"].values())


def test_a_wrong_value_is_what_the_service_rejects(shop_url, tmp_path, capsys):
    """The control: the same plan with one value outside its schema gets 422 from the service, so the 0 errors
    above mean the generated values are valid, not that the service accepts anything."""
    out = tmp_path / "shop.yaml"
    assert main(["init", "--openapi", shop_url + "/openapi.json", "--out", str(out), "--include", "/search",
                 "--check"]) == 0
    doc = yaml.safe_load(out.read_text())
    doc["scenarios"][0]["query"]["max_results"] = "7"  # not a multiple of 5
    out.write_text(yaml.safe_dump(doc))
    [result] = check_plan(load_plan(out))
    assert result.status == 422 and "multiple of 5" in str(result.reason)


def test_a_scenario_that_does_not_answer_2xx_is_left_out_with_the_reason(shop_url, tmp_path, capsys):
    """By default each scenario is sent once before the plan is written: the retired endpoint (a made-up id, 404)
    is listed at the end with the answer, not written into a plan that would fail every night."""
    out = tmp_path / "shop.yaml"
    assert main(["init", "--openapi", shop_url + "/openapi.json", "--out", str(out)]) == 0
    plan = load_plan(out)
    assert RETIRED not in {s.name for s in plan.scenarios}
    assert "#   GET /reports/1: answered HTTP 404: {\"detail\":\"no report 1\"} when sent once before writing" \
        in out.read_text()
    assert all(r.ok for r in check_plan(plan))


def test_check_reports_a_scenario_that_does_not_answer_2xx(shop_url, tmp_path, capsys):
    out = tmp_path / "shop.yaml"
    assert main(["init", "--openapi", shop_url + "/openapi.json", "--out", str(out), "--check", "--no-probe",
                 "--exclude", "/orders*"]) == 1
    err = capsys.readouterr().err
    fails = [line for line in err.splitlines() if "FAIL" in line]
    assert len(fails) == 1, err
    assert f"FAIL {RETIRED}: GET /reports/1 -> 404 (HTTP 404: {{\"detail\":\"no report 1\"}})" in fails[0]
    assert "ok   get_item: GET /items/101 -> 200" in err
    assert out.exists()  # the plan is written; the check reports on it


def test_yaml_file_with_refs_and_server_prefix(tmp_path):
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "Pets", "version": "1"},
        "servers": [{"url": "http://127.0.0.1:{port}/api/v3", "variables": {"port": {"default": "8123"}}}],
        "paths": {
            "/pets": {"get": {"operationId": "listPets",
                              "responses": {"200": {"description": "ok", "content": {"application/json": {
                                  "schema": {"type": "object", "properties": {
                                      "data": {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}}}}}}}}}},
            "/pets/{petId}": {"get": {
                "parameters": [{"$ref": "#/components/parameters/PetId"},
                               {"name": "fields", "in": "query", "schema": {"type": "string"}, "example": "name,tag"},
                               {"name": "verbose", "in": "query", "schema": {"type": "boolean"}}],
                "responses": {"200": {"description": "ok"}}}},
            "/owners/{ownerId}": {"get": {
                "parameters": [{"name": "ownerId", "in": "path", "required": True,
                                "schema": {"type": "string", "format": "uuid"}}],
                "security": [{"bearer": []}],
                "responses": {"200": {"description": "ok"}}}},
        },
        "components": {
            "parameters": {"PetId": {"name": "petId", "in": "path", "required": True,
                                     "schema": {"type": "integer", "minimum": 1}}},
            "schemas": {"Pet": {"type": "object", "properties": {"id": {"type": "integer"},
                                                                 "name": {"type": "string"}}}},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    src = tmp_path / "pets.yaml"
    src.write_text(yaml.safe_dump(spec))
    out = tmp_path / "plan.yaml"
    # nothing listens on 8123: by default that is exit 3 and no file, and --no-probe writes without sending
    assert main(["init", "--openapi", str(src), "--out", str(out)]) == 3
    assert not out.exists()
    assert main(["init", "--openapi", str(src), "--out", str(out), "--no-probe"]) == 0
    plan = load_plan(out)
    assert plan.target.url == "http://127.0.0.1:8123"
    sc = {s.name: s for s in plan.scenarios}
    assert sc["get_pets_petId"].path == "/api/v3/pets/{petId}"
    assert plan.pools["petId"].from_path == "/api/v3/pets" and plan.pools["petId"].json_path == "data[*].id"
    assert sc["get_pets_petId"].query == {"fields": "name,tag"}  # optional without a value of its own: not sent
    assert sc["get_owners_ownerId"].path == "/api/v3/owners/3fa85f64-5717-4562-b3fc-2c963f66afa6"
    assert sc["get_owners_ownerId"].headers == {"Authorization": "Bearer ${BEARER}"}
    assert "# --base-url" not in out.read_text() and "servers[0].url of the spec" in out.read_text()


def test_methods_adds_bodies_generated_from_the_schema(shop_url, tmp_path):
    out = tmp_path / "shop.yaml"
    assert main(["init", "--openapi", shop_url + "/openapi.json", "--out", str(out), "--methods", "GET,POST",
                 "--include", "*items", "--check"]) == 0
    plan = load_plan(out)
    [create] = [s for s in plan.scenarios if s.method == "POST"]
    assert create.json_body == {"name": "name", "color": "red", "price": 1}


def test_ids_of_an_untyped_list_come_from_its_live_answer(shop_url, tmp_path, capsys):
    """GET /orders returns plain objects (its schema shows no fields): the ids for /orders/{order_no} are taken
    from its real answer, not made from the schema's minimum (which answers 404)."""
    out = tmp_path / "orders.yaml"
    assert main(["init", "--openapi", shop_url + "/openapi.json", "--out", str(out), "--include", "/orders*"]) == 0
    plan = load_plan(out)
    pool = plan.pools["order_no"]
    assert (pool.from_path, pool.json_path) == ("/orders", "[*].order_no")
    assert "its live answer" in out.read_text()
    result_file = tmp_path / "result.json"
    assert main(["load", "--plan", str(out), "--rate", "40", "--duration", "2", "--warmup", "0", "--workers", "1",
                 "--quiet", "--json", str(result_file)]) == 0, capsys.readouterr().err
    load = json.loads(result_file.read_text())["load"]
    assert load["scenarios"]["get_order"]["requests"] > 0 and load["errors"] == 0, load["errors_by_kind"]


def test_init_sends_only_the_methods_the_user_allowed(shop_url, tmp_path):
    from .shop import RECEIVED

    RECEIVED.clear()
    out = tmp_path / "shop.yaml"
    assert main(["init", "--openapi", shop_url + "/openapi.json", "--out", str(out)]) == 0
    assert RECEIVED, "the probe sent nothing"
    assert {r.split()[0] for r in RECEIVED} <= {"GET", "HEAD"}, RECEIVED
    RECEIVED.clear()
    assert main(["init", "--openapi", shop_url + "/openapi.json", "--out", str(out), "--methods", "POST"]) == 0
    # no GET for the document's list operations (no pools, no live lists) and the POST itself once
    assert [r for r in RECEIVED if not r.startswith("GET /openapi.json")] == ["POST /items"], RECEIVED


def test_a_large_real_api_under_a_path_prefix_runs_with_no_errors(prefect_harness, tmp_path, capsys):
    """Prefect's own REST API: its document at /api/openapi.json says `servers: [{url: /api}]`, its ids are uuids
    nobody can guess. The plan keeps what answers 2xx and runs with 0 errors."""
    from prefect.settings import PREFECT_API_URL

    api = str(PREFECT_API_URL.value()).rstrip("/")
    assert api.endswith("/api")
    out = tmp_path / "prefect.yaml"
    assert main(["init", "--openapi", api + "/openapi.json", "--out", str(out)]) == 0, capsys.readouterr().err
    plan = load_plan(out)
    assert len(plan.scenarios) >= 8
    assert all(s.path.startswith("/api/") for s in plan.scenarios)
    assert "answered HTTP 404" in out.read_text()  # the made-up ids, left out with the answer
    result_file = tmp_path / "result.json"
    assert main(["load", "--plan", str(out), "--rate", "30", "--duration", "3", "--warmup", "0", "--workers", "1",
                 "--quiet", "--json", str(result_file)]) in (0, 3), capsys.readouterr().err  # 3: a busy machine
    load = json.loads(result_file.read_text())["load"]
    assert load["requests"] > 0 and load["errors"] == 0, load["errors_by_kind"]
