"""An OpenAPI 3.0/3.1 document (JSON or YAML, a file or a URL) -> a plan with one scenario per operation.

Parsing and checking use the libraries the OpenAPI ecosystem uses: `openapi-spec-validator` validates the document
against the OpenAPI 3.0/3.1 schemas (its error carries the JSON path of the problem), and `$ref`s are resolved
with `referencing` (the resolver under `jsonschema`), which also names a reference that points nowhere. `prance`
was not chosen: it resolves by rewriting the whole document and stops at the first cycle, where resolving only
what an operation uses, with a cycle guard, is enough here.

Values: see `values.py`. A path parameter that names a real thing (`/items/{item_id}`) is filled from a data pool
fetched at setup from the list operation of the same resource (`GET /items`, its JSON answer, the matching field:
`[*].id`), when the spec has one whose answer schema shows that field; otherwise from the spec's values."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012

from loadwatch.config import check_target_allowed, safe_name
from loadwatch.errors import InvalidInput, TargetUnavailable
from loadwatch.plangen.draft import Filters, PlanDraft, PoolDraft, ScenarioDraft, literal, scenario_name, unique_name
from loadwatch.plangen.values import NoValue, generate, spec_example
from loadwatch.plangen.verify import LiveLists

__all__ = ["draft_from_openapi", "load_document"]

MAX_BYTES = 20 * 1024 * 1024
FETCH_TIMEOUT_S = 15.0
MAX_REF_DEPTH = 32
_METHODS = ("get", "head", "options", "post", "put", "patch", "delete")
_IGNORED_HEADERS = {"accept", "content-type", "authorization"}  # OpenAPI: described elsewhere, not as parameters


# --- reading -------------------------------------------------------------------------------------------------


def _fetch(url: str) -> tuple[bytes, str]:
    check_target_allowed(url, source="--openapi")
    req = urllib.request.Request(url, headers={"Accept": "application/json, application/yaml;q=0.9, */*;q=0.1",
                                               "User-Agent": "loadwatch"})
    try:
        with urllib.request.urlopen(req, timeout=FETCH_TIMEOUT_S) as resp:
            body: bytes = resp.read(MAX_BYTES + 1)
            final = resp.geturl()
    except urllib.error.HTTPError as exc:
        raise InvalidInput(f"the server answered HTTP {exc.code}", source=url) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise TargetUnavailable(f"cannot fetch {url}: {getattr(exc, 'reason', exc)}") from None
    if final != url:  # a redirect must not lead the fetch off the allowed hosts
        check_target_allowed(final, source="--openapi (after a redirect)")
    if len(body) > MAX_BYTES:
        raise InvalidInput(f"larger than {MAX_BYTES // 2**20} MiB", source=url)
    return body, final


def load_document(location: str) -> tuple[dict[str, Any], str]:
    """The parsed document and its base URI (for relative `$ref`s and relative `servers`)."""
    if re.match(r"^https?://", location):
        raw, base = _fetch(location)
    else:
        p = Path(location)
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            raise InvalidInput("file not found", source=location) from None
        except OSError as exc:
            raise InvalidInput(f"cannot read: {exc.strerror}", source=location) from None
        if len(raw) > MAX_BYTES:
            raise InvalidInput(f"larger than {MAX_BYTES // 2**20} MiB", source=location)
        base = p.resolve().as_uri()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("not a UTF-8 text file", source=location) from None
    try:
        doc = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not JSON: {exc.msg}", source=location,
                           field=f"line {exc.lineno}, column {exc.colno}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InvalidInput(f"neither JSON nor YAML: {getattr(exc, 'problem', None) or exc}", source=location,
                           field=f"line {mark.line + 1}, column {mark.column + 1}" if mark else None) from None
    version = doc.get("openapi") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or not isinstance(version, str):
        hint = " (Swagger 2.0: convert it to OpenAPI 3 first)" if isinstance(doc, dict) and "swagger" in doc else ""
        raise InvalidInput("not an OpenAPI 3.0/3.1 document: no `openapi` version field" + hint, source=location,
                           field="openapi")
    if not version.startswith(("3.0", "3.1")):
        raise InvalidInput(f"OpenAPI {version} is not supported (3.0 and 3.1 are)", source=location, field="openapi")
    return doc, base


def _json_path(parts: list[Any] | tuple[Any, ...]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if re.match(r"^[A-Za-z_]\w*$", str(p)) else f"[{p!r}]")
    return out.lstrip(".") or "(document)"


class _Refs:
    """`$ref` resolution over the document and any file it references; a cycle resolves to `{}` (any value)."""

    def __init__(self, doc: dict[str, Any], base: str, source: str) -> None:
        self.source = source

        def retrieve(uri: str) -> Resource[Any]:
            if not uri.startswith("file:"):  # a spec's reference must not make loadwatch fetch arbitrary URLs
                raise NoSuchResource(uri)
            path = Path(urllib.parse.unquote(urllib.parse.urlsplit(uri).path))
            try:
                text = path.read_text(encoding="utf-8")
            except OSError:
                raise NoSuchResource(uri) from None
            return Resource.from_contents(yaml.safe_load(text), default_specification=DRAFT202012)

        registry: Registry[Any] = Registry(retrieve=retrieve)  # type: ignore[call-arg]
        registry = registry.with_resource(base, Resource.from_contents(doc, default_specification=DRAFT202012))
        self.resolver = registry.resolver(base_uri=base)

    def check_all(self, node: Any, where: list[Any]) -> None:
        """Refuse the first `$ref` that points nowhere, naming where it is."""
        stack: list[tuple[Any, list[Any]]] = [(node, where)]
        while stack:
            n, w = stack.pop()
            if isinstance(n, dict):
                ref = n.get("$ref")
                if isinstance(ref, str):
                    try:
                        self.resolver.lookup(ref)
                    except Unresolvable:
                        raise InvalidInput(f"$ref {ref!r} cannot be resolved", source=self.source,
                                           field=_json_path([*w, "$ref"])) from None
                stack += [(v, [*w, k]) for k, v in n.items() if k != "$ref"]
            elif isinstance(n, list):
                stack += [(v, [*w, i]) for i, v in enumerate(n)]

    def deref(self, node: Any, resolver: Any = None, seen: tuple[str, ...] = (), depth: int = 0) -> Any:
        resolver = resolver or self.resolver
        if depth > MAX_REF_DEPTH:
            return {}
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                if ref in seen:
                    return {}
                resolved = resolver.lookup(ref)
                target = self.deref(resolved.contents, resolved.resolver, (*seen, ref), depth + 1)
                siblings = {k: self.deref(v, resolver, seen, depth + 1) for k, v in node.items() if k != "$ref"}
                return {**target, **siblings} if isinstance(target, dict) else target
            return {k: self.deref(v, resolver, seen, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [self.deref(v, resolver, seen, depth + 1) for v in node]
        return node


def _without_responses(item: Any) -> Any:
    if not isinstance(item, dict) or "$ref" in item:
        return item
    return {k: ({kk: vv for kk, vv in v.items() if kk != "responses"} if k in _METHODS and isinstance(v, dict) else v)
            for k, v in item.items()}


def _validate(doc: dict[str, Any], base: str, source: str) -> None:
    cls = OpenAPIV30SpecValidator if str(doc["openapi"]).startswith("3.0") else OpenAPIV31SpecValidator
    try:
        error = next(iter(cls(doc, base_uri=base).iter_errors()), None)
    except Unresolvable as exc:
        raise InvalidInput(f"a $ref cannot be resolved: {exc}", source=source) from None
    if isinstance(error, OpenAPIValidationError):
        raise InvalidInput(f"not a valid OpenAPI {doc['openapi']} document: {error.message}", source=source,
                           field=_json_path(list(error.absolute_path))) from None
    if error is not None:
        raise InvalidInput(f"not a valid OpenAPI {doc['openapi']} document: {error}", source=source)


# --- the plan ------------------------------------------------------------------------------------------------


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _base(doc: dict[str, Any], base_uri: str, base_url: str | None) -> tuple[str, str, str]:
    """(target URL, path prefix, note)."""
    if base_url:
        parts = urllib.parse.urlsplit(base_url)
        return f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/"), "--base-url"
    servers = doc.get("servers") or []
    url, note = "", ""
    if servers and isinstance(servers[0], dict) and isinstance(servers[0].get("url"), str):
        url = servers[0]["url"]
        for var, spec in (servers[0].get("variables") or {}).items():
            url = url.replace("{" + var + "}", str(spec.get("default", "")))
        note = "servers[0].url of the spec"
    if base_uri.startswith("http"):
        url, note = urllib.parse.urljoin(base_uri, url or "/"), note or "the host the spec was fetched from"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "http://127.0.0.1:8000", parts.path.rstrip("/"), "the spec names no absolute server: pass --base-url"
    return f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/"), note


def _resource_words(param: str) -> set[str]:
    words = [w.lower() for w in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", param)]
    return {"_".join(words), "".join(words), *(words[-1:] if len(words) > 1 else [])}


def _field_for(param: str, resource: str, item: Any) -> str | None:
    """The property of a listed item that holds the identifier a path parameter wants."""
    props = item.get("properties") if isinstance(item, dict) else None
    if not isinstance(props, dict):
        return None
    singular = resource[:-1] if resource.endswith("s") else resource
    wanted = [param, *sorted(_resource_words(param)), f"{singular}_{param}", f"{singular}{param.capitalize()}", "id"]
    for name in wanted:
        if name in props:
            return name
    return None


def _live_items(doc: Any) -> tuple[str, dict[str, Any]] | None:
    """(json_path prefix, first item) of the list in a real answer: the answer itself, or its first list property."""
    if isinstance(doc, list):
        return ("", doc[0]) if doc and isinstance(doc[0], dict) else None
    if isinstance(doc, dict):
        for key, value in doc.items():
            if isinstance(value, list) and value and isinstance(value[0], dict) and re.match(r"^[A-Za-z_]\w*$", key):
                return key, value[0]
    return None


def _live_source(lists: LiveLists, prefix: str, parent: str, pname: str, resource: str,
                 op: str) -> tuple[str, str, str] | None:
    """The list operation's real answer, when its schema does not show the items' fields (untyped objects)."""
    found = _live_items(lists.get(prefix + parent))
    if found is None:
        return None
    key, item = found
    scalar: dict[str, Any] = {k: {} for k, v in item.items() if isinstance(v, str | int) and not isinstance(v, bool)
                              and v != ""}
    field = _field_for(pname, resource, {"properties": scalar})
    if field is None:
        return None
    return parent, f"{key}[*].{field}", f"{op}: its live answer (the spec's schema does not show the items' fields)"


def _list_source(doc_paths: dict[str, Any], path: str, pname: str, refs: _Refs, lists: LiveLists | None = None,
                 prefix: str = "") -> tuple[str, str, str] | None:
    """(collection path, json_path, operation) of the list operation whose answer holds values for `{pname}`: from
    its answer schema, else (with `lists`) from its real answer."""
    segs = path.split("/")
    try:
        i = segs.index("{" + pname + "}")
    except ValueError:
        return None
    parent = "/".join(segs[:i]) or "/"
    if "{" in parent or parent not in doc_paths:
        return None
    raw_get = (refs.deref(_without_responses(doc_paths[parent])) or {}).get("get")
    if not isinstance(raw_get, dict):
        return None
    if any(p.get("required") for p in raw_get.get("parameters") or [] if isinstance(p, dict)):
        return None  # a setup request with required parameters is beyond a pool's from_path
    get = refs.deref(doc_paths[parent] or {}).get("get") or {}
    responses = get.get("responses") or {}
    ok = next((responses[c] for c in ("200", 200, "2XX") if c in responses), None)
    schema = (((ok or {}).get("content") or {}).get("application/json") or {}).get("schema")
    resource = segs[i - 1] if i else ""
    op = f"GET {parent} ({get.get('operationId') or 'list'})"
    typed = _typed_source(schema, parent, pname, resource, op)
    if typed is None and lists is not None:
        return _live_source(lists, prefix, parent, pname, resource, op)
    return typed


def _typed_source(schema: Any, parent: str, pname: str, resource: str, op: str) -> tuple[str, str, str] | None:
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "array" or "items" in schema:
        field = _field_for(pname, resource, schema.get("items"))
        return (parent, f"[*].{field}", op) if field else None
    for prop, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict) and (sub.get("type") == "array" or "items" in sub):
            field = _field_for(pname, resource, sub.get("items"))
            if field:
                return parent, f"{prop}[*].{field}", op
    return None


def _param_value(param: dict[str, Any], version: str) -> tuple[Any, str]:
    ex = spec_example(param)
    if ex is not None:
        return ex
    return generate(param.get("schema") or {}, name=str(param.get("name", "")), version=version)


def _security_headers(doc: dict[str, Any], op: dict[str, Any], refs: _Refs) -> dict[str, tuple[str, str]]:
    """Credentials the operation needs, as `${ENV}` references the engine fills in at run time."""
    reqs = op.get("security", doc.get("security")) or []
    if not reqs or any(r == {} for r in reqs):  # `{}` in the list: anonymous access is allowed
        return {}
    schemes = refs.deref((doc.get("components") or {}).get("securitySchemes") or {})
    out: dict[str, tuple[str, str]] = {}
    for name in reqs[0]:
        s = schemes.get(name) or {}
        env = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or "API_TOKEN"
        note = f"security scheme {name!r}: set {env} in the environment"
        if s.get("type") == "http" and str(s.get("scheme", "")).lower() in ("bearer", "basic"):
            out["Authorization"] = (f"{str(s['scheme']).capitalize()} ${{{env}}}", note)
        elif s.get("type") == "apiKey" and s.get("in") == "header" and s.get("name"):
            out[str(s["name"])] = (f"${{{env}}}", note)
    return out


def draft_from_openapi(location: str, *, base_url: str | None, filters: Filters, live: bool = False) -> PlanDraft:
    """The plan's draft; with `live`, list operations' real answers fill path parameters whose list schema does not
    show the items' fields (only when GET is an allowed method: nothing is sent that the user did not allow)."""
    doc, base_uri = load_document(location)
    refs = _Refs(doc, base_uri, location)
    refs.check_all(doc, [])
    _validate(doc, base_uri, location)
    version = str(doc["openapi"])
    target, prefix, base_note = _base(doc, base_uri, base_url)
    info = doc.get("info") or {}
    title = str(info.get("title") or "api")
    draft = PlanDraft(
        name=safe_name(title, "api"),
        source=f"OpenAPI {version} {location} ({title} {info.get('version', '')})".replace(" )", ")"),
        base_url=target,
        base_note=base_note,
    )
    taken: set[str] = set()
    pool_source: dict[str, tuple[str, str]] = {}
    typed_host = [str(urllib.parse.urlsplit(base_url).hostname)] if base_url else None  # the user named it
    lists = LiveLists(target, typed_host) if live and "GET" in filters.methods else None
    paths = {p: item for p, item in (doc.get("paths") or {}).items() if p.startswith("/")}  # not `x-` extensions
    if not paths:
        raise InvalidInput("the document has no operations under `paths` (webhooks are not requests to send)",
                           source=location, field="paths")
    for path, raw_item in paths.items():
        # answers are not sent, so their (often large, often shared) schemas are not resolved here; a list
        # operation's answer is, in _list_source, once per path parameter that needs it
        item = refs.deref(_without_responses(raw_item))
        if not isinstance(item, dict):
            continue
        for method in _METHODS:
            if method not in item:
                continue
            op = item[method]
            where = f"paths[{path!r}].{method}"
            label = f"{method.upper()} {path}"
            name = str(op.get("operationId") or scenario_name(method, path))
            why = filters.reason_to_skip(method, path, name)
            if why:
                draft.left_out.append(f"{label}: {why}")
                continue
            try:
                sc = _scenario(doc, item, op, method, path, prefix, name, version, paths, refs, draft, pool_source,
                               taken, lists if "GET" in filters.methods else None, "GET" in filters.methods)
            except NoValue as exc:
                draft.left_out.append(f"{label}: {exc}")
                continue
            sc.note = f"{label} ({where}" + (f", operationId {op['operationId']})" if op.get("operationId") else ")") \
                + sc.note
            draft.scenarios.append(sc)
    for sc in draft.scenarios:
        sc.weight_note = "equal share: a spec says nothing about traffic (a HAR or an access log does)"
    return draft


