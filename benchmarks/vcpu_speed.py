"""How steady is one core of this machine? The capacity benchmark's CPU-cost server assumes a fixed CPU cost per
request; this measures whether the core gives one.

    taskset -c 1 nice -n -5 .venv/bin/python benchmarks/vcpu_speed.py [--rounds 3] [--json FILE]

The work is the capacity server's own (`capacity_server.burn(2000)`: 2000 chained SHA-256), timed 1,500 times in a
row per setting: back to back (the core never idles, as under wrk at saturation), and with a sleep of 0.2, 0.5, 1
and 2 ms between calls (the core idles between requests, as under a paced load below saturation). Each round runs
every setting once, back to back first and last; the rounds show how the core's speed moves over minutes. Prints a
table and writes the raw medians to --json."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capacity_server import burn

GAPS_MS = (0.0, 0.2, 0.5, 1.0, 2.0, 0.0)
CALLS = 1500


def timed(gap_ms: float) -> float:
    """Median milliseconds of one burn(2000), with gap_ms of sleep between calls."""
    ts = []
    for _ in range(CALLS):
        t = time.perf_counter()
        burn(2000)
        ts.append(time.perf_counter() - t)
        if gap_ms:
            time.sleep(gap_ms / 1000)
    return statistics.median(ts) * 1000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", default=None)
    ns = p.parse_args()
    rounds = []
    for r in range(ns.rounds):
        row = {"at": datetime.now(UTC).isoformat(timespec="seconds"),
               "median_ms": [round(timed(g), 3) for g in GAPS_MS]}
        rounds.append(row)
        print(f"round {r + 1} ({row['at']}): " + ", ".join(
            f"gap {g:g} ms {m:.3f}" for g, m in zip(GAPS_MS, row["median_ms"], strict=True)), flush=True)
    if ns.json:
        Path(ns.json).write_text(json.dumps({"gaps_ms": GAPS_MS, "calls": CALLS, "rounds": rounds}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
