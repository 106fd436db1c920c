"""The PostgreSQL write path: a page's rows of one table upserted by the driver, not SQLAlchemy.

Contract (the same as the SQLite path in `sync.warehouse`): every prepared row is inserted, or
updates the row with its primary key, only where a value differs (IS DISTINCT FROM), and the
count returned is exactly the rows inserted or changed. Values are bound by the column types'
own bind processors (SQLAlchemy's, fetched once per table), so the rows stored are the ones the
SQLAlchemy statement stored: aware UTC timestamps, JSONB of the warehouse's JSON text (a None
in a JSON column is JSON null, as SQLAlchemy binds it).

Why not SQLAlchemy's executemany: it renders one long multi-row INSERT per batch, longer than
psycopg's statement cache takes, so psycopg parsed each anew (almost half the writing thread).
Here one short INSERT ... ON CONFLICT per table is prepared once per connection and psycopg's
`executemany` sends every row through it in pipeline mode (one round trip per batch). COPY into
a staging table followed by one INSERT ... SELECT was measured against it and retired
(docs/decisions/postgres-write-path.md).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlmodel import SQLModel

from deskpulse.kpi_core.types import JSONValue, UTCDateTime

PreparedRows = list[tuple[Any, ...]]


@dataclass(frozen=True)
class PostgresUpsert:
    """One table's upsert, built once: its SQL and how a row's values are picked and bound."""

    sql: str  # INSERT ... VALUES ... ON CONFLICT DO UPDATE ... WHERE changed
    create_stage: str  # the staging table, made when missing
    copy: str  # COPY into it
    move: str  # staging table -> table (the same ON CONFLICT), emptying it; returns the count
    columns: tuple[str, ...]
    key: Callable[[dict[str, Any]], Any]
    binders: tuple[tuple[int, Callable[[Any], Any]], ...]
    none_binders: tuple[tuple[int, Callable[[Any], Any]], ...]  # columns that bind None too


def _quoted(names: tuple[str, ...]) -> list[str]:
    return [f'"{n}"' for n in names]


def _utc_binder(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """UTCDateTime's processor, skipped for the common value it would return unchanged."""

    def bind(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is UTC:
            return value
        return process(value)

    return bind


@cache
def postgres_upsert(name: str, dialect: Dialect) -> PostgresUpsert:
    target = SQLModel.metadata.tables[name]
    columns = tuple(c.name for c in target.columns)
    key = tuple(c.name for c in target.primary_key.columns)
    updates = [c for c in columns if c not in key]
    json = {c.name for c in target.columns if c.type._type_affinity is JSONValue._type_affinity}
    placeholders = ["%s::jsonb" if c in json else "%s" for c in columns]
    listed = ", ".join(_quoted(columns))
    conflict = (
        f"ON CONFLICT ({', '.join(_quoted(key))}) DO UPDATE SET "
        + ", ".join(f'"{c}" = excluded."{c}"' for c in updates)
        + " WHERE "
        + " OR ".join(f'"{name}"."{c}" IS DISTINCT FROM excluded."{c}"' for c in updates)
    )
    # Named after the column list too: a connection that made one before a migration changed
    # the table's columns keeps it, and must not copy into it.
    stage = f'"_deskpulse_stage_{name}_{zlib.crc32(listed.encode()):08x}"'
    sql = f'INSERT INTO "{name}" ({listed}) VALUES ({", ".join(placeholders)}) {conflict}'
    # The DELETE reads the same snapshot as the INSERT: the staged rows are moved, then gone
    # (ON COMMIT DELETE ROWS truncates the table at commit too, so deleted rows do not pile up).
    move = (
        f'WITH moved AS (INSERT INTO "{name}" ({listed}) SELECT {listed} FROM {stage} {conflict} '
        f"RETURNING 1), emptied AS (DELETE FROM {stage}) SELECT count(*) FROM moved"
    )
    create_stage = f'CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE "{name}") ON COMMIT DELETE ROWS'
    copy = f"COPY {stage} ({listed}) FROM STDIN"
    binders: list[tuple[int, Callable[[Any], Any]]] = []
    none_binders: list[tuple[int, Callable[[Any], Any]]] = []
    for i, column in enumerate(target.columns):
        found = column.type._cached_bind_processor(dialect)
        if found is None:
            continue
        process = _utc_binder(found) if isinstance(column.type, UTCDateTime) else found
        (none_binders if column.type.should_evaluate_none else binders).append((i, process))
    return PostgresUpsert(
        sql,
        create_stage,
        copy,
        move,
        columns,
        itemgetter(*key),
        tuple(binders),
        tuple(none_binders),
    )


def prepare(name: str, dialect: Dialect, rows: Any) -> PreparedRows:
    """`rows` as the statement binds them: one per key (the last wins: one statement may not
    touch a row twice), every column (a column a row leaves out is None), values bound."""
    plan = postgres_upsert(name, dialect)
    unique = {plan.key(row): row for row in rows}
    pick = itemgetter(*plan.columns)
    prepared: PreparedRows = []
    for row in unique.values():
        try:
            params = list(pick(row))
        except KeyError:
            params = [row.get(c) for c in plan.columns]
        for i, process in plan.binders:
            value = params[i]
            if value is not None:
                params[i] = process(value)
        for i, process in plan.none_binders:
            params[i] = process(params[i])
        prepared.append(tuple(params))
    return prepared


COPY_FROM = 50
"""Batches of at least this many rows go through COPY and a staging table; smaller ones (a
cursor, a schedule row) through executemany of the same upsert, which takes one round trip."""


def execute(connection: Connection, name: str, prepared: PreparedRows) -> int:
    """Upsert prepared rows (`prepare`) inside `connection`'s transaction; returns the rows
    inserted or changed (an unchanged row counts 0).

    A batch is COPied into a temporary staging table (this connection's own, emptied at every
    commit and by the statement that reads it), then one INSERT ... SELECT ... ON CONFLICT
    moves it into the table: the server does the whole page in one statement. The staging
    table's creation is part of the transaction, so a rolled-back page leaves nothing behind."""
    plan = postgres_upsert(name, connection.dialect)
    raw: Any = connection.connection.dbapi_connection
    with raw.cursor() as cursor:
        if len(prepared) < COPY_FROM:
            cursor.executemany(plan.sql, prepared)
            return max(int(cursor.rowcount), 0)
        cursor.execute(plan.create_stage)
        with cursor.copy(plan.copy) as copy:
            for row in prepared:
                copy.write_row(row)
        cursor.execute(plan.move)
        found = cursor.fetchone()
        return int(found[0]) if found else 0
