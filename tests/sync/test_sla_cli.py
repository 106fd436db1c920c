"""`deskpulse kpi` with an SLA policy pinned to business hours, on files imported from CSV whose
`schedule_changes` column moves a ticket to another schedule (numbers as in
tests/kpi_core/test_sla_business_hours.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskpulse.cli import app

runner = CliRunner()

TICKETS = """id,created_at,priority,status,schedule_changes
T1,2026-03-06T16:30:00Z,urgent,open,
T2,2026-03-03T16:30:00Z,urgent,open,2026-03-03T17:00:00Z=always
T3,2026-03-06T16:30:00Z,normal,open,
"""
EVENTS = """id,ticket_id,created_at,kind,author_kind
1,T1,2026-03-06T16:30:00Z,message,customer
2,T1,2026-03-09T09:20:00Z,message,agent
3,T2,2026-03-03T16:30:00Z,message,customer
4,T2,2026-03-03T18:00:00Z,message,agent
5,T3,2026-03-06T16:30:00Z,message,customer
6,T3,2026-03-09T09:20:00Z,message,agent
"""
SCHEDULES = """default = "eu"
[schedules.eu]
time_zone = "UTC"
hours = { mon-fri = ["09:00-17:00"] }
[schedules.always]
time_zone = "UTC"
hours = { mon-sun = ["00:00-24:00"] }
"""
POLICIES = """[[sla]]
priority = "urgent"
first_response_minutes = 60
business_hours = true

[[sla]]
first_response_minutes = 60
"""
MARCH = ["--from", "2026-03-01", "--to", "2026-04-01"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tickets.csv").write_text(TICKETS)
    (tmp_path / "data" / "ticket_events.csv").write_text(EVENTS)
    (tmp_path / "kpi.toml").write_text(POLICIES)
    (tmp_path / "schedules.toml").write_text(SCHEDULES)
    monkeypatch.setenv("DESKPULSE_KPI_CONFIG", str(tmp_path / "kpi.toml"))
    assert runner.invoke(app, ["import", str(tmp_path / "data")]).exit_code == 0
    return tmp_path


def sla(*args: str) -> tuple[float, int]:
    result = runner.invoke(app, ["kpi", *MARCH, "--metric", "sla_attainment", *args,
                                 "--format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    return row["value"], row["n"]


def test_a_pinned_policy_counts_in_a_calendar_query(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESKPULSE_SCHEDULES", str(home / "schedules.toml"))
    # T1 met in business time (pinned), T2 breached on eu then always, T3 breached (calendar).
    assert sla() == (1 / 3, 3)
    # T3 follows the query: met in business time.
    assert sla("--business-hours") == (2 / 3, 3)


def test_a_pinned_policy_without_a_schedule_says_so(home: Path) -> None:
    result = runner.invoke(app, ["kpi", *MARCH, "--metric", "sla_attainment"])
    assert result.exit_code != 0
    assert "pinned to business hours" in result.stderr
    assert "DESKPULSE_SCHEDULES" in result.stderr
    assert "Traceback" not in result.output
