"""Recorded traffic (a HAR file, an access log) -> a plan: one scenario per (method, templated path), weighted by
how often it was requested, identifiers in paths turned into data pools of the recorded values.

Which path segments are identifiers: a segment that looks like one on its own (digits, a UUID, a long hex or
mixed token) always is; otherwise a position is an identifier when the requests that agree on every other segment
show at least `MIN_DISTINCT` different values there (`/tools/netscan`, `/tools/dig`, ... -> `/tools/{tool}`).
The limit of that rule, written in docs/init.md: a fixed sibling of an identifier (`/tools/health` next to
`/tools/{tool}`) is folded into the template, which still sends requests that exist and keeps the weights right."""

from __future__ import annotations

import re
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadwatch.plangen.draft import (
    Filters,
    PlanDraft,
    PoolDraft,
    ScenarioDraft,
    literal,
    recorded_thresholds,
    scenario_name,
    unique_name,
)

__all__ = ["MIN_DISTINCT", "Recorded", "build_draft", "template_paths"]

MIN_DISTINCT = 4
MAX_POOL_VALUES = 1000  # the plan model's default pool limit
_ID_LIKE = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{16,}|(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{20,})$"
)
_EXTRACTED = re.compile(r"(?<!\{)\{[A-Za-z_]")  # a `{name}` the session fills (literal braces are doubled)
_VAR = "\x00"  # marks a templated position while grouping


@dataclass(slots=True)  # one per line of a log: kept small
class Recorded:
    """One recorded request (and the status it got)."""

    method: str
    path: str  # raw, percent-encoded as sent, without the query
    query: list[tuple[str, str]]  # decoded
    status: int
    where: str  # "entries[3]", "line 12": for notes
    headers: dict[str, str] = field(default_factory=dict)  # only the ones worth keeping (already redacted)
    json_body: Any = None
    time: float | None = None  # epoch seconds
    duration_ms: float | None = None  # how long the answer took, when the recording says (HAR `time`)

    json_template: bool = False  # the JSON body's strings are in the plan's template syntax (a session's values)
    query_templates: frozenset[str] = frozenset()  # query names whose value is a session's value, as a template


def _segments(path: str) -> list[str]:
    return path.split("/")[1:]


def template_paths(paths: Iterable[str]) -> dict[str, list[bool]]:
    """For each distinct path, which of its segments are identifiers."""
    distinct = sorted(set(paths))
    segs = {p: _segments(p) for p in distinct}
    var = {p: [bool(_ID_LIKE.match(urllib.parse.unquote(s))) for s in segs[p]] for p in distinct}
    for _ in range(max((len(s) for s in segs.values()), default=0)):  # each pass can only add: bounded
        changed = False
        by_len: dict[int, list[str]] = defaultdict(list)
        for p in distinct:
            by_len[len(segs[p])].append(p)
        for n, group in by_len.items():
            for i in range(n):
                values: dict[tuple[str, ...], set[str]] = defaultdict(set)
                for p in group:
                    key = tuple(_VAR if var[p][j] else s for j, s in enumerate(segs[p]) if j != i)
                    values[key].add(segs[p][i])
                for p in group:
                    key = tuple(_VAR if var[p][j] else s for j, s in enumerate(segs[p]) if j != i)
                    if not var[p][i] and segs[p][i] and len(values[key]) >= MIN_DISTINCT:
                        var[p][i] = True
                        changed = True
        if not changed:
            break
    return var


def _pool_stem(prev: str) -> str:
    word = re.sub(r"[^A-Za-z0-9]+", "_", prev).strip("_").lower()
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-1]
    if not word or word[0].isdigit() or word in ("_", "api"):
        return "id"
    return word


def _fresh(stem: str, pools: dict[str, list[str]]) -> str:
    name, n = stem, 2
    while name in pools:
        name, n = f"{stem}_{n}", n + 1
    return name


