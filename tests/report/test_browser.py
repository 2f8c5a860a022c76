"""The report really draws in a browser: headless Chromium opens report.html from disk with no console errors,
the charts are in the DOM, and the screenshot is not blank.

Console messages are read from Chromium's own log (--enable-logging=stderr); a probe page with a deliberate
console error proves that this channel works, so "no errors" is not just silence."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from loadwatch.report import render as report

from .synthetic import make_data

pytestmark = pytest.mark.browser

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
CONSOLE = re.compile(r":CONSOLE[^\]]*\]\s*(.*)")


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.skip("no chromium binary (apt-get install -y chromium)")
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _console(stderr: str) -> list[str]:
    return [m.group(1) for m in map(CONSOLE.search, stderr.splitlines()) if m]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    return report.write_report(make_data(30, step_at=20), out)["html"]


def test_console_errors_are_observable(tmp_path: Path) -> None:
    probe = tmp_path / "probe.html"
    probe.write_text('<!doctype html><p>x</p><script>console.error("probe-7f3a"); missingFunction();</script>')
    res = _chromium(tmp_path, "--dump-dom", probe.as_uri())
    messages = _console(res.stderr)
    assert any("probe-7f3a" in m for m in messages), res.stderr[-2000:]
    assert any("missingFunction" in m for m in messages)


def test_report_draws_without_console_errors(rendered: Path, tmp_path: Path) -> None:
    res = _chromium(tmp_path, "--dump-dom", rendered.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    assert _console(res.stderr) == []
    dom = res.stdout
    assert len(re.findall(r'<svg[^>]*class="chart"', dom)) == 4  # trend, throughput, this run's timeline, spectrum
    for fig in ("chart-trend", "chart-throughput", "chart-timeline", "chart-spectrum"):
        assert f'id="{fig}"' in dom
    assert dom.count('<svg class="spark"') >= 7  # a sparkline per scenario row (six + "all")
    assert "<polyline" in dom and "<path" in dom


def test_screenshot_is_not_blank(rendered: Path, tmp_path: Path) -> None:
    from matplotlib.image import imread

    shot = tmp_path / "shot.png"
    res = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", "--hide-scrollbars", rendered.as_uri())
    assert shot.exists(), res.stderr[-2000:]
    pixels = np.asarray(imread(str(shot)))
    assert pixels.shape[:2] == (2000, 1280)
    flat = pixels.reshape(-1, pixels.shape[-1])
    colours = np.unique((flat[::7] * 255).astype(np.uint8), axis=0)
    assert len(colours) > 50, "a nearly single-colour screenshot"
    # the red verdict banner or the green/blue one is on screen: some strongly coloured pixels in the top band
    top = pixels[:400, :, :3]
    assert (top.max(axis=2) - top.min(axis=2) > 0.15).mean() > 0.01
