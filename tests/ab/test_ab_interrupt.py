"""SIGINT during `loadwatch ab`: the round in progress stops, the builds it started are stopped, exit 130."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

SERVER = Path(__file__).with_name("ab_server.py")


def test_sigint_during_a_round_exits_130_and_stops_the_builds(tmp_path):
    plan = tmp_path / "p.yaml"
    plan.write_text("name: intr\ntarget: {health_path: /health}\nload: {model: open, rate: 50, duration: 10}\n"
                    "scenarios:\n  - {name: items, path: /items}\n")
    cmd = f"{sys.executable} {SERVER} --port {{port}} --delay-ms 2.0417"  # a delay no other test uses: found below
    proc = subprocess.Popen([sys.executable, "-m", "loadwatch", "ab", "--plan", str(plan), "--baseline-cmd", cmd,
                             "--aa", "--round", "30", "--budget", "600"], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # bounded: the command prints this line within its start-up, or exits
        seen.append(line)
        if "warm-up round" in line:
            break
    time.sleep(2.0)  # inside the 30 s round (not an assertion on time: only where the signal lands)
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 130, "".join(seen) + rest
    assert "interrupted" in rest
    starts = [ln for ln in seen if "starting build" in ln]
    assert len(starts) == 2
    # both builds were started in their own process groups and stopped with them: nothing still listens
    out = subprocess.run(["pgrep", "-f", "--", "delay-ms 2.0417"], capture_output=True, text=True)
    assert out.returncode == 1 and out.stdout.strip() == "", out  # 1: no process matched (2 would be an error)
