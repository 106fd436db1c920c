"""The warehouse: engine set-up, migrations on first use, and bulk upserts by natural key.

SQLite runs in WAL mode (readers never block the sync) with `synchronous=NORMAL`, which is
durable across process crashes. Upserts are the dialect's INSERT ... ON CONFLICT (source, id)
DO UPDATE, in bulk, with a WHERE clause that skips rows whose values did not change, so a re-sync
of unchanged data writes nothing and the returned count is the rows really inserted or changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Table, create_engine, event, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlmodel import SQLModel

import sync.state  # noqa: F401  (registers the bookkeeping tables)
from connectors.errors import ConfigError
from kpi_core.models import WAREHOUSE_MODELS

MIGRATIONS = Path(__file__).parent / "migrations"


def table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`; a malformed URL or a missing driver is one ConfigError line."""
    try:
        engine = create_engine(url, future=True)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(
            f"invalid DESKPULSE_DATABASE_URL ({exc.__class__.__name__}): use e.g. "
            "sqlite:///deskpulse.db or postgresql+psycopg://user@host/db"
        ) from None
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"the database driver {exc.name!r} is not installed: pip install 'deskpulse[postgres]'"
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (alembic upgrade)."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


class Warehouse:
    """One database: opened lazily, migrated to head on first use."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._ready = not migrate

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def ensure_schema(self) -> None:
        if self._ready:
            return
        try:
            with self.engine.connect() as connection:
                at_head = current_revision(connection) == head_revision()
            if not at_head:
                upgrade(self.engine)
        except OperationalError as exc:
            reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc).splitlines()[0]
            raise ConfigError(
                f"cannot open the warehouse database: {reason}; check DESKPULSE_DATABASE_URL"
            ) from None
        self._ready = True

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection inside one transaction: committed on exit, rolled back on error."""
        self.ensure_schema()
        with self.engine.begin() as connection:
            yield connection

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        self.ensure_schema()
        with self.engine.connect() as connection:
            yield connection

    def counts(self) -> dict[str, int]:
        """Rows per warehouse table."""
        with self.connect() as connection:
            return {
                name: int(
                    connection.execute(select(func.count()).select_from(table(name))).scalar_one()
                )
                for name in WAREHOUSE_MODELS
            }

    def dispose(self) -> None:
        self.engine.dispose()


def upsert(connection: Connection, name: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert or update `rows` in table `name` by its primary key (for canonical tables the
    natural key (source, id)); returns the number of rows inserted or changed.

    Every row must carry every column (missing ones are filled with None), so one statement serves
    the whole batch (executemany).
    """
    if not rows:
        return 0
    target = table(name)
    columns = [c.name for c in target.columns]
    key = [c.name for c in target.primary_key.columns]
    # Last one wins within a batch: one statement may not touch the same row twice (PostgreSQL).
    unique = {tuple(row.get(k) for k in key): row for row in rows}
    batch = [{c: row.get(c) for c in columns} for row in unique.values()]
    insert = (
        postgresql.insert(target)
        if connection.dialect.name == "postgresql"
        else sqlite.insert(target)
    )
    updatable = [c for c in columns if c not in key]
    excluded = insert.excluded
    statement = insert.on_conflict_do_update(
        index_elements=key,
        set_={c: excluded[c] for c in updatable},
        where=or_(*(target.c[c].is_distinct_from(excluded[c]) for c in updatable)),
    ).returning(target.c[key[0]])
    # RETURNING yields exactly the rows inserted or changed on both dialects (rowcount after a
    # batched executemany is not reliable on psycopg).
    return len(connection.execute(statement, batch).all())
