"""What people see: `sync`, `status`, `quarantine` and `kpi --every` rendered at 100 columns from
fixed data, compared line by line with the text files in tests/sync/golden/.

After an intended change of the output, regenerate the files and read their diff:

    DESKPULSE_GOLDEN=update pytest tests/sync/test_golden.py

Times of day and the warehouse path, which change from run to run, are replaced by fixed marks.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import deskpulse.cli
import deskpulse.sync.sources
from deskpulse.cli import app
from deskpulse.connectors.errors import StreamError
from deskpulse.sync import render
from tests.sync.fakes import FakeConnector, FakeStream, ticket

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("DESKPULSE_GOLDEN") == "update"

runner = CliRunner()


def _fixed(text: str) -> str:
    text = text.replace(str(ROOT), "<repo>")
    text = re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+Z)?", "YYYY-MM-DD hh:mm:ss", text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "YYYY-MM-DD hh:mm", text)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def check(name: str, args: list[str], code: int) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    shown = _fixed(f"$ deskpulse {' '.join(args)}\n{result.stdout}--- stderr\n{result.stderr}")
    path = GOLDEN / f"{name}.txt"
    if UPDATE:
        path.write_text(shown, encoding="utf-8")
    assert path.exists(), f"no {path.name}: run with DESKPULSE_GOLDEN=update"
    assert shown == path.read_text(encoding="utf-8")


def _connector() -> FakeConnector:
    tickets = FakeStream(
        "tickets",
        [
            [ticket(1), ticket(2, status="solved"), ticket(3)],
            [ticket(4), {"id": "5", "unmappable": True}],
        ],
    )
    users = FakeStream("users", [[{"id": "a1", "name": "Ann"}]], table="agents")
    events = FakeStream(
        "ticket_events",
        [[], StreamError("zendesk: 500 from /api/v2/incremental/ticket_events after 7 attempts")],
        table="ticket_events",
    )
    return FakeConnector(tickets, users, events, source="helpdesk")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("golden")


@pytest.fixture(autouse=True)
def setting(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(env)
    for name in list(os.environ):
        if name.startswith(("DESKPULSE_", "ZENDESK_", "KLAVIYO_", "LIVEAGENT_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", "sqlite:///golden.db")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(
        deskpulse.sync.sources, "build_connectors", lambda settings, only=None: [_connector()]
    )


# The tests run in this order, each on the warehouse the ones before it filled.


def test_sync() -> None:
    check("sync", ["sync"], 3)


def test_import() -> None:
    check("import", ["import", str(ROOT / "examples" / "sample"), "--source", "sample"], 0)


def test_status(monkeypatch: pytest.MonkeyPatch) -> None:
    # The lag is the time since the sync above: under a loaded CI it may pass a minute.
    real = render.ago
    monkeypatch.setattr(render, "ago", lambda s: real(None if s is None else min(s, 59)))
    check("status", ["status"], 0)


def test_status_at_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal's default width: no line longer, no column cut to an ellipsis, and the run's
    error message whole (wrapped beside its source)."""
    real = render.ago
    monkeypatch.setattr(render, "ago", lambda s: real(None if s is None else min(s, 59)))
    monkeypatch.setenv("COLUMNS", "80")
    check("status_80", ["status"], 0)
    shown = (GOLDEN / "status_80.txt").read_text(encoding="utf-8").splitlines()
    assert max(len(line) for line in shown) <= 80
    assert not any("…" in line for line in shown)
    for fact in ("helpdesk", "partial", "last success", "next run", "failed", "writes"):
        assert any(fact in line for line in shown), fact
    text = " ".join(line.strip() for line in shown)
    assert "zendesk: 500 from /api/v2/incremental/ticket_events after 7 attempts" in text


def test_quarantine() -> None:
    check("quarantine", ["quarantine"], 0)


def test_kpi_every_week() -> None:
    check(
        "kpi_every_week",
        [
            "kpi",
            "--from",
            "2026-01-05",
            "--to",
            "2026-02-02",
            "--every",
            "week",
            "-m",
            "request_volume",
            "-m",
            "first_response_time",
            "-m",
            "csat",
            "-m",
            "ticket_backlog",
            "--source",
            "sample",
        ],
        0,
    )
