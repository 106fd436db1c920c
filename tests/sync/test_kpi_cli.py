"""`deskpulse kpi` end to end on the bundled sample (examples/sample), numbers worked by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskpulse.cli import app

runner = CliRunner()
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample"
JANUARY = ["--from", "2026-01-01", "--to", "2026-02-01"]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("kpi")
    db = f"sqlite:///{home / 'w.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(home)
        mp.setenv("DESKPULSE_DATABASE_URL", db)
        result = runner.invoke(app, ["import", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    return home


def kpi(home: Path, *args: str) -> list[dict]:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(home)
        mp.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{home / 'w.db'}")
        result = runner.invoke(app, ["kpi", *JANUARY, *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_first_response_time(imported: Path) -> None:
    # 101: 09:00 -> 09:30 (the bot's 09:05 reply does not stop the clock) = 30 min
    # 102: 10:00 -> 12:00 (the internal note at 10:30 does not count)      = 120 min
    # 103: 10, 104: 60, 105: 45 min.  Sorted 10, 30, 45, 60, 120: mean 265/5 = 53, median 45.
    (row,) = kpi(imported, "--metric", "first_response_time")
    assert (row["metric"], row["unit"], row["n"], row["group"]) == (
        "first_response_time",
        "minutes",
        5,
        None,
    )
    assert row["value"] == pytest.approx(53.0)
    assert row["mean"] == pytest.approx(53.0)
    assert row["median"] == pytest.approx(45.0)
    assert row["from"] == "2026-01-01T00:00:00+00:00" and row["to"] == "2026-02-01T00:00:00+00:00"


def test_resolution_time(imported: Path) -> None:
    # Solved/closed tickets, last solve minus creation: 101 = 120 min, 102 = 1440 min, 103 = 20 min
    # (closed at 14:30, but solved at 14:20). Mean 1580/3, median 120.
    (row,) = kpi(imported, "--metric", "resolution_time")
    assert row["n"] == 3
    assert row["value"] == pytest.approx(1580 / 3)
    assert row["median"] == pytest.approx(120.0)


def test_csat_and_nps(imported: Path) -> None:
    # CSAT 1-5: scores 5, 2, 4 -> positive (4 or 5) 2 of 3.
    # NPS: 10, 9 promoters, 8 passive, 6 detractor -> 100 x (2 - 1) / 4 = 25.
    rows = {r["metric"]: r for r in kpi(imported, "--metric", "csat", "--metric", "nps")}
    assert rows["csat"]["value"] == pytest.approx(2 / 3)
    assert rows["csat"]["n"] == 3
    assert rows["nps"]["value"] == pytest.approx(25.0)
    assert rows["nps"]["n"] == 4


def test_request_volume_counts_each_contact_once_by_channel(imported: Path) -> None:
    # 5 tickets; chat h1 belongs to ticket 103 and mention m1 to ticket 105, so they are not
    # counted again; + chat h2, 4 calls, mentions m2 and m3 = 12 contacts.
    (total,) = kpi(imported, "--metric", "request_volume")
    assert total["value"] == 12
    by_channel = {
        r["group"]["channel"]: r["value"]
        for r in kpi(imported, "--metric", "request_volume", "--by", "channel")
    }
    assert by_channel == {"email": 2, "web": 1, "chat": 2, "twitter": 2, "phone": 4, "instagram": 1}


def test_the_table_is_the_default_and_csv_is_flat(imported: Path) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(imported)
        mp.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{imported / 'w.db'}")
        table = runner.invoke(
            app, ["kpi", *JANUARY, "--metric", "first_response_time", "--by", "agent"]
        )
        csv_out = runner.invoke(app, ["kpi", *JANUARY, "--metric", "csat", "--format", "csv"])
    assert table.exit_code == 0
    assert "Ana Ruiz" in table.stdout and "Ben Osei" in table.stdout  # agents by name
    lines = csv_out.stdout.splitlines()
    assert lines[0] == "metric,from,to,group,value,unit,n,mean,median,p90,target,met"
    assert lines[1].startswith("csat,2026-01-01T00:00:00+00:00,2026-02-01T00:00:00+00:00,,0.666")


def test_an_unknown_metric_is_one_line(imported: Path) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(imported)
        mp.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{imported / 'w.db'}")
        result = runner.invoke(app, ["kpi", "--metric", "happiness"])
    assert result.exit_code == 2  # a usage error
    assert result.stderr.strip().startswith("error: unknown metric")
