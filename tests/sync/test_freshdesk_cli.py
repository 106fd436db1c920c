"""Freshdesk through the real CLI against the sandbox: `deskpulse sync` reads it, `deskpulse
push` writes ticket fields (`PUT /tickets/{id}` with `custom_fields`) and the digest as a
private note on the digest ticket, a second push rewrites nothing; a bad setting is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.sandbox.server import SandboxServer
from tests.sync.test_cli import clean_env, one_error_line  # noqa: F401 - the shared fixture

runner = CliRunner()

WRITEBACK = """
[[ticket_field]]
name = "frt"
source = "freshdesk"
field = "cf_first_response_minutes"
value = "first_response_minutes"
days = 3650

[[digest]]
source = "freshdesk"
every = "day"
metrics = ["first_response_time", "csat"]
"""


def _configure(monkeypatch: pytest.MonkeyPatch, sb: SandboxServer, tmp_path: Path) -> None:
    for name, value in sb.dialect("freshdesk").env(limited=False).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DESKPULSE_SOURCES", "freshdesk")
    monkeypatch.setenv("FRESHDESK_DIGEST_TICKET", "1")
    (tmp_path / "wb.toml").write_text(WRITEBACK)
    monkeypatch.setenv("DESKPULSE_WRITEBACK", str(tmp_path / "wb.toml"))


def test_sync_then_push_ticket_fields_and_the_digest_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SandboxServer(seed=3, tickets=60, rate_limit=False, dialects=["freshdesk"]) as sb:
        _configure(monkeypatch, sb, tmp_path)
        synced = runner.invoke(app, ["sync"])
        assert synced.exit_code == 0, synced.output
        assert "freshdesk" in synced.stdout and "tickets" in synced.stdout

        pushed = runner.invoke(app, ["push"])
        assert pushed.exit_code == 0, pushed.output
        host = sb.host_of("freshdesk")
        received = host.dialect.writes.writes
        puts = [w for w in received if w["method"] == "PUT"]
        assert puts and all(
            set(w["body"]) == {"custom_fields"}
            and set(w["body"]["custom_fields"]) == {"cf_first_response_minutes"}
            for w in puts
        )
        notes = [w for w in received if w["path"] == "/api/v2/tickets/1/notes"]
        assert len(notes) == 1 and notes[0]["body"]["private"] is True
        assert "deskpulse:freshdesk:digest:day" in notes[0]["body"]["body"]

        again = runner.invoke(app, ["push"])
        assert again.exit_code == 0, again.output
        assert "0 written" in again.stdout
        assert len(host.dialect.writes.writes) == len(received)


def test_a_ticket_field_not_named_cf_is_refused_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SandboxServer(seed=3, tickets=20, rate_limit=False, dialects=["freshdesk"]) as sb:
        _configure(monkeypatch, sb, tmp_path)
        (tmp_path / "wb.toml").write_text(WRITEBACK.replace("cf_first_response", "first"))
        line = one_error_line(runner.invoke(app, ["push"]))
        assert "cf_<name>" in line


def test_a_bad_domain_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPULSE_SOURCES", "freshdesk")
    monkeypatch.setenv("FRESHDESK_DOMAIN", "http://")
    monkeypatch.setenv("FRESHDESK_API_KEY", "k")
    line = one_error_line(runner.invoke(app, ["sync"]))
    assert line.startswith("error: invalid setting FRESHDESK_DOMAIN:")
