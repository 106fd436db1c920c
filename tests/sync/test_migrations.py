"""The warehouse schema: models and migrations agree, and creating or upgrading it is atomic and
serialised between processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from deskpulse.connectors.errors import ConfigError
from deskpulse.sync.warehouse import Warehouse, current_revision, head_revision, upgrade
from tests.pg import postgres_schema_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    with postgres_schema_url() as pg:
        yield pg


def test_the_models_and_the_alembic_head_agree(url: str) -> None:
    warehouse = Warehouse(url)
    warehouse.ensure_schema()
    with warehouse.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    warehouse.dispose()


FIRST_COMMAND = """
import sys, time
from pathlib import Path
from deskpulse.sync.warehouse import Warehouse
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
warehouse = Warehouse(sys.argv[1])
print(warehouse.counts()["tickets"])
"""


def test_two_first_commands_on_a_fresh_warehouse_both_succeed(url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", FIRST_COMMAND, url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(3)
    ]
    time.sleep(1.5)  # every process is waiting at the start line
    go.touch()
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert (process.returncode, out.strip()) == (0, "0"), err[-2000:]


class DiskFull(Exception):
    pass


def _fail_on_table(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """The migration dies when it reaches table `name`, as when the disk fills half-way."""
    create_table = Operations.create_table

    def failing(self: Operations, table_name: str, *columns: Any, **kw: Any) -> Any:
        if table_name == name:
            raise DiskFull("database or disk is full")
        return create_table(self, table_name, *columns, **kw)

    monkeypatch.setattr(Operations, "create_table", failing)


def test_a_failed_first_migration_leaves_nothing_behind(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        _fail_on_table(patch, "tickets")  # after a dozen tables were created
        with pytest.raises(DiskFull):
            Warehouse(url).ensure_schema()
    warehouse = Warehouse(url)
    with warehouse.engine.connect() as connection:
        assert inspect(connection).get_table_names() == []
    # The next command repairs it: the whole schema, at head.
    assert warehouse.counts()["tickets"] == 0
    with warehouse.engine.connect() as connection:
        assert current_revision(connection) == head_revision()
    warehouse.dispose()


def test_a_failed_upgrade_keeps_the_schema_it_had(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = Warehouse(url, migrate=False)
    upgrade(warehouse.engine, "0001")
    with monkeypatch.context() as patch:
        _fail_on_table(patch, "source_locks")  # 0002 went through, 0003 fails
        with pytest.raises(DiskFull):
            upgrade(warehouse.engine)
    with warehouse.engine.connect() as connection:
        assert current_revision(connection) == "0001"
        assert "write_back_log" not in inspect(connection).get_table_names()
    upgrade(warehouse.engine)
    with warehouse.engine.connect() as connection:
        assert current_revision(connection) == head_revision()
    warehouse.dispose()


def test_a_warehouse_of_a_newer_deskpulse_says_upgrade_deskpulse(url: str) -> None:
    warehouse = Warehouse(url)
    warehouse.ensure_schema()
    with warehouse.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    said = (
        "this warehouse was created by a newer deskpulse (schema 0999, this version knows "
        f"up to {head_revision()}): upgrade deskpulse"
    )
    with pytest.raises(ConfigError) as caught:
        Warehouse(url).ensure_schema()
    assert str(caught.value) == said
    with pytest.raises(ConfigError) as caught:
        upgrade(warehouse.engine)  # `deskpulse db upgrade`
    assert str(caught.value) == said
    warehouse.dispose()
