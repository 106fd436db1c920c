"""Two pushes at once never write twice: another process's push is refused with one line and
writes nothing; the daemon's threads pushing to one help desk take turns (one digest post)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.sync.locks import acquire
from deskpulse.sync.push import run_push
from deskpulse.sync.settings import load_settings
from deskpulse.sync.warehouse import Warehouse
from deskpulse.sync.writeback import PUSH_LOCK
from tests.sync.test_cli import clean_env, one_error_line  # noqa: F401 - the shared fixture
from tests.sync.test_push_cli import WRITEBACK

server = pytest.importorskip("deskpulse.sandbox.server")
runner = CliRunner()


@pytest.fixture
def synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "wb.toml").write_text(WRITEBACK)
    monkeypatch.setenv("DESKPULSE_WRITEBACK", str(tmp_path / "wb.toml"))
    with server.SandboxServer(seed=3, tickets=60, rate_limit=False) as sb:
        monkeypatch.setenv("ZENDESK_BASE_URL", sb.base_url)
        monkeypatch.setenv("ZENDESK_OAUTH_TOKEN", sb.env(oauth=True)["ZENDESK_OAUTH_TOKEN"])
        assert runner.invoke(app, ["sync"]).exit_code in (0, 3)
        yield sb


def _writes(sb: Any) -> list[dict[str, Any]]:
    writes: list[dict[str, Any]] = sb.client().get("/__sandbox/writes").json()["writes"]
    return writes


def test_a_push_while_another_process_pushes_is_refused_and_writes_nothing(synced) -> None:
    settings = load_settings()
    held = acquire(Warehouse(settings.database_url), PUSH_LOCK + "zendesk")
    try:
        line = one_error_line(runner.invoke(app, ["push"]))
    finally:
        held.release()
    assert line.startswith(
        f"error: zendesk is being written to by another deskpulse process (pid {os.getpid()} "
    )
    assert line.endswith("; try again when it ends")
    assert _writes(synced) == []
    assert runner.invoke(app, ["push"]).exit_code in (0, 3)  # once it ended
    assert len([w for w in _writes(synced) if w["method"] == "POST"]) == 1


def test_pushes_in_two_threads_take_turns_and_post_the_digest_once(synced) -> None:
    settings = load_settings()
    errors: list[BaseException] = []

    def one() -> None:
        try:
            run_push(settings)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    posts = [w for w in _writes(synced) if w["method"] == "POST"]
    assert len(posts) == 1
    fields = [w for w in _writes(synced) if w["method"] == "PUT"]
    assert fields  # the ticket fields went out too, once: a second push found them unchanged
    assert "0 written" in runner.invoke(app, ["push"]).stdout