def build_draft(
    records: Sequence[Recorded],
    *,
    source: str,
    name: str,
    base_url: str,
    base_note: str,
    filters: Filters,
    left_out: list[str],
) -> PlanDraft:
    kept: list[Recorded] = []
    filtered: dict[str, list[Recorded]] = defaultdict(list)
    for r in records:
        why = filters.reason_to_skip(r.method, r.path)
        if why:
            filtered[why].append(r)
        else:
            kept.append(r)
    for why, rs in filtered.items():  # one line per reason: a log has millions of lines
        first = rs[0]
        left_out.append(f"{len(rs)} request(s), {why}: e.g. {first.method} {first.path} ({first.where})")
    idvar = template_paths(r.path for r in kept)
    # group by (method, templated path)
    groups: dict[tuple[str, str], list[Recorded]] = defaultdict(list)
    templ_of: dict[str, list[tuple[int, str]]] = {}  # path -> [(segment index, pool stem)]
    for p, flags in idvar.items():
        segs = _segments(p)
        templ_of[p] = [(i, _pool_stem(segs[i - 1]) if i else "id") for i, f in enumerate(flags) if f]
    for r in kept:
        segs = _segments(r.path)
        for i, stem in templ_of[r.path]:
            segs[i] = _VAR + stem
        groups[(r.method, "/" + "/".join(segs))].append(r)

    draft = PlanDraft(name=name, source=source, base_url=base_url, base_note=base_note, left_out=left_out)
    pool_values: dict[str, list[str]] = {}
    pool_notes: dict[str, list[str]] = defaultdict(list)
    query_pools: set[str] = set()
    taken: set[str] = set()
    for (method, key), reqs in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        ok = [r for r in reqs if 200 <= r.status < 400]
        if not ok:  # a route that never answered 2xx/3xx would only add errors to every run
            statuses = ", ".join(f"{s}x{n}" for s, n in Counter(r.status for r in reqs).most_common(3))
            left_out.append(f"{method} {r_path(key)}: never answered 2xx/3xx "
                            f"in the recording ({len(reqs)} request(s), status {statuses})")
            continue
        segs = key.split("/")
        names_in_path: set[str] = set()
        for i, seg in enumerate(segs):
            if not seg.startswith(_VAR):
                segs[i] = literal(seg)
                continue
            values = list(dict.fromkeys(urllib.parse.unquote(_segments(r.path)[i - 1]) for r in ok))
            # one pool per resource (the segment before the identifier), shared by every path that names it;
            # two identifiers of one path under the same name get two pools: /a/{id}/b/{id}
            pname = seg[1:]
            n = 2
            while pname in names_in_path or pname in query_pools:
                pname, n = f"{seg[1:]}_{n}", n + 1
            names_in_path.add(pname)
            merged = pool_values.setdefault(pname, [])
            merged += [v for v in values if v not in merged]
            pool_notes[pname].append(f"{method} {r_path(key)}")
            segs[i] = "{" + pname + "}"
        path = "/".join(segs)
        sc = ScenarioDraft(
            name=unique_name(scenario_name(method, r_path(key)), taken),
            method=method,
            path=path,
            note=f"{method} {r_path(key)}: {len(reqs)} recorded, first at {reqs[0].where}",
            weight=len(reqs),
        )
        _query(sc, ok, pool_values, pool_notes, query_pools)
        example = ok[0]
        for h, v in example.headers.items():
            sc.headers[h] = (v, "redacted: set this environment variable before the run" if "${" in v else
                             "extracted by the session's login" if _EXTRACTED.search(v) else
                             f"as recorded ({example.where})")
        if method not in ("GET", "HEAD") and example.json_body is not None:
            sc.json_body, sc.json_template = example.json_body, example.json_template
            sc.body_note = f"the body recorded at {example.where}"
        draft.scenarios.append(sc)
    for pname, values in pool_values.items():
        note = f"{len(values)} distinct value(s) recorded in " + ", ".join(pool_notes[pname])
        if len(values) > MAX_POOL_VALUES:
            note += f", the first {MAX_POOL_VALUES} kept"
        draft.pools[pname] = PoolDraft(note=note, values=values[:MAX_POOL_VALUES])
    sent = sum(sc.weight for sc in draft.scenarios)
    for sc in draft.scenarios:  # the share is of what the plan sends: routes left out are not in the mix
        sc.weight_note = f"requests recorded: {100.0 * sc.weight / sent:.2f} % of the {sent:g} in this plan's mix"
    draft.thresholds = recorded_thresholds(
        [r.duration_ms for r in records if r.duration_ms is not None and 200 <= r.status < 400])
    return draft


def r_path(key: str) -> str:
    """A grouping key back to a readable template: `/tools/\\x00tool` -> `/tools/{tool}`."""
    return "/".join("{" + s[1:] + "}" if s.startswith(_VAR) else s for s in key.split("/"))


def _query(sc: ScenarioDraft, reqs: list[Recorded], pool_values: dict[str, list[str]],
           pool_notes: dict[str, list[str]], query_pools: set[str]) -> None:
    """The most common set of query parameter names; a value seen once stays literal, several become a pool."""
    shapes = Counter(tuple(sorted({k for k, _ in r.query})) for r in reqs)
    shape, count = shapes.most_common(1)[0]
    same = [r for r in reqs if tuple(sorted({k for k, _ in r.query})) == shape]
    extra = f"; {len(shapes) - 1} other combination(s) of parameters recorded" if len(shapes) > 1 else ""
    for k in shape:
        values = list(dict.fromkeys(next(v for kk, v in r.query if kk == k) for r in same))
        if k in same[0].query_templates:  # a value the session extracts: each session sends its own
            sc.query[k] = (values[0], "extracted by the session's login")
            continue
        if len(values) == 1:
            sc.query[k] = (literal(values[0]), f"the one value recorded ({count} of {len(reqs)} requests{extra})")
            continue
        stem = re.sub(r"[^A-Za-z0-9]+", "_", k).strip("_").lower() or "q"
        stem = stem if not stem[0].isdigit() else "q_" + stem
        # a pool of its own: the same parameter name on another route may allow other values
        pname = next((p for p, vs in pool_values.items() if vs == values), None) or _fresh(stem, pool_values)
        pool_values[pname] = values
        query_pools.add(pname)
        pool_notes[pname].append(f"?{k}= of {sc.method} {sc.path}")
        sc.query[k] = ("{" + pname + "}", f"{len(values)} recorded values ({count} of {len(reqs)} requests{extra})")
