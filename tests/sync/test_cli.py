"""The CLI's failure paths: one clear line, no traceback, a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskpulse.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in (
        "ZENDESK_SUBDOMAIN",
        "ZENDESK_EMAIL",
        "ZENDESK_API_TOKEN",
        "ZENDESK_OAUTH_TOKEN",
        "ZENDESK_BASE_URL",
        "DESKPULSE_TIMEZONE",
        "DESKPULSE_SCHEDULES",
        "DESKPULSE_KPI_CONFIG",
        "DESKPULSE_START_DATE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    return tmp_path


def one_error_line(result) -> str:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_sync_without_any_source_says_what_to_set() -> None:
    line = one_error_line(runner.invoke(app, ["sync"]))
    assert line.startswith("error: no source configured: set the variables of a vendor: ")
    assert "zendesk (ZENDESK_*)" in line


def test_a_bad_time_zone_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPULSE_TIMEZONE", "Mars/Olympus")
    line = one_error_line(runner.invoke(app, ["status"]))
    assert line == (
        "error: invalid setting DESKPULSE_TIMEZONE: unknown IANA time zone "
        "'Mars/Olympus' (e.g. Europe/Berlin)"
    )


def test_a_malformed_database_url_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", "not a url")
    assert one_error_line(runner.invoke(app, ["status"])).startswith(
        "error: invalid DESKPULSE_DATABASE_URL"
    )


def test_an_unreachable_database_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "DESKPULSE_DATABASE_URL", "postgresql+psycopg://u:hunter2@127.0.0.1:1/db?connect_timeout=2"
    )
    line = one_error_line(runner.invoke(app, ["status"]))
    assert line.startswith("error: cannot open the warehouse database")
    assert "hunter2" not in line


def test_secrets_never_show_in_settings_output(monkeypatch: pytest.MonkeyPatch) -> None:
    from deskpulse.sync.settings import load_settings

    monkeypatch.setenv("ZENDESK_API_TOKEN", "tok-very-secret")
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", "postgresql+psycopg://u:pw-secret@h/db")
    settings = load_settings()
    shown = repr(settings) + str(settings) + settings.database_url_display
    assert "tok-very-secret" not in shown and "pw-secret" not in shown


def test_a_bad_kpi_window_is_one_line() -> None:
    line = one_error_line(runner.invoke(app, ["kpi", "--from", "2026-02-01", "--to", "2026-01-01"]))
    assert line == "error: --from (2026-02-01 00:00) must be before --to (2026-01-01 00:00)"
    line = one_error_line(runner.invoke(app, ["kpi", "--from", "last tuesday"]))
    assert line == "error: --from/--to: not a date or ISO-8601 date/time: 'last tuesday'"


def test_a_malformed_param_is_a_usage_error() -> None:
    result = runner.invoke(app, ["kpi", "--param", "oops"])
    assert result.exit_code == 2
    assert "--param takes name=value, got 'oops'" in result.stderr


def test_python_cli_py_is_the_same_program() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    for command in ("sync", "import", "kpi", "status", "sandbox", "db"):
        assert command in result.stdout


def test_an_unexpected_error_is_still_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import deskpulse.sync.reporting

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("max_workers must be greater than 0")

    monkeypatch.setattr(deskpulse.sync.reporting, "compute_kpis", broken)
    line = one_error_line(runner.invoke(app, ["kpi"]))
    assert line == (
        "error: internal error (ValueError: max_workers must be greater than 0); please report "
        "it (DESKPULSE_LOG_LEVEL=DEBUG shows the details)"
    )
