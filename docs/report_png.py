"""Make docs/report.png, the README's picture of the report, from the demo's report.

    make demo && .venv/bin/python docs/report_png.py demo-report.html docs/report.png

Headless Chromium (Debian's `chromium`, or DESKPULSE_CHROMIUM) driven by Playwright (a dev
dependency), as tests/sync/test_report_browser.py opens the report: the top of the page at
1120 x 1500 CSS pixels (the headline, the trends and the start of the breakdowns).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

WIDTH, HEIGHT = 1120, 1500


def main(report: Path, out: Path) -> None:
    chromium = os.environ.get("DESKPULSE_CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            tab.goto(report.resolve().as_uri(), wait_until="load")
            tab.screenshot(path=str(out))
        finally:
            browser.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
