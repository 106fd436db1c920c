"""`deskpulse revenue`: the support-to-revenue view through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskpulse.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "customers.csv").write_text(
        "id,email\nc1,Ann@x.com\nc2,bob@x.com\n", encoding="utf-8"
    )
    (tmp_path / "data" / "orders.csv").write_text(
        "id,customer_id,amount,created_at\no1,c1,100,2026-03-01\no2,c2,40,2025-06-01\n",
        encoding="utf-8",
    )
    assert runner.invoke(app, ["import", str(tmp_path / "data")]).exit_code == 0
    return tmp_path


def test_revenue_as_json() -> None:
    result = runner.invoke(app, ["revenue", "--at", "2026-04-01", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (none,) = [g for g in data["groups"] if g["first_response"] == "no_tickets"]
    # No tickets: both people; Bob's last order is more than 90 days old: lost.
    assert none["customers"] == 2
    assert none["clv_historical"] == 70.0
    assert none["churn_rate"] == 0.5
    assert data["people_by_sources"] == {"files": 2}


def test_revenue_table_and_bad_date() -> None:
    result = runner.invoke(app, ["revenue", "--at", "2026-04-01"])
    assert result.exit_code == 0
    assert "first-response experience" in result.stdout
    assert "people by the sources they appear in: files 2" in result.stdout
    bad = runner.invoke(app, ["revenue", "--at", "someday"])
    assert bad.exit_code == 2
    assert "--at: 'someday' is not a date" in bad.output
    assert "Traceback" not in bad.output
