"""A warehouse file deleted or replaced under a running process is noticed: `check_identity`
raises WarehouseReplaced with one line, and the daemon stops on it (exit 1, that line, no
traceback) instead of syncing on into the old, unlinked file."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.connectors.base import Page, RequestStats, Row
from deskpulse.kpi_core.canonical import coerce_row
from deskpulse.sync.daemon import Daemon
from deskpulse.sync.settings import load_settings
from deskpulse.sync.sources import SourceSpec
from deskpulse.sync.warehouse import Warehouse, WarehouseError, WarehouseReplaced, table

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def fresh(path: Path) -> Warehouse:
    warehouse = Warehouse(f"sqlite:///{path}")
    with warehouse.begin() as connection:
        connection.execute(select(table("tickets").c.id)).all()
    return warehouse


def line(path: Path) -> str:
    return (
        f"the warehouse file {path} was deleted or replaced while the daemon ran; stopping so "
        "that nothing is written into the old file: start the daemon again (it opens the file "
        "now at that path)"
    )


def test_a_file_moved_onto_the_path_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "deskpulse.db"
    warehouse = fresh(path)
    warehouse.check_identity()  # the file it opened: fine
    fresh(tmp_path / "other.db").dispose()
    os.replace(tmp_path / "other.db", path)
    with pytest.raises(WarehouseReplaced) as caught:
        warehouse.check_identity()
    assert str(caught.value) == line(path)
    warehouse.dispose()
    again = fresh(path)  # a new process opens the file now at that path
    again.check_identity()
    again.dispose()


def test_a_deleted_file_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "deskpulse.db"
    warehouse = fresh(path)
    path.unlink()
    with pytest.raises(WarehouseReplaced, match="was deleted or replaced"):
        warehouse.check_identity()
    warehouse.dispose()


def test_nothing_to_check_before_opening_or_in_memory(tmp_path: Path) -> None:
    Warehouse(f"sqlite:///{tmp_path / 'never.db'}").check_identity()
    memory = Warehouse("sqlite://")
    with memory.begin():
        pass
    memory.check_identity()


def test_a_shared_memory_file_this_user_cannot_write_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "deskpulse.db"
    fresh(path).dispose()
    shm = tmp_path / "deskpulse.db-shm"
    shm.write_bytes(b"")
    shm.chmod(stat.S_IRUSR)
    if os.geteuid() == 0:  # root may write any file: answer as another user's access() would
        real = os.access
        monkeypatch.setattr(
            "deskpulse.sync.warehouse.os.access",
            lambda p, mode: False if str(p).endswith("-shm") else real(p, mode),
        )
    with pytest.raises(WarehouseError, match=r"deskpulse.db-shm cannot be written by this user"):
        fresh(path)


class ReplacingStream:
    """One page per sync; during the first one, the operator replaces the warehouse file."""

    name = "tickets"

    def __init__(self, path: Path, syncs: list[int]) -> None:
        self.path, self.syncs = path, syncs

    def pages(self, cursor: Any) -> Iterator[Page]:
        self.syncs.append(1)
        n = len(self.syncs)
        if n == 1:
            fresh(self.path.with_name("new.db")).dispose()
            os.replace(self.path.with_name("new.db"), self.path)
        yield Page(records=[{"id": str(n), "created_at": "2026-11-01T10:00:00Z"}], cursor=n)

    def normalise(self, record: dict[str, Any]) -> list[Row]:
        return [Row("tickets", coerce_row("tickets", record, source="fake"))]


class ReplacingConnector:
    vendor = "fake"
    source = "fake"
    capabilities = frozenset({"read"})

    def __init__(self, stream: ReplacingStream) -> None:
        self.stats = RequestStats()
        self._stream = stream

    def streams(self) -> list[Any]:
        return [self._stream]

    def close(self) -> None:
        pass


def test_the_daemon_stops_with_exit_1_and_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "deskpulse.db"
    syncs: list[int] = []
    stream = ReplacingStream(path, syncs)
    monkeypatch.setattr(
        "deskpulse.sync.daemon.configured", lambda settings: [SourceSpec("fake", "fake")]
    )
    monkeypatch.setattr(
        "deskpulse.sync.daemon.build", lambda spec, settings, **kw: ReplacingConnector(stream)
    )
    monkeypatch.chdir(tmp_path)
    env = {
        "DESKPULSE_DATABASE_URL": f"sqlite:///{path}",
        "DESKPULSE_SYNC_INTERVAL": "1",
        "DESKPULSE_SYNC_JITTER": "0",
        "DESKPULSE_METRICS_PORT": "0",
        "COLUMNS": "400",
    }
    result = runner.invoke(app, ["daemon", "--cycles", "3"], env=env)
    assert result.exit_code == 1, result.output
    assert syncs == [1]  # the second cycle did not sync into the old file
    errors = [text for text in result.output.splitlines() if text.startswith("error:")]
    assert errors == [f"error: {line(path)}"]
    assert "Traceback" not in result.output


def test_a_fatal_signal_in_the_daemon_leaves_a_line(tmp_path: Path) -> None:
    """SIGBUS (what a -shm truncated under the process raises at the next access: measured
    with sqlite3) ends the process, but with faulthandler's line and stack in the log instead
    of nothing."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DESKPULSE_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}",
        "DESKPULSE_SOURCES": "liveagent",
        "LIVEAGENT_URL": "http://127.0.0.1:9",  # nothing listens: the sync fails at once
        "LIVEAGENT_API_KEY": "k",
        "DESKPULSE_SYNC_INTERVAL": "3600",
        "DESKPULSE_METRICS_PORT": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "deskpulse.cli", "daemon"],
        env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    watchdog = threading.Timer(60, process.kill)  # a line never seen fails, never hangs
    watchdog.start()
    try:
        for text in process.stderr:  # wait until the daemon runs its jobs
            if "liveagent: sync failed" in text:
                break
        process.send_signal(signal.SIGBUS)
        rest = process.stderr.read()
        assert process.wait(30) == -signal.SIGBUS
    finally:
        watchdog.cancel()
        process.kill()
        process.wait()
    assert "Fatal Python error: Bus error" in rest


def test_a_file_deleted_between_cycles_stops_the_daemon_at_the_next_one(tmp_path: Path) -> None:
    path = tmp_path / "deskpulse.db"
    syncs: list[int] = [1]  # past the stream's first sync: it replaces nothing
    settings = load_settings(
        None, database_url=f"sqlite:///{path}", sync_interval=1, sync_jitter=0, metrics_port=0
    )
    daemon = Daemon(
        settings,
        specs=[SourceSpec("fake", "fake")],
        connect=lambda spec: ReplacingConnector(ReplacingStream(path, syncs)),
    )
    raised: list[BaseException] = []

    def run() -> None:
        try:
            daemon.run(signals=False)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while daemon.cycles < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    path.unlink()
    thread.join(30)
    assert not thread.is_alive()
    assert len(syncs) == 2  # one cycle; none after the file went
    assert [str(e) for e in raised] == [line(path)]
