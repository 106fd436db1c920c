"""The HTML report in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.

Skipped, with the reason, when Chromium or Playwright is missing; `.ci/run` installs both, so CI
runs it. A screenshot is written to DESKPULSE_TEST_ARTIFACTS (default build/test-artifacts).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from deskpulse.sync.render import format_value
from tests.sync.test_report import JANUARY, home, invoke, page  # noqa: F401 - fixtures

CHROMIUM = (
    os.environ.get("DESKPULSE_CHROMIUM")
    or shutil.which("chromium")
    or shutil.which("chromium-browser")
)
ARTIFACTS = Path(os.environ.get("DESKPULSE_TEST_ARTIFACTS", "build/test-artifacts"))

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"
)


def test_report_renders_in_chromium(home: Path, page: str) -> None:  # noqa: F811
    path = home / "report.html"
    console_errors: list[str] = []
    outside: list[str] = []
    failed: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1200, "height": 900})
            tab.on(
                "console", lambda m: console_errors.append(m.text) if m.type == "error" else None
            )
            tab.on("pageerror", lambda e: console_errors.append(str(e)))
            tab.on("requestfailed", lambda r: failed.append(r.url))
            tab.on(
                "request",
                lambda r: (
                    outside.append(r.url) if not r.url.startswith(("file://", "data:")) else None
                ),
            )
            tab.goto(path.as_uri(), wait_until="load")
            charts = tab.locator("figure.chart svg")
            assert charts.count() >= 5
            for i in range(charts.count()):
                chart = charts.nth(i)
                box = chart.bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 50
                assert chart.locator("path").count() > 3  # axes, and the data drawn on them
            shown = {
                card.get_attribute("data-metric"): card.locator(".value").inner_text()
                for card in tab.locator(".card.kpi").all()
            }
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert console_errors == [] and failed == [] and outside == []
    result = invoke(home, "kpi", *JANUARY, "--format", "json")
    expected = {r["metric"]: r for r in json.loads(result.stdout) if r["group"] is None}
    assert shown == {m: format_value(expected[m]["value"], expected[m]["unit"]) for m in shown}
    assert shown["first_response_time"] == "53.0 min"
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
