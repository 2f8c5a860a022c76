"""What the capacity stage's answer means for the night's verdict (docs/METHOD.md §10): capacity is judged like
every other finding, never left silent.

- `no_capacity` (no rate meets the SLOs, down to the lowest it tried): a breach, "no rate up to R req/s meets SLO";
- `budget`, `generator_bound`, `failed` (the search was cut short): the capacity part is inconclusive, said in the
  verdict's reasons (the rest of the night is judged as usual);
- `found`, `max_rate` (the capacity is at least the plan's `max_rate`), `interrupted` (the night is aborted):
  nothing to add."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["CapacityFinding", "capacity_finding"]

CapacityFinding = tuple[Literal["breach", "inconclusive"], str]
INCONCLUSIVE = {"budget": "cut short by its budget", "generator_bound": "cut short by the generator",
                "failed": "failed"}


def _fmt(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:g}"


def capacity_finding(block: Mapping[str, Any] | None) -> CapacityFinding | None:
    """The capacity stage's contribution to the verdict, or None when it has none (no stage, or an answer)."""
    if not block:
        return None
    outcome = block.get("outcome")
    if outcome == "no_capacity":
        rates = [float(s["rate"]) for s in block.get("steps") or [] if isinstance(s, Mapping) and s.get("rate")]
        slos = block.get("binding_slo") or " and ".join(str(s) for s in block.get("slos") or []) or "the SLOs"
        upto = f"up to {_fmt(max(rates))} req/s " if rates else ""
        return "breach", f"capacity breached: no rate {upto}meets {slos} ({block.get('reason', '')})"
    if outcome in INCONCLUSIVE:
        return "inconclusive", (f"capacity inconclusive: the search was {INCONCLUSIVE[outcome]}, so tonight has no "
                                f"capacity figure ({block.get('reason', '')})")
    return None
