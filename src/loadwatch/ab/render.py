"""An A/B session's result as JSON (`--json`), Markdown (the terminal, a CI job summary) and a standalone HTML page
drawing both builds side by side: each pair's value of A and of B, and the paired interval against the floor."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jinja2

from loadwatch.ab.bisect import Bisection, Commit
from loadwatch.ab.session import AbResult
from loadwatch.stats.paired import Row

__all__ = ["bisection_json", "bisection_markdown", "to_html", "to_json", "to_markdown"]

VERDICT_WORDS = {
    "regression": "regression",
    "improvement": "improvement",
    "no_change": "no change beyond the floor",
    "inconclusive": "inconclusive",
    "not_judged": "not judged",
}
OVERALL_WORDS = {"regression": "REGRESSION", "no_regression": "NO REGRESSION", "inconclusive": "INCONCLUSIVE"}


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def to_json(result: AbResult) -> dict[str, Any]:
    """Everything measured: settings, every round (with its histograms), every look, every row. Unbounded interval
    ends are null; intervals are in percent (B relative to A) next to the log ratios."""
    rows = []
    for r in result.rows:
        d = dataclasses.asdict(r)
        for key in ("paired", "pooled"):
            iv = getattr(r, key)
            if iv is None:
                continue
            est, lo, hi = iv.percent()
            d[key] = {"log_ratio": _finite(iv.estimate), "log_low": _finite(iv.low), "log_high": _finite(iv.high),
                      "percent": _finite(est), "percent_low": _finite(lo), "percent_high": _finite(hi)}
        rows.append(d)
    return {
        "verdict": result.verdict,
        "exit_code": result.exit_code,
        "mode": "aa" if result.aa else "ab",
        "plan": result.plan,
        "baseline": result.baseline,
        "candidate": result.candidate,
        "settings": dataclasses.asdict(result.settings),
        "planned_pairs": result.planned_pairs,
        "pairs": len(result.rounds) // 2,
        "stopped_early": result.stopped_early,
        "elapsed_s": result.elapsed_s,
        "warnings": result.warnings,
        "looks": [dataclasses.asdict(lk) for lk in result.looks],
        "rows": rows,
        "false_alarms": _false_alarms(result) if result.aa else None,
        "rounds": [dataclasses.asdict(rd) for rd in result.rounds],
    }


def _false_alarms(result: AbResult) -> dict[str, Any]:
    judged = [r for r in result.rows if r.verdict != "not_judged"]
    flagged = [f"{r.scenario} {r.percentile}" for r in judged if r.verdict in ("regression", "improvement")]
    return {"rows_judged": len(judged), "rows_flagged": flagged, "nominal_rate": result.settings.stats.alpha}


def _pct(v: float | None, *, sign: bool = True) -> str:
    if v is None or not math.isfinite(v):
        return "unbounded" if v is not None else "–"
    return f"{v:+.1f} %" if sign else f"{v:.1f} %"


def _cells(r: Row) -> dict[str, str]:
    out = {"a": "–", "b": "–", "change": "–", "interval": "–", "pooled": "–", "mde": "–"}
    if r.pooled_ms is not None:
        out["a"], out["b"] = f"{r.pooled_ms[0]:.3f}", f"{r.pooled_ms[1]:.3f}"
    if r.paired is not None:
        est, lo, hi = r.paired.percent()
        out["change"] = _pct(est)
        out["interval"] = f"{_pct(lo)} … {_pct(hi)}" if math.isfinite(lo) else "unbounded (too few pairs)"
    if r.pooled is not None:
        _, lo, hi = r.pooled.percent()
        out["pooled"] = f"{_pct(lo)} … {_pct(hi)}"
    if r.min_detectable is not None:
        out["mde"] = _pct(100.0 * r.min_detectable, sign=False)
    return out


def _headline(result: AbResult) -> str:
    pairs = len(result.rounds) // 2
    how = f"stopped early at look {len(result.looks)}" if result.stopped_early else "budget used"
    what = "A/A (the same build twice)" if result.aa else "A/B"
    return (f"**{OVERALL_WORDS[result.verdict]}** — {what}, {pairs} pair(s) of rounds in {result.elapsed_s:g} s "
            f"(planned {result.planned_pairs}, {how}); false-alarm rate held at "
            f"{100 * result.settings.stats.alpha:g} % over every row and look")


def to_markdown(result: AbResult) -> str:
    s = result.settings
    lines = [
        f"# loadwatch ab: {result.plan}",
        "",
        f"baseline (A) {result.baseline} · candidate (B) {result.candidate} · rounds of {s.round_s:g} s after "
        f"{s.settle_s:g} s settle, ABBA order",
        "",
        _headline(result),
        "",
        "| scenario | pct | A ms | B ms | change B/A | interval | pooled histograms | can see | floor | verdict |",
        "|---|---|---:|---:|---:|---|---|---:|---:|---|",
    ]
    for r in result.rows:
        c = _cells(r)
        why = f" ({r.reason})" if r.reason else ""
        floor = "+0.5 pt, ×1.5" if r.percentile == "error_rate" else f"{100 * r.floor:g} %"
        lines.append(f"| {r.scenario} | {r.percentile} | {c['a']} | {c['b']} | {c['change']} | {c['interval']} | "
                     f"{c['pooled']} | {c['mde']} | {floor} | {VERDICT_WORDS[r.verdict]}{why} |")
    if result.aa:
        fa = _false_alarms(result)
        lines += ["", f"A/A: {len(fa['rows_flagged'])} of {fa['rows_judged']} judged row(s) flagged "
                      f"({', '.join(fa['rows_flagged']) or 'none'}); nominal rate {100 * fa['nominal_rate']:g} %."]
    lines += ["", "A ms / B ms: each build's percentile over all its rounds. Interval: the Hodges–Lehmann paired "
                  "interval over adjacent rounds at this row's level. can see: its half-width."]
    lines += [f"- warning: {w}" for w in result.warnings]
    return "\n".join(lines) + "\n"


def _svg_points(r: Row, width: int = 260, height: int = 70) -> dict[str, Any]:
    """Pixel positions of each pair's A and B values (x: pair, y: ms) for the template."""
    values = list(r.ms_a) + list(r.ms_b)
    if not values:
        return {"a": [], "b": [], "width": width, "height": height, "lo": 0.0, "hi": 0.0}
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    n = len(r.ms_a)

    def xy(k: int, v: float, dx: float) -> tuple[float, float]:
        x = 10 + (width - 20) * ((k + 0.5) / n) + dx
        return round(x, 1), round(height - 8 - (height - 16) * (v - lo) / span, 1)

    return {"a": [xy(k, v, -3) for k, v in enumerate(r.ms_a)], "b": [xy(k, v, 3) for k, v in enumerate(r.ms_b)],
            "width": width, "height": height, "lo": lo, "hi": hi}


