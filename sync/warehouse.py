"""The warehouse: engine set-up, migrations on first use, and bulk upserts by natural key.

SQLite runs in WAL mode (readers never block the sync) with `synchronous=NORMAL`, which is
durable across process crashes. A long-running process checks that the file at the warehouse's
path is still the one it opened (`Warehouse.check_identity`): one deleted or replaced under it
would otherwise take every later write into a file nobody reads. Upserts are the dialect's INSERT ... ON CONFLICT (source, id)
DO UPDATE, in bulk, with a WHERE clause that skips rows whose values did not change, so a re-sync
of unchanged data writes nothing and the returned count is the rows really inserted or changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Dialect,
    Engine,
    Table,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlmodel import SQLModel

import deskpulse.sync.state  # noqa: F401  (registers the bookkeeping tables)
from deskpulse.connectors.errors import ConfigError, DeskpulseError
from deskpulse.kpi_core.models import WAREHOUSE_MODELS
from deskpulse.kpi_core.types import UTCDateTime
from deskpulse.sync import pg_write

MIGRATIONS = Path(__file__).parent / "migrations"


class WarehouseError(DeskpulseError):
    """The warehouse database cannot be opened or its schema cannot be brought up to date."""


class WarehouseReplaced(WarehouseError):
    """The SQLite file at the warehouse's path is no longer the one this process opened: it was
    deleted, or another file was moved onto its path. Writing on would go into the old file,
    which nobody will read again."""


def _reason(exc: DBAPIError) -> str:
    return (str(exc.orig) if exc.orig else str(exc)).splitlines()[0]


def table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    # The database is read with read(), never mapped (SQLite's default, said here): a mapped file
    # that cannot be written ends the process with SIGBUS instead of an error.
    cursor.execute("PRAGMA mmap_size=0")
    cursor.close()


def dumps_json(value: Any) -> str:
    """The one JSON text form the warehouse stores (both upsert paths use it, so unchanged
    values compare equal)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _sqlite_read_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA busy_timeout=30000")


def _may_write(path: Path) -> bool:
    return os.access(path, os.W_OK)


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine for `url`; a malformed URL or a missing driver is one ConfigError line."""
    try:
        engine = create_engine(url, future=True, json_serializer=dumps_json)
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
        event.listen(engine, "connect", _sqlite_read_pragmas if read_only else _sqlite_pragmas)
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


def known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}


def check_known(revision: str | None) -> None:
    """A warehouse at a revision this version has no migration for was made by a newer one."""
    if revision is not None and revision not in known_revisions():
        raise ConfigError(
            f"this warehouse was created by a newer deskpulse (schema {revision}, this version "
            f"knows up to {head_revision()}): upgrade deskpulse"
        )


@contextmanager
def _migration_transaction(connection: Connection) -> Iterator[None]:
    """One transaction for a whole migration, taken by one process at a time.

    SQLite: Python's driver commits before every DDL statement on its own, so a migration that
    failed half-way (disk full) used to leave half a schema; here the driver's transaction
    handling is off and BEGIN IMMEDIATE takes the write lock first (a second process waits for
    it, up to the busy timeout), so the migration is all or nothing and never interleaved.
    PostgreSQL: DDL is transactional; a transaction-scoped advisory lock, keyed by database and
    schema, makes a second process wait and then find the schema done."""
    if connection.dialect.name == "sqlite":
        raw: Any = connection.connection.dbapi_connection
        before = raw.isolation_level
        raw.isolation_level = None
        try:
            with connection.begin():
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                yield
        finally:
            raw.isolation_level = before
        return
    with connection.begin():
        connection.execute(
            text(
                "SELECT pg_advisory_xact_lock(hashtextextended("
                "'deskpulse.migrate:' || current_database() || '.' || current_schema(), 0))"
            )
        )
        yield


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (alembic upgrade), all or nothing, one process at a
    time (a second one waits and finds them applied)."""
    known = known_revisions()
    if revision != "head" and revision not in known:
        raise ConfigError(
            f"unknown schema revision {revision!r} "
            f"(known: {min(known)} to {head_revision()}, or head)"
        )
    with engine.connect() as connection, _migration_transaction(connection):
        check_known(current_revision(connection))
        try:
            command.upgrade(alembic_config(connection), revision)
        except CommandError as exc:  # e.g. a revision older than the warehouse's
            raise ConfigError(f"cannot upgrade to schema revision {revision}: {exc}") from None


