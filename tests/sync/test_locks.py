"""One process at a time per source (sync.locks), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from deskpulse.sync import locks
from deskpulse.sync.engine import run_sync
from deskpulse.sync.locks import LockHeld, source_lock
from deskpulse.sync.state import SyncRun
from deskpulse.sync.warehouse import Warehouse, table
from tests.sync.fakes import FakeConnector, FakeStream, pages_of

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import sys
from deskpulse.sync.locks import source_lock
from deskpulse.sync.warehouse import Warehouse
with source_lock(Warehouse(sys.argv[1]), sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
"""


@contextmanager
def holder(warehouse: Warehouse, source: str = "zendesk") -> Iterator[subprocess.Popen[str]]:
    """Another deskpulse process holding the lock of `source` until the block ends."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, warehouse.url, source],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "held\n"
        yield process
    finally:
        if process.poll() is None:
            assert process.stdin is not None
            process.stdin.close()
        process.wait(timeout=30)


def test_a_second_process_is_told_who_holds_the_source(warehouse: Warehouse) -> None:
    with holder(warehouse) as other, pytest.raises(LockHeld) as caught:
        source_lock(warehouse, "zendesk").__enter__()
    message = str(caught.value)
    assert message.startswith(
        f"source zendesk is being synced by another deskpulse process (pid {other.pid} on host "
        f"{socket.gethostname()} since {datetime.now(UTC):%Y-%m-%d} "
    )
    assert message.endswith(" UTC); try again when it ends")
    with source_lock(warehouse, "zendesk") as lock:  # released when the holder ended
        assert lock is not None


def test_the_message_can_say_what_is_held(warehouse: Warehouse) -> None:
    """The daemon locks a name of its own and says what it is."""
    with holder(warehouse, "daemon") as other, pytest.raises(LockHeld) as caught:
        source_lock(warehouse, "daemon", subject="this warehouse has a daemon run").__enter__()
    assert str(caught.value).startswith(
        f"this warehouse has a daemon run by another deskpulse process (pid {other.pid} "
    )


def test_other_sources_are_not_held(warehouse: Warehouse) -> None:
    with holder(warehouse, "zendesk"), source_lock(warehouse, "zendesk-eu") as lock:
        assert lock is not None


def test_the_lock_of_a_killed_process_is_taken_over_at_once(warehouse: Warehouse) -> None:
    with holder(warehouse) as other:
        os.kill(other.pid, signal.SIGKILL)
        other.wait(timeout=30)
        with source_lock(warehouse, "zendesk") as lock:
            assert lock is not None


def _foreign_lock(warehouse: Warehouse, age: timedelta) -> None:
    """A lock row of a process on another machine, last heard of `age` ago."""
    moment = datetime.now(UTC) - age
    with warehouse.begin() as connection:
        connection.execute(
            insert(table("source_locks")).values(
                source="zendesk",
                owner="f" * 32,
                pid=1,
                host="ops-2",
                node="ops-2#pid:[1]",
                acquired_at=moment,
                heartbeat_at=moment,
            )
        )


def test_a_holder_on_another_machine_holds_until_its_lease_ends(warehouse: Warehouse) -> None:
    _foreign_lock(warehouse, timedelta(seconds=5))
    with pytest.raises(LockHeld, match="pid 1 on host ops-2 since"):
        source_lock(warehouse, "zendesk").__enter__()
    with warehouse.begin() as connection:
        connection.execute(table("source_locks").delete())
    _foreign_lock(warehouse, locks.LEASE + timedelta(seconds=1))
    with source_lock(warehouse, "zendesk") as lock:
        assert lock is not None


def test_the_heartbeat_keeps_a_long_run_held(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    lease = timedelta(seconds=0.6)
    with source_lock(warehouse, "zendesk", lease=lease) as lock:
        assert lock is not None
        time.sleep(1.5)  # more than two leases: only the heartbeat keeps it fresh
        monkeypatch.setattr(locks, "this_node", lambda: "elsewhere")  # no pid check: lease only
        with pytest.raises(LockHeld):
            locks.acquire(warehouse, "zendesk", lease=lease)
        assert not lock.lost.is_set()
    with warehouse.connect() as connection:
        assert connection.execute(select(table("source_locks"))).all() == []


def test_a_second_sync_of_a_live_source_leaves_its_run_running(warehouse: Warehouse) -> None:
    runs = table(SyncRun.__tablename__)
    with holder(warehouse, "fake"):
        with warehouse.begin() as connection:  # the live run of the other process
            connection.execute(
                insert(runs).values(
                    source="fake", vendor="fake", started_at=datetime.now(UTC), status="running"
                )
            )
        connector = FakeConnector(FakeStream("tickets", pages_of(3, 2)))
        with pytest.raises(LockHeld, match=r"^source fake is being synced by another"):
            run_sync(warehouse, connector)
        with warehouse.connect() as connection:
            assert connection.execute(select(runs.c.status)).scalars().all() == ["running"]
    report = run_sync(warehouse, connector)  # once it ended: the next sync runs
    assert report.status == "ok" and report.rows == 3
    with warehouse.connect() as connection:
        statuses = connection.execute(select(runs.c.status).order_by(runs.c.id)).scalars().all()
    assert statuses == ["interrupted", "ok"]  # the other one never finished its run


def test_the_cli_says_so_in_one_line_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from deskpulse.cli import app

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", url)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tickets.csv").write_text("id,created_at,status\n1,2026-01-05,open\n")
    with holder(Warehouse(url), "files") as other:
        result = CliRunner().invoke(app, ["import", str(tmp_path / "data")])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: source files is being synced by another deskpulse process (pid {other.pid} "
        f"on host {socket.gethostname()} since {result.stderr.split(' since ')[1][:19]} UTC); "
        "try again when it ends"
    ]
