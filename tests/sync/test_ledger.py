"""Where pages are written: in the sync's process, or in a writer process beside it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from deskpulse.sync.engine import WRITER_AFTER_PAGES, load_cursors, run_sync
from deskpulse.sync.ledger import _pack, _unpack
from deskpulse.sync.state import SyncRun
from deskpulse.sync.warehouse import Warehouse, table
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
    row = {"source": "zendesk", "id": "1", "at": aware, "ok": True, "x": None, "f": 1.5}
    commit = {"tables": {"tickets": [row]}, "n": 2**70}
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


# --- streams side by side ----------------------------------------------------------------------


def test_streams_read_side_by_side_write_what_one_at_a_time_writes(tmp_path):
    def streams():
        return [
            FakeStream("tickets", pages_of(60, 10), after=()),
            FakeStream("events", [[ticket(n)] for n in range(100, 160)], after=()),
        ]

    one, both = fresh(tmp_path, "one.db"), fresh(tmp_path, "both.db")
    alone = run_sync(one, FakeConnector(*streams()), parallel=1)
    side = run_sync(both, FakeConnector(*streams()), parallel=2)
    assert ticket_rows(both) == ticket_rows(one) and len(ticket_rows(both)) == 120
    assert load_cursors(both, "fake") == load_cursors(one, "fake") == {"tickets": 6, "events": 60}
    assert [(s.name, s.status, s.pages, s.written) for s in side.streams] == [
        (s.name, s.status, s.pages, s.written) for s in alone.streams
    ]


def test_a_stream_waits_for_the_streams_it_comes_after(tmp_path):
    log: list[str] = []
    users = FakeStream("users", pages_of(100, 10), after=())
    events = FakeStream("events", [[ticket(n)] for n in range(100, 105)], after=("users",))
    calls = FakeStream("calls", [[ticket(n)] for n in range(200, 230)], after=())
    for stream in (users, events, calls):
        stream.log = log
    report = run_sync(fresh(tmp_path, "w.db"), FakeConnector(users, events, calls), parallel=3)
    assert report.status == "ok"
    assert log.index("events starts") > log.index("users ends")
    assert log.index("calls starts") < log.index("users ends")  # it did not wait its turn
    assert [s.name for s in report.streams] == ["users", "calls", "events"]


def test_a_failing_stream_leaves_the_one_beside_it_running(tmp_path):
    from deskpulse.connectors.errors import RetriesExhausted

    failing = FakeStream("tickets", [*pages_of(20, 10), RetriesExhausted("503 x6")], after=())
    other = FakeStream("events", [[ticket(n)] for n in range(100, 140)], after=())
    warehouse = fresh(tmp_path, "w.db")
    report = run_sync(warehouse, FakeConnector(failing, other), parallel=2)
    by_name = {s.name: s for s in report.streams}
    assert by_name["tickets"].status == "failed" and by_name["events"].status == "ok"
    assert load_cursors(warehouse, "fake") == {"tickets": 2, "events": 40}
    assert report.status == "partial"


def test_a_fatal_error_stops_the_streams_beside_it(tmp_path):
    from deskpulse.connectors.errors import AuthError

    slow = FakeStream("events", [[ticket(n)] for n in range(100, 10_100)], after=())
    fatal = FakeStream("tickets", [AuthError("zendesk: authentication failed (401)")], after=())
    later = FakeStream("calls", pages_of(5, 5), after=("tickets",))
    report = run_sync(fresh(tmp_path, "w.db"), FakeConnector(slow, fatal, later), parallel=2)
    by_name = {s.name: s for s in report.streams}
    assert report.status == "failed" and "authentication failed" in (report.message or "")
    assert by_name["tickets"].status == "failed"
    assert by_name["events"].status == "failed"
    assert by_name["events"].error == "stopped: zendesk: authentication failed (401)"
    assert by_name["events"].pages < 10_000  # it stopped early, with what it committed kept
    assert "calls" not in by_name  # never started


def test_a_bug_while_mapping_fails_that_stream_only(tmp_path):
    class Buggy(FakeStream):
        def normalise(self, record):
            raise AttributeError("'NoneType' object has no attribute 'lower'")

    buggy = Buggy("tickets", pages_of(20, 10), after=())
    other = FakeStream("events", [[ticket(n)] for n in range(100, 110)], after=())
    warehouse = fresh(tmp_path, "w.db")
    report = run_sync(warehouse, FakeConnector(buggy, other), parallel=2)
    by_name = {s.name: s for s in report.streams}
    assert by_name["tickets"].status == "failed"
    assert (by_name["tickets"].error or "").startswith("internal error (AttributeError")
    assert by_name["events"].status == "ok" and by_name["events"].written == 10
    assert load_cursors(warehouse, "fake") == {"events": 10}
    assert run_row(warehouse, report.run_id).status == "partial"