def _scenario(doc: dict[str, Any], item: dict[str, Any], op: dict[str, Any], method: str, path: str, prefix: str,
              name: str, version: str, paths: dict[str, Any], refs: _Refs, draft: PlanDraft,
              pool_source: dict[str, tuple[str, str]], taken: set[str], lists: LiveLists | None,
              setup_get: bool) -> ScenarioDraft:
    """One operation as a scenario. Pools are filled by GET setup requests, so only when GET is allowed."""
    params: dict[tuple[str, str], dict[str, Any]] = {}
    for p in [*(item.get("parameters") or []), *(op.get("parameters") or [])]:  # the operation's own win
        if isinstance(p, dict) and "name" in p and "in" in p:
            params[(str(p["in"]), str(p["name"]))] = p
    sc = ScenarioDraft(name=unique_name(name, taken), method=method.upper(), path="")
    segments = [literal(s) for s in (prefix + path).split("/")]
    cookies: list[str] = []
    for (where, pname), p in params.items():
        required = bool(p.get("required")) or where == "path"
        has_own_value = spec_example(p) is not None or spec_example(p.get("schema") or {}) is not None or (
            isinstance(p.get("schema"), dict) and "default" in p["schema"])
        if not required and not has_own_value:
            continue  # optional, and the spec gives no value: the service's own default applies
        if where == "path":
            marker = literal("{" + pname + "}")
            src = _list_source(paths, path, pname, refs, lists, prefix) if setup_get else None
            if src is not None:
                pool = _pool_name(pname, src, pool_source)
                draft.pools[pool] = PoolDraft(
                    note=f"real values for {{{pname}}}, fetched at setup from {src[2]}",
                    from_path=prefix + src[0], json_path=src[1])
                segments = [s.replace(marker, "{" + pool + "}") for s in segments]
                continue
            value, note = _param_value(p, version)
            quoted = literal(urllib.parse.quote(_to_text(value), safe=""))
            segments = [s.replace(marker, quoted) for s in segments]
            sc.note += f"; {{{pname}}} = {_to_text(value)!r}: {note}"
        elif where == "query":
            value, note = _param_value(p, version)
            if isinstance(value, list):  # form style, exploded: one item is a valid list
                value, note = (value[0] if value else ""), note + ", one item"
            if isinstance(value, dict) and p.get("style", "form") == "form" and p.get("explode", True):
                for k, v in value.items():
                    sc.query[str(k)] = (literal(_to_text(v)), f"{pname}: {note}")
                continue
            sc.query[pname] = (literal(_to_text(value)), note + ("" if required else ", optional"))
        elif where == "header" and pname.lower() not in _IGNORED_HEADERS:
            value, note = _param_value(p, version)
            sc.headers[pname] = (literal(_to_text(value)), note)
        elif where == "cookie":
            value, _ = _param_value(p, version)
            cookies.append(f"{pname}={_to_text(value)}")
    if cookies:
        sc.headers["Cookie"] = (literal("; ".join(cookies)), "cookie parameters of the spec")
    sc.headers.update(_security_headers(doc, op, refs))
    sc.path = "/".join(segments) or "/"
    if method in ("post", "put", "patch") or op.get("requestBody"):
        body = op.get("requestBody") or {}
        media = (body.get("content") or {}).get("application/json")
        if media is None and body.get("required"):
            raise NoValue(f"the request body is not JSON ({', '.join(body.get('content') or {}) or 'no content'})")
        if media is not None:
            ex = spec_example(media)
            sc.json_body, sc.body_note = ex if ex is not None else generate(
                media.get("schema") or {}, name="body", version=version)
    return sc


def _pool_name(param: str, src: tuple[str, str, str], taken: dict[str, tuple[str, str]]) -> str:
    """One pool per (collection, field); the parameter's name when it is free."""
    base = re.sub(r"\W+", "_", param).strip("_") or "id"
    base = base if not base[0].isdigit() else "p_" + base
    name, n = base, 2
    while name in taken and taken[name] != src[:2]:
        name, n = f"{base}_{n}", n + 1
    taken[name] = src[:2]
    return name
