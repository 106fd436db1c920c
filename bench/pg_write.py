"""PostgreSQL write path benchmark: the same pages of real rows written by each way measured.

`write_ways(source, url)` (part 3 of `python -m bench postgres`) reads the rows of the
tickets-with-events tables of a synced SQLite warehouse and writes them again, in pages of PAGE_ROWS rows per table, one transaction per page, into:

- SQLite (the driver's executemany, as deskpulse writes it), the reference;
- PostgreSQL, each way in its own fresh schema:
  `copy`: deskpulse's path (`sync.pg_write`): COPY into a temporary staging table, then one
  INSERT ... SELECT ... ON CONFLICT per page;
  `executemany`: the same INSERT ... ON CONFLICT, prepared once, every row through psycopg's
  pipelined executemany (measured and retired: docs/decisions/postgres-write-path.md);
  `sqlalchemy`: the statement deskpulse ran before (SQLAlchemy's insert ... on_conflict_do_update
  ... returning, executed with the page's rows).

Each way writes the pages twice (a first sync, then the same data again, which must write
nothing), DESKPULSE_BENCH_REPEAT times (default 3, the ways in turn), and prints the median
seconds, rows/s, and the ratio to SQLite, and the CPU seconds of both rounds: this process's
plus those of the PostgreSQL server process serving it (read from /proc: the server runs on
this machine), the figure a busy machine distorts least. Every PostgreSQL way must leave
the same rows (compared by an md5 over each table's rows) and count the same written rows.

Schemas it makes are dropped at the end.
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, create_engine, or_, select, text
from sqlalchemy.dialects import postgresql

from bench.common import fresh_db
from bench.fleet_harness import pg_schema
from bench.zendesk_sync import _child_cpu_s, _env_int
from deskpulse.sync import pg_write
from deskpulse.sync.warehouse import Warehouse, table, upsert

PAGE_ROWS = 1000
TABLES = ("agents", "customers", "tickets", "ticket_events")


def postgres_url() -> str | None:
    return os.environ.get("DESKPULSE_BENCH_POSTGRES_URL") or os.environ.get(
        "DESKPULSE_TEST_POSTGRES_URL"
    )


def _sqlalchemy_upsert(connection: Connection, name: str, rows: list[dict[str, Any]]) -> int:
    """The PostgreSQL upsert deskpulse ran before `sync.pg_write` (kept here to compare)."""
    target = table(name)
    columns = [c.name for c in target.columns]
    key = [c.name for c in target.primary_key.columns]
    unique = {tuple(row.get(k) for k in key): row for row in rows}
    prepared = [{c: row.get(c) for c in columns} for row in unique.values()]
    insert = postgresql.insert(target)
    excluded = insert.excluded
    statement = insert.on_conflict_do_update(
        index_elements=key,
        set_={c: excluded[c] for c in columns if c not in key},
        where=or_(*(target.c[c].is_distinct_from(excluded[c]) for c in columns if c not in key)),
    ).returning(target.c[key[0]])
    return len(connection.execute(statement, prepared).all())


def _executemany_upsert(connection: Connection, name: str, rows: list[dict[str, Any]]) -> int:
    """The same upsert statement, every row through psycopg's pipelined executemany."""
    plan = pg_write.postgres_upsert(name, connection.dialect)
    raw: Any = connection.connection.dbapi_connection
    with raw.cursor() as cursor:
        cursor.executemany(plan.sql, pg_write.prepare(name, connection.dialect, rows))
        return max(int(cursor.rowcount), 0)


def _deskpulse_upsert(connection: Connection, name: str, rows: list[dict[str, Any]]) -> int:
    return upsert(connection, name, rows)


WAYS: dict[str, Callable[[Connection, str, list[dict[str, Any]]], int]] = {
    "copy": _deskpulse_upsert,
    "executemany": _executemany_upsert,
    "sqlalchemy": _sqlalchemy_upsert,
}


