"""Where pages are written: in the sync's process, or in a writer process beside it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from sync.engine import WRITER_AFTER_PAGES, load_cursors, run_sync
from sync.ledger import _pack, _unpack
from sync.state import SyncRun
from sync.warehouse import Warehouse, table
from tests.sync.fakes import FakeConnector, FakeStream, pages_of, ticket


def ticket_rows(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    tickets = table("tickets")
    with warehouse.connect() as connection:
        return [tuple(r) for r in connection.execute(select(tickets).order_by(tickets.c.id))]


def run_row(warehouse: Warehouse, run_id: int) -> Any:
    runs = table(SyncRun.__tablename__)
    with warehouse.connect() as connection:
        return connection.execute(select(runs).where(runs.c.id == run_id)).one()


def fresh(tmp_path: Any, name: str) -> Warehouse:
    return Warehouse(f"sqlite:///{tmp_path / name}")


@pytest.mark.parametrize("writer", ["process", "auto"])
def test_a_writer_process_writes_exactly_what_this_process_would(tmp_path, writer):
    script = pages_of(95, 10)  # 10 pages: "auto" moves to a process after WRITER_AFTER_PAGES
    assert len(script) > WRITER_AFTER_PAGES
    here, there = fresh(tmp_path, "inline.db"), fresh(tmp_path, f"{writer}.db")
    inline = run_sync(here, FakeConnector(FakeStream("tickets", script)), writer="inline")
    other = run_sync(there, FakeConnector(FakeStream("tickets", script)), writer=writer)

    assert ticket_rows(there) == ticket_rows(here) and len(ticket_rows(there)) == 95
    assert load_cursors(there, "fake") == load_cursors(here, "fake") == {"tickets": 10}
    (a,), (b,) = inline.streams, other.streams
    assert (b.pages, b.records, b.rows, b.written) == (a.pages, a.records, a.rows, a.written)
    assert (b.pages, b.written) == (10, 95)
    row = run_row(there, other.run_id)
    assert row.status == "ok" and row.rows == 95 and row.streams["tickets"]["written"] == 95


def test_a_refused_page_in_the_writer_process_stops_the_stream_at_its_last_commit(tmp_path):
    warehouse = fresh(tmp_path, "w.db")
    warehouse.ensure_schema()
    with warehouse.begin() as connection:  # the writer process hits this, not the test
        connection.execute(
            text(
                "CREATE TRIGGER full_disk BEFORE INSERT ON tickets WHEN NEW.id = '25' "
                "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
            )
        )
    stream = FakeStream("tickets", pages_of(60, 10))
    report = run_sync(warehouse, FakeConnector(stream), writer="process")

    (result,) = report.streams
    assert result.status == "failed" and result.pages == 2 and result.written == 20
    assert "the warehouse refused a page" in (result.error or "")
    assert "database or disk is full" in (result.error or "")
    # Pages 4-6 were already on their way: none of them may commit past the failed page 3.
    assert [r[1] for r in ticket_rows(warehouse)] == sorted(str(n) for n in range(20))
    assert load_cursors(warehouse, "fake") == {"tickets": 2}
    assert report.status == "partial"
    assert run_row(warehouse, report.run_id).streams["tickets"]["pages"] == 2


def test_in_memory_sqlite_writes_in_this_process():
    warehouse = Warehouse("sqlite://")
    report = run_sync(warehouse, FakeConnector(FakeStream("tickets", pages_of(30, 5))))
    assert report.status == "ok" and report.streams[0].written == 30


def test_messages_keep_their_values_exactly():
    aware = datetime(2026, 3, 1, 12, 30, 5, 7, tzinfo=UTC)
    commit = {"tables": {"tickets": [["zendesk", "1", aware, True, None, 1.5]]}, "n": 2**70}
    for message in (("stream", {"name": "x", "rows": 3}), ("commit", commit)):
        assert _unpack(_pack(message)) in (message, list(message))
    naive = ("commit", {"tables": {"t": [{"at": datetime(2026, 3, 1)}]}})
    assert _unpack(_pack(naive))[1]["tables"]["t"][0]["at"] == datetime(2026, 3, 1)


def test_unknown_writer_is_refused(tmp_path):
    with pytest.raises(ValueError, match="writer must be one of"):
        run_sync(fresh(tmp_path, "x.db"), FakeConnector(), writer="threads")


def test_bad_records_still_quarantine_in_process_mode(tmp_path):
    warehouse = fresh(tmp_path, "q.db")
    page = [ticket(1), ticket(2, unmappable=True), ticket(3)]
    report = run_sync(warehouse, FakeConnector(FakeStream("tickets", [page] * 6)), writer="process")
    assert report.quarantined == 6 and report.status == "partial"
    assert [r[1] for r in ticket_rows(warehouse)] == ["1", "3"]
