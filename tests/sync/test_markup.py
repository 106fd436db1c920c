"""Vendor and user text is printed as it is, never read as rich markup (`[/oops]`, `[urgent]`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console
from sqlalchemy import insert
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.kpi_core import KpiValue
from deskpulse.sync import render
from deskpulse.sync.warehouse import Warehouse, table

runner = CliRunner()

TICKETS = """id,created_at,subject,status
1,2026-01-05T09:00:00Z,[urgent] printer on fire,open
2,[/oops],[/oops] broken,open
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tickets.csv").write_text(TICKETS)
    return tmp_path


def test_import_and_quarantine_print_brackets_literally(env: Path) -> None:
    result = runner.invoke(app, ["import", str(env / "data"), "--source", "[b]shop[/b]"])
    assert result.exit_code == 3, result.output
    assert "MarkupError" not in result.output and "internal error" not in result.output
    assert "[b]shop[/b] (files) run 1: partial" in result.stdout
    assert "'[/oops]'" in result.stderr  # the bad row's reason quotes the value
    result = runner.invoke(app, ["quarantine"])
    assert result.exit_code == 0, result.output
    assert "'[/oops]'" in result.stdout and "[b]shop[/b]" in result.stdout


def test_status_prints_a_vendor_message_literally(env: Path) -> None:
    warehouse = Warehouse(f"sqlite:///{env / 'w.db'}")
    with warehouse.begin() as connection:
        connection.execute(
            insert(table("sync_runs")).values(
                source="zendesk",
                vendor="zendesk",
                started_at=datetime(2026, 1, 5, tzinfo=UTC),
                status="failed",
                message="zendesk: 400 [/oops] [bold]no such field[/bold]",
            )
        )
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "400 [/oops] [bold]no such field[/bold]" in result.stdout


def test_an_error_line_keeps_its_brackets(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", "postgresql+pg8000://u@127.0.0.1/db")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 2
    assert "pip install 'deskpulse[postgres]'" in result.stderr


def test_kpi_tables_print_group_names_literally() -> None:
    moment = datetime(2026, 1, 5, tzinfo=UTC)
    value = KpiValue(
        metric="ticket_volume",
        start=moment,
        end=datetime(2026, 1, 6, tzinfo=UTC),
        value=3.0,
        unit="count",
        n=3,
        group={"agent": "7", "agent_name": "[/oops] [red]Ann[/red]"},
    )
    console = Console(width=120, record=True)
    console.print(render.kpi_table([value], ZoneInfo("UTC"), title="KPIs [Q1]"))
    console.print(render.kpi_table([value], ZoneInfo("UTC"), every="day"))
    shown = console.export_text()
    assert shown.count("[/oops] [red]Ann[/red]") == 2
    assert "KPIs [Q1]" in shown