def _svg_interval(r: Row, width: int = 220) -> dict[str, Any] | None:
    """The interval and the floors on a percent axis symmetric around 0."""
    if r.paired is None or not math.isfinite(r.paired.low):
        return None
    est, lo, hi = r.paired.percent()
    reach = max(abs(lo), abs(hi), 100 * r.floor) * 1.2

    def x(v: float) -> float:
        return round(width / 2 + (width / 2 - 5) * v / reach, 1)

    return {"lo": x(lo), "hi": x(hi), "est": x(est), "zero": x(0.0), "f_lo": x(-100 * r.floor),
            "f_hi": x(100 * r.floor), "width": width}


def to_html(result: AbResult) -> str:
    env = jinja2.Environment(loader=jinja2.PackageLoader("loadwatch.templates", "."), autoescape=True)
    rows = [{"r": r, "c": _cells(r), "word": VERDICT_WORDS[r.verdict], "pts": _svg_points(r), "iv": _svg_interval(r)}
            for r in result.rows]
    return env.get_template("ab.html.j2").render(
        res=result, rows=rows, headline=_headline(result).replace("**", ""),
        false_alarms=_false_alarms(result) if result.aa else None)


def _commit(c: Commit) -> dict[str, str]:
    return {"sha": c.sha, "subject": c.subject}


def bisection_json(b: Bisection) -> dict[str, Any]:
    """The bisection: its answer, the culprit's own session, every step (each a whole A/B session) and the builds."""
    return {
        "verdict": b.verdict,
        "exit_code": b.exit_code,
        "reason": b.reason,
        "good": _commit(b.good),
        "bad": _commit(b.bad),
        "commits": [_commit(c) for c in b.commits],
        "culprit": _commit(b.culprit) if b.culprit and b.verdict == "found" else None,
        "culprit_change": to_json(b.culprit_step.result)["rows"] if b.culprit_step and b.verdict == "found" else None,
        "builds": b.builds,
        "steps": [{"baseline": _commit(s.baseline), "candidate": _commit(s.candidate), "result": to_json(s.result)}
                  for s in b.steps],
    }


def bisection_markdown(b: Bisection) -> str:
    lines = [f"# loadwatch bisect: {b.good.sha[:12]}..{b.bad.sha[:12]} ({len(b.commits)} commit(s))", ""]
    if b.verdict == "found" and b.culprit is not None and b.culprit_step is not None:
        lines.append(f"**FOUND** {b.culprit.sha[:12]} {b.culprit.subject}")
        lines.append("")
        lines.append(f"its change against its parent {b.culprit_step.baseline.sha[:12]}:")
        lines.append("")
        for r in b.culprit_step.result.rows:
            if r.verdict == "not_judged":
                continue
            c = _cells(r)
            lines.append(f"- {r.scenario} {r.percentile}: {c['a']} → {c['b']} ms, {c['change']} "
                         f"({c['interval']}): {VERDICT_WORDS[r.verdict]}")
    else:
        lines.append(f"**{'NO REGRESSION' if b.verdict == 'no_regression' else 'INCONCLUSIVE'}** — {b.reason}")
    lines += ["", "| step | baseline | candidate | pairs | verdict |", "|---:|---|---|---:|---|"]
    for k, s in enumerate(b.steps, 1):
        lines.append(f"| {k} | {s.baseline.sha[:12]} | {s.candidate.sha[:12]} {s.candidate.subject} | "
                     f"{len(s.result.rounds) // 2} | {s.result.verdict.replace('_', ' ')} |")
    lines += ["", f"{len(b.builds)} build(s), each commit built once."]
    return "\n".join(lines) + "\n"
