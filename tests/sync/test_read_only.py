"""A warehouse deskpulse may not write can still be read; reading never creates one."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.sync import warehouse as warehouse_module

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
READS = (["status"], ["kpi", "-m", "request_volume", "--format", "json"], ["db", "current"])


@pytest.fixture
def imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A warehouse with the sample data, in its own folder."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "wh"
    folder.mkdir()
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{folder / 'w.db'}")
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["import", str(ROOT / "examples" / "sample")])
    assert result.exit_code in (0, 3), result.output
    path = folder / "w.db"
    with closing(sqlite3.connect(path)) as connection:  # everything into the file itself
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def test_status_does_not_create_a_missing_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "none.db"
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{path}")
    for command in (["status"], ["db", "current"], ["kpi"], ["quarantine"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, result.output
        assert result.stderr.splitlines() == [
            f"error: there is no warehouse at {path} yet: `deskpulse sync` or "
            "`deskpulse import FOLDER` creates it"
        ]
    assert not path.exists()


def test_a_warehouse_deskpulse_may_not_write_is_read(
    imported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As when the file is chmod 444 and its folder read-only (the -wal and -shm files gone):
    checked through the same test deskpulse makes, since root may write anything."""
    monkeypatch.setattr(warehouse_module, "_may_write", lambda path: False)
    for extra in imported.parent.glob("w.db-*"):
        extra.unlink()
    before = sorted(p.name for p in imported.parent.iterdir())
    for command in READS:
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)
    assert sorted(p.name for p in imported.parent.iterdir()) == before  # nothing written


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write a chmod 444 file")
def test_a_chmod_444_file_in_a_read_only_folder_is_read(imported: Path) -> None:
    for extra in imported.parent.glob("w.db-*"):
        extra.unlink()
    imported.chmod(0o444)
    imported.parent.chmod(0o555)
    try:
        for command in READS:
            result = runner.invoke(app, command)
            assert result.exit_code == 0, (command, result.output)
    finally:
        imported.parent.chmod(0o755)
        imported.chmod(0o644)


def test_a_read_only_warehouse_behind_the_code_says_what_to_do(
    imported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import text

    from deskpulse.sync.warehouse import Warehouse, head_revision

    warehouse = Warehouse(f"sqlite:///{imported}")
    with warehouse.begin() as connection:  # as if written by the deskpulse before
        connection.execute(text("UPDATE alembic_version SET version_num = '0006'"))
    warehouse.dispose()
    monkeypatch.setattr(warehouse_module, "_may_write", lambda path: False)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: the warehouse {imported} is read-only and at schema 0006; this deskpulse needs "
        f"{head_revision()}: run `deskpulse db upgrade` where it may write"
    ]
