"""Runs Apache Otava's detector on series read as JSON from stdin; run with Otava's own interpreter.

stdin: {"window": 30, "max_pvalue": 0.001, "min_magnitude": 0.0, "series": [[float, ...], ...]}
stdout: [[index, ...], ...] (one list of change-point indexes per series)."""

from __future__ import annotations

import json
import sys

from otava.analysis import compute_change_points


def main() -> None:
    req = json.load(sys.stdin)
    out = []
    for values in req["series"]:
        cps, _ = compute_change_points(
            [float(v) for v in values],  # a plain list: 0.8.0 raises ValueError on numpy arrays
            window_len=req["window"],
            max_pvalue=req["max_pvalue"],
            min_magnitude=req["min_magnitude"],
        )
        out.append([int(c.index) for c in cps])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
