"""Streams read side by side (each in its own thread, the engine committing their pages as they
come), on SQLite and PostgreSQL; and a sync leaves the process as it found it (a daemon runs
syncs in one process for months)."""

from __future__ import annotations

import gc
import multiprocessing
import threading
import time
from typing import Any

from sqlalchemy import select

from deskpulse.sync.engine import load_cursors, run_sync
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


def test_a_sync_leaves_the_process_as_it_found_it(warehouse: Warehouse) -> None:
    thresholds, collecting = gc.get_threshold(), gc.isenabled()
    threads = threading.active_count()
    streams = [
        FakeStream("tickets", pages_of(60, 10), after=()),
        FakeStream("events", [[ticket(n)] for n in range(100, 130)], after=()),
    ]
    report = run_sync(warehouse, FakeConnector(*streams), parallel=2)
    assert report.status == "ok" and report.written == 90
    assert (gc.get_threshold(), gc.isenabled()) == (thresholds, collecting)
    assert multiprocessing.active_children() == []  # nothing forked or spawned
    deadline = time.monotonic() + 5
    while threading.active_count() > threads and time.monotonic() < deadline:
        time.sleep(0.01)  # the readers end as their streams end
    assert threading.active_count() == threads


def test_streams_read_side_by_side_write_what_one_at_a_time_writes(tmp_path, warehouse):
    def streams():
        return [
            FakeStream("tickets", pages_of(60, 10), after=()),
            FakeStream("events", [[ticket(n)] for n in range(100, 160)], after=()),
        ]

    one, both = fresh(tmp_path, "one.db"), warehouse
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


def test_a_failing_stream_leaves_the_one_beside_it_running(warehouse):
    from deskpulse.connectors.errors import RetriesExhausted

    failing = FakeStream("tickets", [*pages_of(20, 10), RetriesExhausted("503 x6")], after=())
    other = FakeStream("events", [[ticket(n)] for n in range(100, 140)], after=())
    report = run_sync(warehouse, FakeConnector(failing, other), parallel=2)
    by_name = {s.name: s for s in report.streams}
    assert by_name["tickets"].status == "failed" and by_name["events"].status == "ok"
    assert load_cursors(warehouse, "fake") == {"tickets": 2, "events": 40}
    assert report.status == "partial"


def test_a_fatal_error_stops_the_streams_beside_it(warehouse):
    from deskpulse.connectors.errors import AuthError

    slow = FakeStream("events", [[ticket(n)] for n in range(100, 10_100)], after=())
    fatal = FakeStream("tickets", [AuthError("zendesk: authentication failed (401)")], after=())
    later = FakeStream("calls", pages_of(5, 5), after=("tickets",))
    report = run_sync(warehouse, FakeConnector(slow, fatal, later), parallel=2)
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
    assert (by_name["tickets"].error or "").startswith(
        "this is a bug in the fake connector (stream tickets): AttributeError: 'NoneType' object "
        "has no attribute 'lower' at id="
    )
    assert by_name["events"].status == "ok" and by_name["events"].written == 10
    assert load_cursors(warehouse, "fake") == {"events": 10}
    assert run_row(warehouse, report.run_id).status == "partial"
