"""`status` and `push` read the settings of `--env-file FILE` as the daemon does, so an operator
uses the service's file (`deskpulse status --env-file /etc/deskpulse.env`); a missing file is one
line and exit code 2."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.sync.warehouse import Warehouse, table

runner = CliRunner()


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The working directory's own .env points at another warehouse."""
    for name in ("DESKPULSE_DATABASE_URL", "DESKPULSE_WRITEBACK", "DESKPULSE_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    (tmp_path / ".env").write_text(f"DESKPULSE_DATABASE_URL=sqlite:///{tmp_path / 'local.db'}\n")


@pytest.mark.parametrize("command", [["status"], ["push"], ["push", "--dry-run"]])
def test_a_missing_env_file_is_one_line(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--env-file", "nope.env"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --env-file nope.env: no such file"


def test_status_reads_the_services_warehouse(tmp_path: Path) -> None:
    service = tmp_path / "service"
    service.mkdir()
    warehouse = Warehouse(f"sqlite:///{service / 'deskpulse.db'}")
    with warehouse.begin() as connection:
        connection.execute(
            insert(table("sync_runs")).values(
                source="helpdesk_eu", vendor="zendesk", started_at=datetime.now(UTC), status="ok"
            )
        )
    warehouse.dispose()
    env = service / "deskpulse.env"
    env.write_text(f"DESKPULSE_DATABASE_URL=sqlite:///{service / 'deskpulse.db'}\n")
    result = runner.invoke(app, ["status", "--env-file", str(env)])
    assert result.exit_code == 0, result.output
    assert str(service / "deskpulse.db") in result.stdout and "helpdesk_eu" in result.stdout
    assert "helpdesk_eu" not in runner.invoke(app, ["status"]).stdout


def test_push_reads_the_services_write_back_file(tmp_path: Path) -> None:
    env = tmp_path / "deskpulse.env"
    env.write_text(f"DESKPULSE_WRITEBACK={tmp_path / 'service-writeback.toml'}\n")
    result = runner.invoke(app, ["push", "--dry-run", "--env-file", str(env)])
    assert result.exit_code == 2
    assert "DESKPULSE_WRITEBACK: cannot read" in result.stderr
    assert "service-writeback.toml" in result.stderr
