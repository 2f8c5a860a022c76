"""The raw result files benchmarks write (benchmarks/summary.py builds BENCHMARKS.md's table from them)."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """What the figures were measured on (the summary names it)."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")
    return {"cores": os.cpu_count(), "model": model, "python": platform.python_version(),
            "loadavg": list(os.getloadavg())}


def header() -> dict[str, Any]:
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
            "machine": machine()}


def write(path: str | Path, data: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps({**header(), **data}, indent=1) + "\n")
