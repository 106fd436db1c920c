"""`deskpulse push` through the real CLI against the sandbox: the dry run shows what would be
written where and why and writes nothing; the push writes; a second push rewrites nothing; the
write-back shows in `status`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskpulse.cli import app
from tests.sync.test_cli import clean_env, one_error_line  # noqa: F401 - the shared fixture

server = pytest.importorskip("deskpulse.sandbox.server")
runner = CliRunner()

WRITEBACK = """
[[ticket_field]]
name = "frt"
source = "zendesk"
field = "360000000101"
value = "first_response_minutes"
days = 3650

[[digest]]
source = "zendesk"
every = "day"
metrics = ["first_response_time", "request_volume"]
"""


def test_push_needs_an_actions_file() -> None:
    line = one_error_line(runner.invoke(app, ["push"]))
    assert line.startswith("error: no write-back actions: set DESKPULSE_WRITEBACK")


def test_an_unknown_value_name_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "wb.toml").write_text(WRITEBACK.replace("first_response_minutes", "speed"))
    monkeypatch.setenv("DESKPULSE_WRITEBACK", str(tmp_path / "wb.toml"))
    line = one_error_line(runner.invoke(app, ["push"]))
    assert "ticket_field #1: unknown value 'speed'" in line


def test_dry_run_push_and_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "wb.toml").write_text(WRITEBACK)
    monkeypatch.setenv("DESKPULSE_WRITEBACK", str(tmp_path / "wb.toml"))
    with server.SandboxServer(seed=3, tickets=60, rate_limit=False) as sb:
        monkeypatch.setenv("ZENDESK_BASE_URL", sb.base_url)
        monkeypatch.setenv("ZENDESK_OAUTH_TOKEN", sb.env(oauth=True)["ZENDESK_OAUTH_TOKEN"])
        assert runner.invoke(app, ["sync"]).exit_code in (0, 3)

        dry = runner.invoke(app, ["push", "--dry-run", "--format", "json"])
        assert dry.exit_code == 0, dry.output
        plan = json.loads(dry.stdout)
        assert plan["dry_run"] and plan["writes"]
        first = plan["writes"][0]
        assert first["target"] == "frt" and first["field"] == "360000000101"
        assert first["why"] == f"new: first_response_minutes = {first['value']!r}"
        assert sb.client().get("/__sandbox/writes").json()["writes"] == []

        pushed = runner.invoke(app, ["push"])
        # Closed tickets refuse updates: exit 3 and the failures named, the rest written.
        assert pushed.exit_code in (0, 3), pushed.output
        assert "written" in pushed.stdout
        received = sb.client().get("/__sandbox/writes").json()["writes"]
        posts = [w for w in received if w["method"] == "POST"]
        assert len(posts) == 1  # the digest: an internal note, keyed by its period
        note = posts[0]["body"]["ticket"]
        assert note["external_id"].startswith("zendesk:digest:day|")
        assert note["comment"]["public"] is False
        assert "First response time" in note["comment"]["body"]

        again = runner.invoke(app, ["push"])
        assert "0 written" in again.stdout and "unchanged" in again.stdout
        assert len(sb.client().get("/__sandbox/writes").json()["writes"]) == len(received)

        status = json.loads(runner.invoke(app, ["status", "--format", "json"]).stdout)
        frt, digest = status["write_back"]
        assert frt["target"] == "frt" and frt["sent"] > 0
        assert digest["target"] == "zendesk:digest:day" and digest["sent"] == 1
        table = runner.invoke(app, ["status"]).stdout
        assert "write-back" in table and "frt" in table
