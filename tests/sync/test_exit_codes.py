"""Exit codes as the README defines them: 2 for what the user typed or configured wrong (a port
out of range, a stream no source has), 1 for a run refused by the world (another daemon holds
the warehouse); one line each, never an internal error."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deskpulse.cli import _streams_of, app
from deskpulse.sandbox.dialects import DIALECTS
from deskpulse.sync.daemon import DAEMON_LOCK
from deskpulse.sync.locks import acquire
from deskpulse.sync.warehouse import Warehouse
from tests.sync.conftest import fresh_env

runner = CliRunner()
LAST_PORT = 65535 - (len(DIALECTS) - 1)


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fresh_env(tmp_path, monkeypatch)
    monkeypatch.setenv("DESKPULSE_METRICS_PORT", "0")
    monkeypatch.setenv("ZENDESK_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ZENDESK_OAUTH_TOKEN", "t")
    return tmp_path


def one_line(result: Any, code: int) -> str:
    assert "Traceback" not in result.output and "internal error" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert result.exit_code == code, result.output
    return lines[0]


@pytest.mark.parametrize("port", [99999, 65536, -1, LAST_PORT + 1])
def test_a_sandbox_port_out_of_range_is_a_usage_error(port: int) -> None:
    line = one_line(runner.invoke(app, ["sandbox", "--port", str(port)]), 2)
    assert line == (
        f"error: --port takes 1 to {LAST_PORT} (the {len(DIALECTS)} vendor APIs take the ports "
        f"from it up), or 0 for any free ports, not {port}"
    )


def test_python_m_sandbox_refuses_it_too() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deskpulse.sandbox", "--port", "99999"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: --port takes 1 to {LAST_PORT}")
    assert "Traceback" not in result.stderr


def test_an_unknown_stream_is_a_usage_error_like_an_unknown_source() -> None:
    source = one_line(runner.invoke(app, ["sync", "--source", "nosuch"]), 2)
    assert source == "error: unknown source nosuch (configured: zendesk)"
    line = one_line(runner.invoke(app, ["sync", "--stream", "tickets", "--stream", "nosuch"]), 2)
    assert line.startswith("error: unknown stream nosuch (zendesk has: users, tickets, ")


class Named:
    def __init__(self, name: str) -> None:
        self.name = name


class Source:
    def __init__(self, source: str, *streams: str) -> None:
        self.source = source
        self._streams = [Named(s) for s in streams]

    def streams(self) -> list[Named]:
        return self._streams


def test_each_source_syncs_the_streams_asked_that_it_has() -> None:
    sources: list[Any] = [Source("zendesk", "tickets", "users"), Source("klaviyo", "profiles")]
    assert _streams_of(sources, None) == {"zendesk": None, "klaviyo": None}
    assert _streams_of(sources, ["users"]) == {"zendesk": ["users"]}  # klaviyo: not run
    assert _streams_of(sources, ["profiles", "tickets"]) == {
        "zendesk": ["tickets"],
        "klaviyo": ["profiles"],
    }


def test_a_second_daemon_is_refused_with_exit_1(env: Path) -> None:
    held = acquire(Warehouse(f"sqlite:///{env / 'w.db'}"), DAEMON_LOCK)
    try:
        line = one_line(runner.invoke(app, ["daemon", "--cycles", "1"]), 1)
    finally:
        held.release()
    assert line.startswith(
        f"error: another deskpulse daemon is running on this warehouse (pid {os.getpid()} on "
        f"host {socket.gethostname()} since "
    )
    assert line.endswith("UTC); stop it first")
