"""`loadwatch detect`: change points over a CSV (a time column, numeric metric columns)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from loadwatch.commands.args import positive
from loadwatch.errors import EXIT_OK

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file")
    parser.add_argument("--json", help="also write the change points as JSON here")
    parser.add_argument("--window", type=positive(int), default=30)
    parser.add_argument("--p-value", type=positive(float), default=0.001)
    parser.add_argument("--magnitude", type=float, default=0.0, help="minimum relative change (0.05 = 5 %%)")


def run(ns: argparse.Namespace) -> int:
    from loadwatch.stats.csvdetect import detect_csv, format_table

    result = detect_csv(Path(ns.file), window=ns.window, max_pvalue=ns.p_value, min_magnitude=ns.magnitude)
    print(format_table(result))
    if ns.json:
        Path(ns.json).write_text(json.dumps(result, indent=2, default=str))
    return EXIT_OK
