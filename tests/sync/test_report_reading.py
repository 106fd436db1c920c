"""The report read as a support manager reads it, in headless Chromium: every rate shows its n and
the days too small to mean anything are marked, counts are drawn 0 on days without any, a team
target is not drawn across per-agent bars, a group without data says so, and the metrics without
data name what is actually missing. Skipped like test_report_browser when Chromium is absent.

The data is examples/sample (January 2026) with a team target on the backlog; numbers by hand:
CSAT answers on Jan 5, 7 and 8 (one a day), so each of January's 31 days has n 0 or 1; contacts
on 9 days (tickets on the 5th, 6th, 8th, 12th, 15th; chats on the 8th, 14th; calls on the 9th;
mentions on the 15th to 17th), so request volume is 0 on the other 22.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from deskpulse.sync.report import build_report, render_html
from deskpulse.sync.settings import Settings
from tests.sync.test_report import JANUARY, SAMPLE, invoke
from tests.sync.test_report import TARGETS as REPORT_TARGETS
from tests.sync.test_report_browser import CHROMIUM

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"
)

TARGETS = (
    REPORT_TARGETS
    + """
[[targets]]
metric = "ticket_backlog"
max = 1
"""
)
TARGET_RED = "#dc2626"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("reading")
    shutil.copytree(SAMPLE, home / "sample")
    (home / "kpi.toml").write_text(TARGETS)
    assert invoke(home, "import", str(home / "sample")).exit_code == 0
    result = invoke(home, "report", *JANUARY, "--out", str(home / "report.html"))
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture(scope="module")
def tab(home: Path) -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto((home / "report.html").as_uri(), wait_until="load")
            yield page
        finally:
            browser.close()


def figure(tab: Any, section: str, metric: str) -> Any:
    return tab.locator(f"#{section} figure.chart[data-metric='{metric}']")


def points(fig: Any) -> list[tuple[str, str, str, bool]]:
    """The chart's buckets as its table lists them: (day, value, n, marked small)."""
    rows = []
    for row in fig.locator("table.points tbody tr").all():
        day, value, n = (c.text_content() for c in row.locator("td").all())
        rows.append((day, value, n, "small" in (row.get_attribute("class") or "")))
    return rows


def test_rates_show_their_n_and_mark_days_too_small_to_read(tab: Any) -> None:
    csat = figure(tab, "trends", "csat")
    rows = points(csat)
    assert len(rows) == 31
    answered = [(day, value, n) for day, value, n, small in rows if n != "0"]
    assert answered == [("01-05", "100.0%", "1"), ("01-07", "0.0%", "1"), ("01-08", "100.0%", "1")]
    assert [r[0] for r in rows if r[3]] == ["01-05", "01-07", "01-08"]
    caption = csat.locator("figcaption").inner_text()
    assert caption == (
        "n per day: 0 to 1 (grey bars); 3 of 31 days with fewer than 5: hollow, left out of the line"
    )
    # In the chart: the three answered days are hollow markers, not points of the line.
    svg = csat.locator("svg")
    assert svg.locator("#csat-small path").count() >= 1
    assert svg.locator("#csat-line path").count() == 0 or "M" not in (
        svg.locator("#csat-line path").first.get_attribute("d") or ""
    )
    # The per-agent bars carry their n: Ben Osei's first response time is over 2 tickets.
    labels = (
        figure(tab, "breakdowns", "first_response_time").locator("svg text").all_text_contents()
    )
    assert any("Ben Osei  (n=2)" in t for t in labels)


def test_a_day_without_tickets_is_drawn_as_zero_not_a_gap(tab: Any) -> None:
    volume = figure(tab, "trends", "request_volume")
    rows = points(volume)
    assert len(rows) == 31 and rows[0][:3] == ("01-01", "0", "0")
    assert sum(1 for r in rows if r[1] == "0") == 22
    # One unbroken line over the 31 days: its path moves to its start once.
    line = volume.locator("#request_volume-line path").first.get_attribute("d") or ""
    assert line.count("M") == 1 and line.count("L") == 30


def test_a_team_target_is_not_drawn_across_the_agents(tab: Any) -> None:
    backlog = figure(tab, "breakdowns", "ticket_backlog")
    assert TARGET_RED not in backlog.locator("svg").inner_html()
    assert "Its target is the team's total" in backlog.locator("figcaption").inner_text()
    # Its table marks no agent against the team's 1, while CSAT's per-agent target stays.
    assert backlog.locator("td.met, td.missed").count() == 0
    assert TARGET_RED in figure(tab, "breakdowns", "csat").locator("svg").inner_html()
    assert TARGET_RED in figure(tab, "trends", "ticket_backlog").locator("svg").inner_html()


def test_metrics_without_data_name_what_is_missing(tab: Any) -> None:
    reasons = {
        row.get_attribute("data-metric"): row.locator("td.reason").inner_text()
        for row in tab.locator("#missing tr[data-metric]").all()
    }
    # The sample has CSAT and NPS surveys: CES lacks its survey kind, not a source.
    assert reasons["ces"] == (
        "survey_responses is synced, but holds no survey responses of survey `ces` "
        "(surveys there: csat, nps)"
    )
    assert reasons["kb_helpfulness"].startswith("no kb_articles rows yet: ")
    assert reasons["feedback_response_rate"].startswith("no reviews rows yet: ")
    # Metrics that have data are not listed; the sample's mentions carry a sentiment.
    assert "nps" not in reasons and "social_sentiment" not in reasons
    assert all("is synced" not in r or "holds no" in r for r in reasons.values())


def test_a_group_without_data_says_so_instead_of_an_empty_bar(
    home: Path, tab: Any, tmp_path: Path
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(home)
        mp.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{home / 'w.db'}")
        mp.setenv("DESKPULSE_KPI_CONFIG", str(home / "kpi.toml"))
        mp.setenv("DESKPULSE_TIMEZONE", "UTC")
        report = build_report(Settings(), start="2026-01-01", end="2026-02-01")
    csat = next(s for s in report.breakdowns if s.metric.id == "csat")
    # An agent the help desk lists with no CSAT answer in the window: value None, n 0.
    quiet = replace(csat.values[0], group={"agent": "a9", "agent_name": "Quiet Agent"})
    quiet.value, quiet.n, quiet.met = None, 0, None
    csat.values.append(quiet)
    (tmp_path / "r.html").write_text(render_html(report), encoding="utf-8")
    page = tab.context.browser.new_page()  # the module's browser: one Playwright at a time
    try:
        page.goto((tmp_path / "r.html").as_uri(), wait_until="load")
        fig = figure(page, "breakdowns", "csat")
        texts = fig.locator("svg text").all_text_contents()
        rows = [
            [c.text_content() for c in r.locator("td").all()] for r in fig.locator("tbody tr").all()
        ]
    finally:
        page.close()
    assert any(t.strip() == "no data" for t in texts)
    assert any("Quiet Agent  (n=0)" in t for t in texts)
    # Ben Osei's CSAT is a real 0% over one answer: labelled as such, beside its n.
    assert any(t.strip() == "0.0%" for t in texts) and any("Ben Osei  (n=1)" in t for t in texts)
    # Its table row: no value, n 0, and no target mark.
    assert ["Quiet Agent", "no data", "0", ""] in rows
