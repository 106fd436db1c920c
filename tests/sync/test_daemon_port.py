"""The daemon's status port taken by another program: one line saying what to change, exit 2, and
the warehouse left free for the next start (no traceback, no 'internal error')."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.sync.daemon import DAEMON_LOCK
from deskpulse.sync.locks import acquire
from deskpulse.sync.warehouse import Warehouse
from tests.sync.conftest import fresh_env


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fresh_env(tmp_path, monkeypatch)
    monkeypatch.setenv("ZENDESK_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ZENDESK_OAUTH_TOKEN", "t")
    return tmp_path


def test_a_busy_metrics_port_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("DESKPULSE_METRICS_PORT", str(port))
        result = CliRunner().invoke(app, ["daemon", "--cycles", "1"])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1] == (
        f"error: cannot serve /metrics and /healthz on 127.0.0.1:{port}: Address already in "
        "use: set DESKPULSE_METRICS_PORT to a free port (0 serves none) or "
        "DESKPULSE_METRICS_HOST to an address of this machine"
    )
    assert "alembic" not in result.stderr.lower() and "Context impl" not in result.stderr
    # The daemon's lock went with it: the next daemon may start.
    acquire(Warehouse(f"sqlite:///{tmp_path / 'w.db'}"), DAEMON_LOCK).release()
