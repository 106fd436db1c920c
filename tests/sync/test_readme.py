"""What the README and the CLI's own descriptions say is true."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.kpi_core.registry import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
runner = CliRunner()


def test_every_file_the_readme_links_is_in_the_repository() -> None:
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README)
    assert "docs/KPI_CATALOG.md" in links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert missing == []


def test_the_readme_names_every_ratio_that_leaves_0_to_1() -> None:
    """resolution_rate (solved / created) passes 1 when a period solves its backlog;
    social_sentiment (positive minus negative share) goes down to -1."""
    said = README[README.index("Ratios are fractions") :].split("\n\n")[0]
    assert "resolution_rate" in said and "social_sentiment" in said
    ratios = {m.id for m in REGISTRY.values() if m.unit == "ratio"}
    assert {"resolution_rate", "social_sentiment"} <= ratios


def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    monkeypatch.setenv("COLUMNS", str(columns))


def test_kpi_list_fits_80_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _env(tmp_path, monkeypatch, 80)
    result = runner.invoke(app, ["kpi", "--list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    # Every metric heads its own entry, its id whole on one line, with unit and direction.
    heads = [line for line in lines if line and not line.startswith(" ")]
    assert [line.split()[0] for line in heads] == sorted(REGISTRY)
    assert heads[sorted(REGISTRY).index("first_response_time")] == (
        "first_response_time  minutes, lower is better"
    )
    assert "  first response time" in result.stdout.lower()


def test_kpi_list_as_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _env(tmp_path, monkeypatch, 80)
    result = runner.invoke(app, ["kpi", "--list", "--format", "json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [m["id"] for m in listed] == sorted(REGISTRY)
    backlog = next(m for m in listed if m["id"] == "ticket_backlog_aged")
    assert backlog["unit"] == "count" and backlog["direction"] == "lower"
    assert backlog["parameters"] == [
        {
            "name": "days",
            "default": 7,
            "description": "age in days above which an unsolved ticket is aged",
        }
    ]
    assert set(backlog) == {
        "id",
        "title",
        "description",
        "unit",
        "direction",
        "anchor",
        "parameters",
        "dimensions",
    }


def test_status_says_what_its_row_counts_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import insert

    from deskpulse.sync.warehouse import Warehouse, table

    _env(tmp_path, monkeypatch, 120)
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    with warehouse.begin() as connection:
        connection.execute(
            insert(table("sync_runs")).values(
                source="zendesk",
                vendor="zendesk",
                started_at=datetime.now(UTC) - timedelta(hours=1),
                status="ok",
                rows=1234,
            )
        )
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "rows read by the last run" in result.stdout
    assert "rows in the warehouse" in result.stdout
