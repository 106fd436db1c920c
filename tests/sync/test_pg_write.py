"""The bulk write path (COPY into a staging table on PostgreSQL, executemany on SQLite): the
same upsert contract as small batches, on both databases; and the planner statistics a sync
refreshes on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, func, or_, select, text
from sqlalchemy.dialects import postgresql

import deskpulse.sync.ledger as ledger_module
from deskpulse.sync import pg_write
from deskpulse.sync.engine import run_sync
from deskpulse.sync.warehouse import Warehouse, table, upsert
from tests.sync.fakes import FakeConnector, FakeStream, pages_of

BULK = pg_write.COPY_FROM + 10


def tickets(n: int, start: int = 0, **fields: Any) -> list[dict[str, Any]]:
    return [
        {
            "source": "zendesk",
            "id": str(i),
            "created_at": datetime(2026, 3, 1, 9, tzinfo=UTC) + timedelta(minutes=i),
            "status": "open",
            "extra": {"via": "email", "n": i},
            **fields,
        }
        for i in range(start, start + n)
    ]


def stored(warehouse: Warehouse) -> dict[str, dict[str, Any]]:
    with warehouse.connect() as connection:
        rows = connection.execute(select(table("tickets"))).mappings().all()
    return {row["id"]: dict(row) for row in rows}


def test_a_bulk_batch_inserts_updates_only_changed_rows_and_counts_them(
    warehouse: Warehouse,
) -> None:
    with warehouse.begin() as connection:
        assert upsert(connection, "tickets", tickets(BULK)) == BULK
    with warehouse.begin() as connection:
        assert upsert(connection, "tickets", tickets(BULK)) == 0  # nothing changed
    again = tickets(BULK)
    for row in again[:7]:
        row["status"] = "solved"
    again[7]["extra"] = {"via": "web"}
    with warehouse.begin() as connection:  # 8 changed, 3 new
        assert upsert(connection, "tickets", again + tickets(3, start=BULK)) == 11
    rows = stored(warehouse)
    assert len(rows) == BULK + 3
    assert [rows[str(i)]["status"] for i in range(9)] == ["solved"] * 7 + ["open"] * 2
    assert rows["7"]["extra"] == {"via": "web"}
    assert rows["8"]["extra"] == {"via": "email", "n": 8}


def test_a_bulk_batch_keeps_the_last_of_a_repeated_key_and_stores_utc(
    warehouse: Warehouse,
) -> None:
    batch = tickets(BULK)
    batch[3]["created_at"] = datetime(2026, 3, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    batch[4]["created_at"] = datetime(2026, 3, 1, 12)  # naive: UTC
    batch[5]["extra"] = None
    batch.append({**batch[0], "status": "pending"})
    with warehouse.begin() as connection:
        assert upsert(connection, "tickets", batch) == BULK
    rows = stored(warehouse)
    assert rows["0"]["status"] == "pending"
    assert rows["3"]["created_at"] == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert rows["4"]["created_at"] == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert rows["5"]["extra"] is None
    assert rows["6"]["subject"] is None  # a column the rows leave out


def test_two_bulk_batches_in_one_transaction_and_one_rolled_back(warehouse: Warehouse) -> None:
    with warehouse.begin() as connection:
        assert upsert(connection, "tickets", tickets(BULK)) == BULK
        assert upsert(connection, "tickets", tickets(BULK, start=BULK)) == BULK
    with pytest.raises(RuntimeError), warehouse.begin() as connection:
        upsert(connection, "tickets", tickets(BULK, start=2 * BULK))
        raise RuntimeError("the page's cursor could not be saved")
    assert len(stored(warehouse)) == 2 * BULK  # nothing of the rolled-back page
    with warehouse.begin() as connection:  # the same pooled connection writes on
        assert upsert(connection, "tickets", tickets(BULK, start=2 * BULK)) == BULK
    assert len(stored(warehouse)) == 3 * BULK


def _sqlalchemy_upsert(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """The statement deskpulse wrote PostgreSQL rows with before `sync.pg_write`."""
    target = table("tickets")
    columns = [c.name for c in target.columns]
    key = [c.name for c in target.primary_key.columns]
    insert = postgresql.insert(target)
    statement = insert.on_conflict_do_update(
        index_elements=key,
        set_={c: insert.excluded[c] for c in columns if c not in key},
        where=or_(
            *(target.c[c].is_distinct_from(insert.excluded[c]) for c in columns if c not in key)
        ),
    )
    connection.execute(statement, [{c: row.get(c) for c in columns} for row in rows])


def test_postgres_stores_exactly_the_rows_the_sqlalchemy_statement_stored(
    warehouse: Warehouse,
) -> None:
    if warehouse.dialect != "postgresql":
        pytest.skip("compares PostgreSQL's two write paths")
    batch = tickets(BULK, tags="a b", assignee_id="42")
    batch[1]["extra"] = None  # SQLAlchemy binds JSON null, not SQL NULL
    batch[2]["extra"] = {"nested": {"x": [1, 2.5, None, "é"]}, "t": True}
    batch[3]["solved_at"] = datetime(2026, 3, 2, 1, 2, 3, 456789, tzinfo=UTC)
    mine = [{**row, "source": "mine"} for row in batch]
    with warehouse.begin() as connection:
        _sqlalchemy_upsert(connection, batch)
        upsert(connection, "tickets", mine)  # COPY
        upsert(connection, "tickets", [{**row, "source": "small"} for row in batch[:3]])

    def texts(source: str) -> dict[str, str]:
        """Each row as PostgreSQL's own text of it (every column but the source), by id."""
        with warehouse.connect() as connection:
            found = connection.execute(
                text(
                    "SELECT id, (to_jsonb(tickets) - 'source')::text FROM tickets "
                    "WHERE source = :source"
                ),
                {"source": source},
            )
            return {row[0]: row[1] for row in found}

    before = texts("zendesk")
    assert len(before) == BULK
    assert texts("mine") == before
    assert texts("small") == {id_: before[id_] for id_ in ("0", "1", "2")}
    with warehouse.connect() as connection:
        nulls = connection.execute(
            select(func.count())
            .select_from(table("tickets"))
            .where(text("jsonb_typeof(extra) = 'null'"))
        ).scalar_one()
    assert nulls == 3  # one per source


def _has_statistics(warehouse: Warehouse, name: str) -> bool:
    with warehouse.connect() as connection:
        return bool(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stats WHERE schemaname = current_schema() "
                    "AND tablename = :name"
                ),
                {"name": name},
            ).scalar_one()
        )


def test_a_sync_that_wrote_enough_rows_refreshes_postgres_statistics(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    if warehouse.dialect != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    stream = FakeStream("tickets", pages_of(25, 10))
    assert run_sync(warehouse, FakeConnector(stream)).written == 25  # under ANALYZE_AFTER
    assert not _has_statistics(warehouse, "tickets")
    monkeypatch.setattr(ledger_module, "ANALYZE_AFTER", 5)
    assert run_sync(warehouse, FakeConnector(stream), full_refresh=True).written == 0
    assert not _has_statistics(warehouse, "tickets")  # nothing written: nothing to refresh
    more = FakeStream("tickets", pages_of(30, 10))  # 5 new tickets
    assert run_sync(warehouse, FakeConnector(more), full_refresh=True).written == 5
    assert _has_statistics(warehouse, "tickets")
