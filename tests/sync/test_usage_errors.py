"""A user's mistake is a usage error: one line, exit 2, never "internal error, please report it"."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.sync.warehouse import Warehouse, head_revision

runner = CliRunner()


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("DESKPULSE_LOG_LEVEL", "DESKPULSE_START_DATE", "DESKPULSE_KPI_MAX_BUCKETS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def usage_error(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert "Traceback" not in result.output and "internal error" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert result.exit_code == 2, result.output
    return lines[0]


@pytest.mark.parametrize("start", ["0001-01-01", "0001-01-01T00:00:00+01:00", "9999-12-31"])
def test_a_from_date_out_of_any_range_is_a_usage_error(start: str) -> None:
    assert usage_error(["kpi", "--from", start, "--to", "2026-01-01"]).startswith(
        "error: --from/--to: "
    )


def test_an_unknown_log_level_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPULSE_LOG_LEVEL", "LOUD")
    assert usage_error(["status"]) == (
        "error: invalid setting DESKPULSE_LOG_LEVEL: unknown log level 'LOUD' "
        "(DEBUG, INFO, WARNING, ERROR or CRITICAL)"
    )


def test_a_binary_env_file_is_a_usage_error(env: Path) -> None:
    (env / ".env").write_bytes(b"\xf8\x00\xff\xfeDESKPULSE=1\n")
    assert usage_error(["status"]) == (
        "error: .env is not a UTF-8 text file (byte 0xf8 at position 0): "
        "fix or remove it (it holds settings as NAME=value lines)"
    )


def test_an_unknown_schema_revision_is_a_usage_error() -> None:
    line = usage_error(["db", "upgrade", "nonsense"])
    assert line == (
        f"error: unknown schema revision 'nonsense' (known: 0001 to {head_revision()}, or head)"
    )


def test_an_unknown_db_command_is_a_usage_error() -> None:
    result = runner.invoke(app, ["db", "frobnicate"])
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.output


def test_a_warehouse_of_a_newer_deskpulse_is_a_usage_error(env: Path) -> None:
    warehouse = Warehouse(f"sqlite:///{env / 'w.db'}")
    warehouse.ensure_schema()
    with warehouse.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    warehouse.dispose()
    said = (
        "error: this warehouse was created by a newer deskpulse (schema 0999, this version "
        f"knows up to {head_revision()}): upgrade deskpulse"
    )
    for command in (["status"], ["kpi"], ["db", "upgrade"]):
        assert usage_error(command) == said


def test_kpi_refuses_too_many_buckets_before_making_them() -> None:
    line = usage_error(["kpi", "--from", "1900-01-01", "--to", "2100-01-01", "--every", "day"])
    assert line == (
        "error: 1900-01-01 → 2100-01-01 by day is 73,049 periods, more than "
        "DESKPULSE_KPI_MAX_BUCKETS (10,000): use a shorter window or a longer --every"
    )


def test_the_bucket_limit_is_a_setting(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Warehouse(f"sqlite:///{env / 'w.db'}").ensure_schema()  # an empty warehouse
    monkeypatch.setenv("DESKPULSE_KPI_MAX_BUCKETS", "20")
    args = ["kpi", "--from", "2026-01-01", "--to", "2026-02-01", "--format", "json"]
    # The backlog is a daily series even without --every: 31 days.
    assert usage_error(args) == (
        "error: 2026-01-01 → 2026-02-01 by day is 31 periods, more than "
        "DESKPULSE_KPI_MAX_BUCKETS (20): use a shorter window or a longer --every"
    )
    result = runner.invoke(app, [*args, "--every", "week", "-m", "ticket_backlog"])
    assert result.exit_code == 0, result.output
    # One value over the window, however long, for a metric that is not a series.
    result = runner.invoke(
        app, ["kpi", "--from", "1950-01-01", "--to", "2026-01-01", "-m", "request_volume"]
    )
    assert result.exit_code == 0, result.output
