"""`deskpulse report` on the bundled sample (examples/sample): numbers worked by hand, the same
numbers as `deskpulse kpi --format json`, vendor text escaped, and nothing fetched from outside."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from deskpulse.cli import app
from deskpulse.kpi_core.registry import REGISTRY

runner = CliRunner()
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample"
JANUARY = ["--from", "2026-01-01", "--to", "2026-02-01"]
# A name with HTML, rich markup and matplotlib math text in it: each must come out literally.
ODD_NAME = '<b onclick="x()">Ana</b> [/oops] $x^2$ & co'
TARGETS = """
[[targets]]
metric = "first_response_time"
max = 60

[[targets]]
metric = "csat"
min = 0.85
"""


class Elements(HTMLParser):
    """Every element's tag and attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("report")
    data = home / "sample"
    shutil.copytree(SAMPLE, data)
    agents = data / "agents.csv"
    agents.write_text(
        agents.read_text().replace("Ana Ruiz", f'"{ODD_NAME.replace(chr(34), chr(34) * 2)}"')
    )
    (home / "kpi.toml").write_text(TARGETS)
    result = invoke(home, "import", str(data))
    assert result.exit_code == 0, result.output
    return home


def invoke(home: Path, *args: str) -> Result:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(home)
        mp.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{home / 'w.db'}")
        mp.setenv("DESKPULSE_KPI_CONFIG", str(home / "kpi.toml"))
        mp.setenv("DESKPULSE_TIMEZONE", "UTC")
        return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def page(home: Path) -> str:
    result = invoke(home, "report", *JANUARY, "--out", str(home / "report.html"))
    assert result.exit_code == 0, result.output
    return (home / "report.html").read_text(encoding="utf-8")


def cards(html: str) -> dict[str, dict[str, str | None]]:
    parser = Elements()
    parser.feed(html)
    return {
        str(attrs["data-metric"]): attrs
        for tag, attrs in parser.elements
        if tag == "div" and "kpi" in (attrs.get("class") or "").split()
    }


def test_headline_holds_the_kpis_with_targets_and_their_exact_values(home: Path, page: str) -> None:
    # Targets are set for first_response_time and csat: those are the headline.
    shown = cards(page)
    assert list(shown) == ["first_response_time", "csat"]
    # First response, by hand: 10, 30, 45, 60, 120 minutes -> mean 53 (see test_kpi_cli).
    assert float(shown["first_response_time"]["data-value"] or "nan") == pytest.approx(53.0)
    assert shown["first_response_time"]["data-n"] == "5"
    assert "target 1.0 h" in page and "✓ met" in page  # 53 min against a 60 min maximum
    # The same values as `deskpulse kpi --format json` for the same window.
    result = invoke(home, "kpi", *JANUARY, "--format", "json")
    expected = {row["metric"]: row for row in json.loads(result.stdout) if row["group"] is None}
    for metric_id, attrs in shown.items():
        assert float(attrs["data-value"] or "nan") == pytest.approx(expected[metric_id]["value"])
        assert int(attrs["data-n"] or -1) == expected[metric_id]["n"]
    embedded = re.search(
        r'<script type="application/json" id="kpi-values">(.*?)</script>', page, re.S
    )
    assert embedded is not None
    assert json.loads(embedded.group(1)) == json.loads(result.stdout)


def test_every_chart_is_inline_svg_and_nothing_is_fetched(page: str) -> None:
    parser = Elements()
    parser.feed(page)
    figures = [a for tag, a in parser.elements if tag == "figure"]
    svgs = [a for tag, a in parser.elements if tag == "svg"]
    assert figures and len(svgs) == len(figures)
    # Trends of the headline and core metrics, a breakdown per headline metric, two histograms.
    assert {"first_response_time", "csat", "request_volume"} <= {f["data-metric"] for f in figures}
    for tag, attrs in parser.elements:
        for name in ("src", "href", "xlink:href"):
            value = attrs.get(name) or ""
            assert not re.match(r"[a-z]+:", value) or value.startswith("data:"), (tag, name, value)
        assert tag not in ("link", "iframe", "img", "object")
    assert "@import" not in page and "url(http" not in page
    assert [a.get("type") for tag, a in parser.elements if tag == "script"] == ["application/json"]


def test_vendor_text_is_escaped(page: str) -> None:
    assert ODD_NAME not in page  # never raw: it holds a tag
    assert "<b onclick" not in page
    # Table cells carry it escaped; the chart label carries it literally (no math text).
    assert "&lt;b onclick=&#34;x()&#34;&gt;Ana&lt;/b&gt; [/oops] $x^2$ &amp; co" in page
    parser = Elements()
    parser.feed(page)
    assert ODD_NAME in "".join(parser.text)


def test_distributions_mark_the_metric_mean_median_and_p90(page: str) -> None:
    # First response 10, 30, 45, 60, 120 min: mean 53 min, median 45 min, p90 (nearest rank) 120.
    section = page.split('id="distributions"')[1].split("</section>")[0]
    assert "mean 53.0 min" in section.replace("minutes", "min")
    assert "53.0 min" in section and "45.0 min" in section and "2.0 h" in section


def test_metrics_without_data_say_which_source_would_supply_them(page: str) -> None:
    section = page.split('id="missing"')[1].split("</section>")[0]
    rows = dict(re.findall(r'<tr data-metric="([a-z_]+)">(.*?)</tr>', section, re.S))
    assert "kb_helpfulness" in rows and "kb_articles" in rows["kb_helpfulness"]
    assert "first_response_time" not in rows
    assert set(rows) < set(REGISTRY)


def test_the_headline_change_reads_as_the_digest_line() -> None:
    from deskpulse.sync.render import change_text

    # A ratio moves in percentage points; a duration in its own unit; neutral metrics have no verdict.
    assert change_text("ratio", "higher", 0.75, 0.72) == "+3.0 pts vs previous, better"
    assert change_text("minutes", "lower", 43.3, 60.0) == "-16.7 min vs previous, better"
    assert change_text("count", "neutral", 10, 12) == "-2 vs previous"
    assert change_text("minutes", "lower", 43.3, None) == ""


def test_a_bad_dimension_is_a_usage_error(home: Path) -> None:
    result = invoke(home, "report", "--by", "planet", "--out", str(home / "x.html"))
    assert result.exit_code == 2
    assert "--by takes one of" in result.output


def test_an_unwritable_destination_is_one_line(home: Path) -> None:
    result = invoke(home, "report", *JANUARY, "--out", str(home / "missing-dir" / "r.html"))
    assert result.exit_code == 1
    assert "cannot write the report" in result.output and "Traceback" not in result.output
