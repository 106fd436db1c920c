"""Logs an operator reads: DESKPULSE_LOG_LEVEL honoured by every command (the daemon too), a
timestamp on every line, nothing wrapped at 80 columns, httpx's per-request lines only at DEBUG,
a warning repeated within a cycle shown once."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deskpulse.sync.logs import OncePerCycle, TextFormatter
from tests.sync.fakes import FRT_WRITEBACK

server = pytest.importorskip("deskpulse.sandbox.server")
ROOT = Path(__file__).resolve().parents[2]
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


@pytest.fixture
def sandbox_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    with server.SandboxServer(seed=3, tickets=60, rate_limit=False) as sb:
        (tmp_path / "wb.toml").write_text(FRT_WRITEBACK)
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("DESKPULSE_", "ZENDESK_", "KLAVIYO_", "LIVEAGENT_"))
        }
        yield {
            **env,
            **sb.env(oauth=True),
            "PYTHONPATH": str(ROOT),
            "DESKPULSE_DATABASE_URL": f"sqlite:///{tmp_path / 'logs.db'}",
            "DESKPULSE_WRITEBACK": str(tmp_path / "wb.toml"),
            "DESKPULSE_METRICS_PORT": "0",
            "COLUMNS": "80",
        }


def _daemon(env: dict[str, str], cwd: Path, **settings: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "deskpulse.cli", "daemon", "--cycles", "1"],
        env={**env, **settings}, cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [line for line in done.stderr.splitlines() if line.strip()]


def test_the_daemon_honours_the_level_and_stamps_every_line(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    quiet = _daemon(sandbox_env, tmp_path, DESKPULSE_LOG_LEVEL="WARNING")
    assert not [line for line in quiet if " INFO " in line or "HTTP Request" in line], quiet
    assert all(STAMP.match(line) for line in quiet), quiet

    # Unset: the daemon's own default is INFO (a line per cycle), never httpx's request lines.
    default = _daemon(sandbox_env, tmp_path)
    assert any("zendesk: synced" in line for line in default), default
    assert not any("HTTP Request" in line for line in default), default
    assert all(STAMP.match(line) for line in default), default

    debug = _daemon(sandbox_env, tmp_path, DESKPULSE_LOG_LEVEL="DEBUG")
    requests = [line for line in debug if "HTTP Request: GET http://127.0.0.1:" in line]
    assert len(requests) >= 3, debug[:50]
    # Every line is whole: stamped, however long (a wrap at 80 columns would start unstamped).
    assert max(len(line) for line in requests) > 80
    assert all(STAMP.match(line) for line in debug), [x for x in debug if not STAMP.match(x)]
    secrets = [v for k, v in sandbox_env.items() if k.endswith(("_TOKEN", "_KEY")) and v]
    assert secrets and not any(secret in line for secret in secrets for line in debug)


def test_json_logs_stay_json(sandbox_env: dict[str, str], tmp_path: Path) -> None:
    lines = _daemon(sandbox_env, tmp_path, DESKPULSE_LOG_FORMAT="json")
    events = [json.loads(line) for line in lines]
    assert events and all({"ts", "level", "logger", "msg"} <= set(e) for e in events)
    assert any("zendesk: synced" in e["msg"] for e in events)


def _record(msg: str, level: int = logging.WARNING, name: str = "deskpulse.sync") -> Any:
    return logging.LogRecord(name, level, __file__, 1, msg, None, None)


def test_a_line_is_stamped_in_utc_and_each_line_of_a_traceback_too() -> None:
    record = _record("one\ntwo")
    record.created, record.msecs = 1_796_461_200.25, 250.0  # 2026-12-05T09:00:00.250Z
    assert TextFormatter().format(record) == (
        "2026-12-05T09:00:00.250Z WARNING deskpulse.sync: one\n"
        "2026-12-05T09:00:00.250Z WARNING deskpulse.sync: two"
    )
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("x", logging.DEBUG, __file__, 1, "bug", None, sys.exc_info())
    lines = TextFormatter().format(failed).splitlines()
    assert len(lines) > 2 and all(STAMP.match(line) for line in lines)
    assert lines[-1].endswith("ValueError: boom")


def test_a_warning_is_shown_once_per_cycle() -> None:
    now = [0.0]
    once = OncePerCycle(ttl=3600, clock=lambda: now[0])
    shown = [once.filter(_record("zendesk: cannot list tags (403)")) for _ in range(1000)]
    assert shown.count(True) == 1
    assert once.filter(_record("zendesk: cannot list groups (403)"))  # another cause
    assert once.filter(_record("zendesk: cannot list tags (403)", name="deskpulse.daemon"))
    assert all(once.filter(_record("GET /x: HTTP 502, retry", logging.INFO)) for _ in range(3))
    once.reset()  # the next cycle
    assert once.filter(_record("zendesk: cannot list tags (403)"))
    assert not once.filter(_record("zendesk: cannot list tags (403)"))
    now[0] = 3600.0  # a cause that stays is told again within the hour, whoever resets
    assert once.filter(_record("zendesk: cannot list tags (403)"))


def test_on_a_terminal_a_long_line_stays_whole() -> None:
    """Through rich (which keeps progress bars below the logs), but never wrapped by it."""
    import io

    from rich.console import Console

    from deskpulse.sync.logs import configure

    screen = io.StringIO()
    configure("INFO", "text", Console(file=screen, force_terminal=True, width=80))
    try:
        logging.getLogger("deskpulse.sync").warning("zendesk: %s", "x" * 150)
    finally:
        configure("WARNING")
    lines = re.sub(r"\x1b\[[0-9;]*m", "", screen.getvalue()).splitlines()
    assert len(lines) == 1 and STAMP.match(lines[0]) and lines[0].endswith("x" * 150)