class Warehouse:
    """One database: opened lazily, migrated to head on first use.

    `reading=True` is for commands that only read (status, kpi, ...): a missing SQLite file is
    an error instead of a new empty warehouse, and a file deskpulse may not write (chmod 444, a
    read-only folder) is opened read-only, without the WAL's side files when the folder cannot
    hold them, instead of failing."""

    def __init__(
        self,
        url: str,
        *,
        migrate: bool = True,
        reading: bool = False,
    ) -> None:
        self.url = url
        self.read_only = False
        self._path: Path | None = None
        self._file = _sqlite_file(url)
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file opened
        if reading:
            url = self._reading_url(url)
        self._check_side_files()
        self.engine = make_engine(url, read_only=self.read_only)
        if self._file is not None:
            # A connection opened after the file was replaced would write into the new one
            # beside the pool's connections to the old one: refuse it too.
            event.listen(self.engine, "connect", lambda *_: self.check_identity())
        self._ready = not migrate

    def _reading_url(self, url: str) -> str:
        try:
            parsed = make_url(url)
        except ArgumentError:
            return url  # make_engine says what is wrong with it
        database = parsed.database
        if not parsed.drivername.startswith("sqlite") or database in (None, "", ":memory:"):
            return url
        assert database is not None
        if database.startswith("file:"):
            return url  # already a URI: the user chose its mode
        path = self._path = Path(database)
        if not path.exists():
            raise WarehouseError(
                f"there is no warehouse at {path} yet: `deskpulse sync` or "
                "`deskpulse import FOLDER` creates it"
            )
        if _may_write(path) and _may_write(path.parent):
            return url
        self.read_only = True
        uri = f"sqlite:///file:{quote(str(path.resolve()))}?mode=ro&uri=true"
        if not _may_write(path.parent) and not path.with_name(path.name + "-shm").exists():
            # WAL readers share an index in the -shm file, which this folder cannot hold: read
            # the file as it is (nobody can be writing it: a writer needs that folder too).
            uri += "&immutable=1"
        return uri

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def in_memory(self) -> bool:
        """An in-memory SQLite database: private to this process."""
        return self.dialect == "sqlite" and self.engine.url.database in (None, "", ":memory:")

    def ensure_schema(self) -> None:
        if self._ready:
            return
        try:
            with self.engine.connect() as connection:
                at = current_revision(connection)
        except OperationalError as exc:
            raise WarehouseError(
                f"cannot open the warehouse database: {_reason(exc)}; check DESKPULSE_DATABASE_URL"
            ) from None
        check_known(at)
        if at != head_revision():
            if self.read_only:
                raise WarehouseError(
                    f"the warehouse {self._path} is read-only and at schema {at}; this "
                    f"deskpulse needs {head_revision()}: run `deskpulse db upgrade` where it may "
                    "write"
                )
            try:
                upgrade(self.engine)
            except OperationalError as exc:  # disk full, read-only file, lost connection
                raise WarehouseError(
                    f"could not {'upgrade' if at else 'create'} the warehouse schema: "
                    f"{_reason(exc)}; nothing was changed: fix that and run the command again "
                    "(or `deskpulse db upgrade`)"
                ) from None
        self._ready = True

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection inside one transaction: committed on exit, rolled back on error."""
        self.ensure_schema()
        with self.engine.begin() as connection:
            if self._identity is None:
                self._opened()
            yield connection

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        self.ensure_schema()
        with self.engine.connect() as connection:
            if self._identity is None:
                self._opened()
            yield connection

    def _check_side_files(self) -> None:
        """Refuse WAL side files this process could not write, before SQLite opens them: it
        maps the -shm into memory, where a refused write is a SIGBUS, not an error."""
        if self._file is None or self.read_only:
            return
        for side in ("-wal", "-shm"):
            other = self._file.with_name(self._file.name + side)
            if other.exists() and not os.access(other, os.R_OK | os.W_OK):
                raise WarehouseError(
                    f"the warehouse's file {other} cannot be written by this user (made by "
                    "another user?): give it the warehouse file's owner and permissions, then "
                    "run the command again"
                )

    def _opened(self) -> None:
        """The SQLite file is open: note which file it is (check_identity)."""
        if self._file is None:
            return
        try:
            found = self._file.stat()
        except OSError:
            return
        self._identity = (found.st_dev, found.st_ino)

    def check_identity(self) -> None:
        """Raise WarehouseReplaced when the SQLite file at the warehouse's path is not the one
        this process opened (deleted, or another file moved onto the path; a daemon checks at
        each cycle and before a push). PostgreSQL, an in-memory database or a warehouse not
        opened yet: nothing to check."""
        if self._identity is None or self._file is None:
            return
        try:
            found = self._file.stat()
        except FileNotFoundError:
            now = None
        except OSError:
            return  # cannot tell (a folder gone unreadable): the next write says what is wrong
        else:
            now = (found.st_dev, found.st_ino)
        if now != self._identity:
            raise WarehouseReplaced(
                f"the warehouse file {self._file} was deleted or replaced while the daemon ran; "
                "stopping so that nothing is written into the old file: start the daemon again "
                "(it opens the file now at that path)"
            )

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


def _sqlite_file(url: str) -> Path | None:
    """The absolute path of a file-backed SQLite URL (None: another database, memory, a URI)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database
    if not parsed.drivername.startswith("sqlite") or database in (None, "", ":memory:"):
        return None
    assert database is not None
    if database.startswith("file:"):
        return None
    return Path(os.path.abspath(database))


