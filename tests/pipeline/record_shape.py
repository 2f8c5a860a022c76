"""The shape of a summary.json: its keys and JSON value types, recursively.

Keys that are data rather than names (scenario names, error kinds, statement ids, metric groups keyed by
host or window) are folded into one `<NAME>` key whose shape is the union of theirs, and a list's items into one
`[]` entry, so two runs of the same code have the same shape whatever they measured. A value that is null in one
place and a number in another is written `null|number`; an empty list or object matches any items."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# objects whose keys are data: the path (dot-joined, lists as []) of the object -> the placeholder of its keys
VARIABLE_KEYS = {
    "load.scenarios": "<scenario>",
    "load.errors_by_kind": "<error_kind>",
    "load.status_classes": "<status_class>",
    "load.scenarios.<scenario>.errors_by_kind": "<error_kind>",
    "load.scenarios.<scenario>.status_classes": "<status_class>",
    # the target's own counters (its stats endpoint) and the database's, before/after/diffed
    "target_stats.pre": "<counter>",
    "target_stats.post": "<counter>",
    "target_stats.delta": "<counter>",
    "target_stats.resets": "<counter>",
    "target_stats.gauges": "<counter>",
    "target_stats.database.pre": "<counter>",
    "target_stats.database.post": "<counter>",
    "target_stats.database.delta": "<counter>",
    "target_stats.database.resets": "<counter>",
    "target_stats.database.gauges": "<counter>",
    "attribution.statements": "<queryid>",
    "attribution.owners": "<queryid>",
    "attribution.owners.<queryid>.coefficients": "<scenario>",
    # the top statements' calls and the scenarios' requests in every monitor interval (whose statement is it)
    "resources.database.statement_intervals.calls": "<queryid>",
    "resources.database.statement_intervals.requests": "<scenario>",
    "environment.packages": "<package>",
    "revision.source": "<field>",  # which of version/commit/branch a source gave
}


# kinds the contract allows that the sampled runs did not all show: a run outside Prefect has no flow run id, and
# the sampled runs had no notes (`--notes` is free text or nothing)
DECLARED = {
    "flow_run_id": "null|string",
    "notes": "null|string",
    # loadwatch.observe.contention.assess: unmeasured ratios and the reason of a quiet machine are null
    "target_stats.contention.target_wait_share": "null|number",
    "target_stats.contention.target_wait_to_cpu": "null|number",
    "target_stats.contention.reason": "null|string",
}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"  # json has one number type; 0 and 0.0 are the same value to every reader
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _merge(a: Any, b: Any) -> Any:
    """The union of two shapes; an object's key that only one side has is listed under "?" (optional)."""
    if a == b:
        return a
    kinds = "|".join(sorted(set(_flat(a)) | set(_flat(b))))
    ca, cb = _children(a), _children(b)
    optional = set(_optional(a)) | set(_optional(b)) | (ca.keys() ^ cb.keys() if ca and cb else set())
    out: dict[str, Any] = {"$": kinds}
    if optional - {"[]"}:
        out["?"] = sorted(optional - {"[]"})
    for k in sorted(ca.keys() | cb.keys()):
        out[k] = _merge(ca[k], cb[k]) if k in ca and k in cb else ca.get(k, cb.get(k))
    return out


def merge_all(shapes: list[Any]) -> Any:
    merged = shapes[0]
    for s in shapes[1:]:
        merged = _merge(merged, s)
    return merged


def _flat(shape: Any) -> list[str]:
    return shape.split("|") if isinstance(shape, str) else str(shape.get("$", "")).split("|")


def _optional(shape: Any) -> list[str]:
    return list(shape.get("?", [])) if isinstance(shape, dict) else []


def _children(shape: Any) -> dict[str, Any]:
    return {k: v for k, v in shape.items() if k not in ("$", "?")} if isinstance(shape, dict) else {}


def shape_of(value: Any, path: str = "") -> Any:
    """A JSON-able description of a value's shape: "string", "number", ..., or for an object or a list a dict of its
    kind under "$" and its members' shapes."""
    kind = _kind(value)
    if kind == "list":
        out: dict[str, Any] = {"$": "list"}
        items = [shape_of(v, f"{path}.[]".lstrip(".")) for v in value]
        if items:
            out["[]"] = merge_all(items)
        return out
    if kind == "object":
        placeholder = VARIABLE_KEYS.get(path)
        out = {"$": "object"}
        for key, v in value.items():
            name = placeholder or str(key)
            child = shape_of(v, f"{path}.{name}".lstrip("."))
            out[name] = _merge(out[name], child) if name in out else child
        return out
    return kind


def differences(golden: Any, actual: Any, path: str = "") -> list[str]:
    """Where a summary's shape leaves the golden one: a kind or a key the golden shape does not have, or a key it
    always has that is missing. An empty list or object matches any items."""
    where = path or "."
    out = [f"{where}: {k} is not a kind the golden shape has ({'|'.join(_flat(golden))})"
           for k in _flat(actual) if k not in _flat(golden)]
    g, a = _children(golden), _children(actual)
    if not g or not a:
        return out
    if "[]" in g or "[]" in a:
        return out + (differences(g["[]"], a["[]"], f"{path}.[]") if "[]" in g and "[]" in a else [])
    out += [f"{path}.{k}: missing" for k in sorted(g.keys() - a.keys()) if k not in _optional(golden)]
    out += [f"{path}.{k}: not in the golden shape" for k in sorted(a.keys() - g.keys())]
    for k in sorted(g.keys() & a.keys()):
        out.extend(differences(g[k], a[k], f"{path}.{k}"))
    return out


def main(argv: list[str]) -> None:
    """`python tests/pipeline/record_shape.py OUT.json SUMMARY.json...`: the union of the summaries' shapes."""
    import json
    from pathlib import Path

    out, *files = argv
    shapes = [shape_of(json.loads(Path(f).read_text())) for f in files]
    golden = merge_all(shapes)
    for path, kinds in DECLARED.items():
        *parents, key = path.split(".")
        node = golden
        for part in parents:
            node = node[part]
        node[key] = _merge(node[key], kinds)
    Path(out).write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
