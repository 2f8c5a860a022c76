"""Values a write created (the id a POST answered) and later requests sent -> journeys (`steps:`), so each run
uses what its own write created instead of the recorded value, which is gone on replay.

A later request is linked to the answer of an earlier POST/PUT/PATCH/DELETE that holds a value it sent (in its
path, a header, the query, a form or a JSON string; at least `MIN_VALUE_LEN` characters; an answer that only echoes
what its own request sent is not the origin). The requests linked together form one recorded journey; journeys of
the same shape (the same steps, method and templated path) are one scenario weighted by how many were recorded.
Values read from GET answers are not linked: they exist on replay, and stay pools of the recorded values."""

from __future__ import annotations

import bisect
import copy
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loadwatch.plangen.correlate import MIN_VALUE_LEN, Exchange, locate, plan_name
from loadwatch.plangen.draft import Filters, ScenarioDraft, literal, scenario_name, unique_name

__all__ = ["Journeys", "find_journeys"]

MAX_STEPS = 20  # a longer chain is a whole recorded visit, not a journey: its requests stay scenarios
_WRITES = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Journeys:
    scenarios: list[ScenarioDraft] = field(default_factory=list)
    used: set[int] = field(default_factory=set)  # entry indexes now in a journey (left out of the scenarios)
    correlations: list[str] = field(default_factory=list)


def _links(exchanges: list[Exchange]) -> list[tuple[int, int, str, dict[str, str]]]:
    """(producer position, consumer position, value, extraction) for each value a write's answer created."""
    links = []
    first_sent: dict[str, int] = {}
    for c, x in enumerate(exchanges):
        for v in x.sent_values():
            first_sent.setdefault(v, c)
    writes = [p for p, x in enumerate(exchanges) if x.method in _WRITES]
    origin: dict[str, tuple[int, dict[str, str]] | None] = {}  # value -> the write whose answer created it
    for c, x in enumerate(exchanges):
        for value in dict.fromkeys(v for v in x.sent_values() if len(v) >= MIN_VALUE_LEN):
            if value not in origin:
                origin[value] = None
                # an answer before the first request that sent the value (else it was an echo, or a constant)
                for p in reversed(writes[:bisect.bisect_left(writes, first_sent[value])]):
                    spec = locate(value, exchanges[p])
                    if spec is not None:
                        origin[value] = (p, spec)
                        break
            found = origin[value]
            if found is not None:
                links.append((found[0], c, value, found[1]))
    return links


def _components(n: int, links: list[tuple[int, int, str, dict[str, str]]]) -> list[list[int]]:
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for p, c, _, _ in links:
        parent[root(c)] = root(p)
    groups: dict[int, list[int]] = defaultdict(list)
    for p, c, _, _ in links:
        for i in (p, c):
            if i not in groups[root(i)]:
                groups[root(i)].append(i)
    return [sorted(g) for g in groups.values()]


def _substitute(node: Any, old: str, new: str) -> Any:
    if isinstance(node, str):
        return node.replace(old, new)
    if isinstance(node, dict):
        return {k: _substitute(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, old, new) for v in node]
    return node


def find_journeys(exchanges: list[Exchange], request_doc: Callable[[Exchange], dict[str, Any]], *,
                  filters: Filters, taken: set[str], reserved: set[str]) -> Journeys:
    """The journeys of a recording; `request_doc` gives a request in the plan's template syntax (with the
    session's values already templated), `taken` the scenario names in use, `reserved` the value names in use."""
    out = Journeys()
    links = _links(exchanges)
    by_consumer: dict[int, list[tuple[int, str, dict[str, str]]]] = defaultdict(list)
    for p, c, value, spec in links:
        by_consumer[c].append((p, value, spec))
    shapes: dict[tuple[tuple[str, str], ...], list[list[dict[str, Any]]]] = defaultdict(list)
    firsts: dict[tuple[tuple[str, str], ...], str] = {}
    for comp in _components(len(exchanges), links):
        xs = [exchanges[i] for i in comp]
        if len(comp) > MAX_STEPS or any(not 200 <= x.status < 400 or filters.reason_to_skip(x.method, x.path)
                                        for x in xs):
            continue  # a journey that failed, or with a method not allowed: its requests stay what they were
        steps = [copy.deepcopy(request_doc(x)) for x in xs]
        names: set[str] = set()
        extracted: set[str] = set(reserved)
        notes: list[str] = []
        for pos, i in enumerate(comp):
            for p, value, spec in by_consumer.get(i, []):
                step = steps[comp.index(p)]
                extract = step.setdefault("extract", {})
                name = next((k for k, v in extract.items() if v == spec), None)
                if name is None:
                    name = plan_name(spec, "value", extracted)
                    extract[name] = spec
                steps[pos] = _substitute(steps[pos], literal(value), "{" + name + "}")
                notes.append(f"{{{name}}}: sent by {xs[pos].where}, created by {exchanges[p].where} "
                             f"({next(iter(spec))})")
        for st in steps:  # named from the templated path: `put_items_x_item_id`
            st["name"] = unique_name(scenario_name(st["method"], st["path"]), names)
        steps = [{"name": st.pop("name"), **st} for st in steps]
        key = tuple((st["method"], st["path"]) for st in steps)
        shapes[key].append(steps)
        firsts.setdefault(key, f"{xs[0].where}")
        if len(out.correlations) < 20:
            out.correlations += notes
        out.used.update(x.index for x in xs)
    for key, instances in shapes.items():
        steps = instances[0]
        sc = ScenarioDraft(
            name=unique_name("journey_" + "_".join(st["name"] for st in steps), taken),
            method=steps[0]["method"], path=steps[0]["path"],
            note=f"a journey: {len(instances)} recorded, first at {firsts[key]}; each step takes what the one "
                 "before it created",
            weight=len(instances), steps=steps)
        out.scenarios.append(sc)
    return out