def _sqlite_datetime(value: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME text form, in UTC: the form UTCDateTime reads back.
    # Aware UTC (the common case) formats as "...ffffff+00:00": the first 26 characters.
    tz = value.tzinfo
    if tz is not UTC:
        value = value.replace(tzinfo=UTC) if tz is None else value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def _sqlite_converter(column: Column[Any]) -> Callable[[Any], Any] | None:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return _sqlite_datetime
    if kind._type_affinity is JSON:
        return dumps_json
    return None  # booleans bind as the integers they are


@dataclass(frozen=True)
class _SqliteUpsert:
    sql: str
    columns: tuple[str, ...]
    key: Callable[[Mapping[str, Any]], Any]
    values: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]


@cache
def _sqlite_upsert(name: str) -> _SqliteUpsert:
    """INSERT ... ON CONFLICT DO UPDATE ... WHERE changed, compiled once per table."""
    target = table(name)
    columns = tuple(c.name for c in target.columns)
    key = tuple(c.name for c in target.primary_key.columns)
    quoted = [f'"{c}"' for c in columns]
    updates = [c for c in columns if c not in key]
    sql = (
        f'INSERT INTO "{name}" ({", ".join(quoted)}) VALUES ({", ".join("?" for _ in columns)}) '
        f"ON CONFLICT ({', '.join(quoted[columns.index(k)] for k in key)}) DO UPDATE SET "
        + ", ".join(f'"{c}" = excluded."{c}"' for c in updates)
        + " WHERE "
        + " OR ".join(f'"{name}"."{c}" IS NOT excluded."{c}"' for c in updates)
    )
    converters = tuple(
        (i, convert)
        for i, c in enumerate(columns)
        if (convert := _sqlite_converter(target.c[c])) is not None
    )
    return _SqliteUpsert(sql, columns, itemgetter(*key), itemgetter(*columns), converters)


Prepared = list[Any]
"""Rows of one table as the upsert statement binds them (`_prepare_upsert`)."""


def _prepare_upsert(dialect: Dialect, name: str, rows: Sequence[Mapping[str, Any]]) -> Prepared:
    """`rows` of table `name` ready for `_execute_upsert`: one per key (the last wins), every
    column present (a column a row does not name is NULL), and each value already in the form
    the driver binds (SQLite: dates as UTC text, JSON as text; PostgreSQL: `sync.pg_write`)."""
    if dialect.name == "sqlite":
        return _prepare_sqlite(name, rows)
    return pg_write.prepare(name, dialect, rows)


def _execute_upsert(connection: Connection, name: str, prepared: Prepared) -> int:
    """Insert or update prepared rows (`_prepare_upsert`); returns the rows inserted or changed."""
    if not prepared:
        return 0
    if connection.dialect.name == "sqlite":
        # The driver's own executemany (it takes the prepared lists as they are), inside this
        # connection's transaction; its rowcount counts exactly the rows inserted or changed
        # (the WHERE clause skips unchanged ones).
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(_sqlite_upsert(name).sql, prepared)
            return max(int(cursor.rowcount), 0)
        finally:
            cursor.close()
    return pg_write.execute(connection, name, prepared)


def upsert(connection: Connection, name: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert or update `rows` in table `name` by its primary key (for canonical tables the
    natural key (source, id)); returns the number of rows inserted or changed. Rows need not
    name every column: the ones they leave out are NULL."""
    if not rows:
        return 0
    return _execute_upsert(connection, name, _prepare_upsert(connection.dialect, name, rows))


def _prepare_sqlite(name: str, rows: Sequence[Mapping[str, Any]]) -> Prepared:
    """The SQLite hot path: no SQLAlchemy per-row parameter work; values are picked by one C
    call per row and only dates and JSON are converted, by per-column functions chosen once."""
    plan = _sqlite_upsert(name)
    key, values, converters = plan.key, plan.values, plan.converters
    unique = {key(row): row for row in rows}
    batch: Prepared = []
    # Rows of one page share many datetimes (a ticket update's comment, status change and
    # assignment have one time): each is formatted once.
    texts: dict[datetime, str] = {}
    for row in unique.values():
        try:
            params = list(values(row))
        except KeyError:  # a row that leaves columns out: they are NULL
            params = [row.get(c) for c in plan.columns]
        for i, convert in converters:
            value = params[i]
            if value is None:
                continue
            if convert is _sqlite_datetime:
                text = texts.get(value)
                if text is None:
                    text = texts[value] = _sqlite_datetime(value)
                params[i] = text
            else:
                params[i] = convert(value)
        batch.append(params)
    return batch