def _pages(rows: dict[str, list[dict[str, Any]]]) -> list[tuple[str, list[dict[str, Any]]]]:
    return [
        (name, rows[name][start : start + PAGE_ROWS])
        for name in TABLES
        for start in range(0, len(rows[name]), PAGE_ROWS)
    ]


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _write(url: str, way: Callable[..., int], pages: list[Any]) -> tuple[list[float], list[int]]:
    """Write the pages twice into the warehouse at `url`: ([first s, again s, CPU s of this
    process and of the PostgreSQL server process serving it, for both rounds], written)."""
    warehouse = Warehouse(url)
    warehouse.ensure_schema()
    seconds, written = [], []
    backends: set[int] = set()
    cpu = _own_cpu()
    for _round in range(2):
        started = time.perf_counter()
        total = 0
        for name, page in pages:
            with warehouse.begin() as connection:
                total += way(connection, name, page)
                if warehouse.dialect == "postgresql":
                    raw: Any = connection.connection.dbapi_connection
                    backends.add(raw.info.backend_pid)
        seconds.append(time.perf_counter() - started)
        written.append(total)
    # A pooled connection's server process lives on until dispose: read its CPU first.
    seconds.append(_own_cpu() - cpu + sum(_child_cpu_s(pid) or 0.0 for pid in backends))
    warehouse.dispose()
    return seconds, written


def _fingerprint(url: str) -> dict[str, str]:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = {
            name: str(
                connection.execute(
                    text(f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM \"{name}\" t")
                ).scalar_one()
            )
            for name in TABLES
        }
    engine.dispose()
    return found


def write_ways(source: Warehouse, url: str) -> None:
    """Write the rows of `source`'s TABLES again, by each way, and print the figures."""
    with source.connect() as connection:
        rows = {
            name: [dict(r._mapping) for r in connection.execute(select(table(name)))]
            for name in TABLES
        }
    pages = _pages(rows)
    n = sum(len(page) for _name, page in pages)
    print(f"  {n:,} rows ({', '.join(f'{k} {len(v):,}' for k, v in rows.items())}), "
          f"{len(pages)} pages of up to {PAGE_ROWS:,} rows")  # fmt: skip
    repeat = max(_env_int("DESKPULSE_BENCH_REPEAT", 3), 1)
    print(f"  median of {repeat} runs each, the ways in turn (a busy machine slows them alike)")
    seconds: dict[str, list[list[float]]] = {"sqlite": []}
    counts: dict[str, list[int]] = {}
    prints: set[tuple[tuple[str, str], ...]] = set()
    for _ in range(repeat):
        timed, counts["sqlite"] = _write(fresh_db("pgwrite-target.db"), _deskpulse_upsert, pages)
        seconds["sqlite"].append(timed)
        for label, way in WAYS.items():
            with pg_schema(url, prefix=f"bench_{label}_") as schema_url:
                timed, counts[label] = _write(schema_url, way, pages)
                prints.add(tuple(sorted(_fingerprint(schema_url).items())))
            seconds.setdefault(label, []).append(timed)
    first = {k: statistics.median(v[0] for v in runs) for k, runs in seconds.items()}
    again = {k: statistics.median(v[1] for v in runs) for k, runs in seconds.items()}
    cpu = {k: statistics.median(v[2] for v in runs) for k, runs in seconds.items()}
    for label in seconds:
        print(
            f"    {label:<12} first {first[label]:6.2f} s ({n / first[label]:9,.0f} rows/s, "
            f"{first[label] / first['sqlite']:4.2f}x SQLite)  again {again[label]:6.2f} s "
            f"({again[label] / again['sqlite']:4.2f}x)  CPU {cpu[label]:5.2f} s "
            f"({cpu[label] / cpu['sqlite']:4.2f}x)  written {counts[label]}"
            + ("" if counts[label] == counts["sqlite"] else "  MISMATCH with SQLite's counts")
        )
    print(f"  {'PASS' if len(prints) == 1 else 'FAIL'} every PostgreSQL way left the same rows")
