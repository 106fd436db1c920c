from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

import deskpulse.sync.ledger as ledger_module
from deskpulse.connectors.errors import AuthError, RetriesExhausted, StreamUnavailable
from deskpulse.sync.engine import StopRequested, SyncObserver, load_cursors, run_sync
from deskpulse.sync.state import Quarantine, SyncRun
from deskpulse.sync.warehouse import Warehouse, table
from tests.sync.fakes import Crash, FakeConnector, FakeStream, pages_of, ticket


def ticket_rows(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    tickets = table("tickets")
    with warehouse.connect() as connection:
        return [tuple(r) for r in connection.execute(select(tickets).order_by(tickets.c.id))]


def runs(warehouse: Warehouse) -> list[Any]:
    sync_runs = table(SyncRun.__tablename__)
    with warehouse.connect() as connection:
        return list(connection.execute(select(sync_runs).order_by(sync_runs.c.id)))


def test_each_page_commits_with_its_cursor_and_the_run_is_recorded(warehouse: Warehouse) -> None:
    stream = FakeStream("tickets", pages_of(25, 10))
    report = run_sync(warehouse, FakeConnector(stream))

    assert report.status == "ok"
    assert [(s.name, s.pages, s.rows, s.written) for s in report.streams] == [
        ("tickets", 3, 25, 25)
    ]
    assert len(ticket_rows(warehouse)) == 25
    assert load_cursors(warehouse, "fake") == {"tickets": 3}
    (run,) = runs(warehouse)
    assert (run.status, run.rows, run.quarantined) == ("ok", 25, 0)
    assert run.streams["tickets"]["written"] == 25
    assert run.ended_at >= run.started_at


def test_a_second_run_resumes_from_the_cursor_and_writes_nothing(warehouse: Warehouse) -> None:
    stream = FakeStream("tickets", pages_of(25, 10))
    run_sync(warehouse, FakeConnector(stream))
    again = run_sync(warehouse, FakeConnector(stream))
    assert stream.started_from == [None, 3]
    assert again.written == 0


def test_full_refresh_rereads_everything_without_duplicating(warehouse: Warehouse) -> None:
    stream = FakeStream("tickets", pages_of(25, 10))
    run_sync(warehouse, FakeConnector(stream))
    before = ticket_rows(warehouse)
    again = run_sync(warehouse, FakeConnector(stream), full_refresh=True)
    assert stream.started_from == [None, None]
    assert (again.rows, again.written) == (25, 0)
    assert ticket_rows(warehouse) == before


def test_crash_between_pages_resumes_with_nothing_lost_or_duplicated(
    warehouse: Warehouse, tmp_path
) -> None:
    script: list[Any] = pages_of(40, 10)
    script.insert(2, Crash())  # dies fetching the third page
    crashing = FakeStream("tickets", script)
    with pytest.raises(Crash):
        run_sync(warehouse, FakeConnector(crashing))
    assert len(ticket_rows(warehouse)) == 20
    assert load_cursors(warehouse, "fake") == {"tickets": 2}

    report = run_sync(warehouse, FakeConnector(crashing))
    assert crashing.started_from == [None, 2]
    assert report.status == "ok"

    clean = Warehouse(f"sqlite:///{tmp_path / 'clean.db'}")
    run_sync(clean, FakeConnector(FakeStream("tickets", pages_of(40, 10))))
    assert ticket_rows(warehouse) == ticket_rows(clean)
    statuses = [r.status for r in runs(warehouse)]
    assert statuses == ["interrupted", "ok"]


class StopAfter(SyncObserver):
    """Raises `cause` once `pages` pages are committed (SIGTERM in the daemon, Ctrl-C)."""

    def __init__(self, pages: int, cause: BaseException) -> None:
        self.pages, self.cause, self.seen = pages, cause, 0

    def page_committed(self, source: str, stream: str, report: Any) -> None:
        self.seen += 1
        if self.seen == self.pages:
            raise self.cause


@pytest.mark.parametrize(
    ("cause", "why"),
    [
        (StopRequested(), "the daemon is shutting down"),
        (KeyboardInterrupt(), "interrupted (Ctrl-C)"),
    ],
)
def test_a_stopped_sync_is_recorded_stopped_with_what_it_committed(
    warehouse: Warehouse, cause: BaseException, why: str
) -> None:
    stream = FakeStream("tickets", pages_of(40, 10))
    with pytest.raises(type(cause)):
        run_sync(warehouse, FakeConnector(stream), observer=StopAfter(2, cause))
    (run,) = runs(warehouse)  # never left `running`
    assert (run.status, run.rows) == ("stopped", 20) and run.ended_at >= run.started_at
    assert run.message == f"stopped: {why}; 20 rows committed, the next run goes on from there"
    assert run.streams["tickets"]["status"] == "stopped"
    assert load_cursors(warehouse, "fake") == {"tickets": 2}
    assert len(ticket_rows(warehouse)) == 20

    again = run_sync(warehouse, FakeConnector(stream))
    assert stream.started_from == [None, 2] and again.status == "ok"
    assert [r.status for r in runs(warehouse)] == ["stopped", "ok"]


def fail_second_cursor_save(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """Page 2's rows are upserted, then saving its cursor raises `error` (same transaction)."""
    real_save = ledger_module.save_cursor
    calls = {"n": 0}

    def failing_save(connection: Any, source: str, stream: str, cursor: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise error
        real_save(connection, source, stream, cursor)

    monkeypatch.setattr(ledger_module, "save_cursor", failing_save)


def test_crash_inside_a_page_transaction_rolls_the_whole_page_back(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_second_cursor_save(monkeypatch, Crash())  # the process dies mid-transaction
    stream = FakeStream("tickets", pages_of(30, 10))
    with pytest.raises(Crash):
        run_sync(warehouse, FakeConnector(stream))
    assert len(ticket_rows(warehouse)) == 10  # page 2's upserts went with its transaction
    assert load_cursors(warehouse, "fake") == {"tickets": 1}

    run_sync(warehouse, FakeConnector(stream))
    assert stream.started_from == [None, 1]
    assert [r[1] for r in ticket_rows(warehouse)] == sorted(str(n) for n in range(30))


def test_a_refused_write_stops_the_stream_at_its_last_commit(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_second_cursor_save(monkeypatch, OSError("database or disk is full"))
    report = run_sync(warehouse, FakeConnector(FakeStream("tickets", pages_of(30, 10))))
    assert report.status == "failed"  # its one stream failed, whatever it committed first
    (stream,) = report.streams
    assert stream.status == "failed" and stream.pages == 1 and stream.written == 10
    assert stream.error == (
        "tickets: the warehouse refused a page (OSError: database or disk is full); "
        "nothing after the last committed page was recorded"
    )
    assert len(ticket_rows(warehouse)) == 10
    assert load_cursors(warehouse, "fake") == {"tickets": 1}


def test_bad_records_are_quarantined_and_the_rest_goes_on(warehouse: Warehouse) -> None:
    page = [ticket(1), ticket(2, channel="carrier pigeon"), ticket(3, unmappable=True), ticket(4)]
    report = run_sync(warehouse, FakeConnector(FakeStream("tickets", [page])))

    assert report.status == "partial"
    assert report.quarantined == 2
    assert [r[1] for r in ticket_rows(warehouse)] == ["1", "4"]
    q = table(Quarantine.__tablename__)
    with warehouse.connect() as connection:
        rows = connection.execute(select(q).order_by(q.c.id)).all()
    assert [r.reason for r in rows] == [
        "channel: unknown value 'carrier pigeon' (expected one of api, chat, email, facebook, "
        "instagram, other, phone, sms, twitter, web, whatsapp)",
        "ticket 3: cannot map",
    ]
    assert rows[0].payload["channel"] == "carrier pigeon"
    assert rows[0].location == "id=2"
    assert rows[0].run_id == report.run_id


class BuggyStream(FakeStream):
    """Maps like FakeStream, but its normaliser has a bug for records marked `bug`."""

    def __init__(self, name: str, script: Any, error: Exception) -> None:
        super().__init__(name, script)
        self.error = error

    def normalise(self, record: dict[str, Any]) -> Any:
        if record.get("bug"):
            raise self.error
        return super().normalise(record)


@pytest.mark.parametrize(
    "error",
    [KeyError("via"), ValueError("invalid literal for int()"), TypeError("'NoneType' object")],
    ids=["KeyError", "ValueError", "TypeError"],
)
def test_a_normaliser_bug_stops_the_stream_and_quarantines_nothing(
    warehouse: Warehouse, error: Exception
) -> None:
    good = [ticket(1), ticket(2)]
    bad = [ticket(3), ticket(4, bug=True), ticket(5, unmappable=True)]
    after = [ticket(6)]
    stream = BuggyStream("tickets", [good, bad, after], error)
    other = FakeStream("events", [[ticket(10)]], after=())
    report = run_sync(warehouse, FakeConnector(stream, other))

    by_name = {s.name: s for s in report.streams}
    assert by_name["tickets"].status == "failed"
    assert by_name["tickets"].error == (
        f"this is a bug in the fake connector (stream tickets): {type(error).__name__}: "
        f"{error} at id=4; please report it (the stream stopped at its last committed page)"
    )
    assert by_name["events"].status == "ok"
    assert report.status == "partial"
    assert report.quarantined == 0  # neither the buggy record nor the page's bad one
    # The page with the bug is not committed: its cursor stays at the page before.
    assert load_cursors(warehouse, "fake") == {"tickets": 1, "events": 1}
    assert [r[1] for r in ticket_rows(warehouse)] == ["1", "10", "2"]
    q = table(Quarantine.__tablename__)
    with warehouse.connect() as connection:
        assert connection.execute(select(q)).all() == []


def test_a_lazy_normaliser_quarantines_like_an_eager_one(warehouse: Warehouse) -> None:
    class Lazy(FakeStream):
        def normalise(self, record: dict[str, Any]) -> Any:
            yield from super().normalise(record)  # raises only when read

    report = run_sync(warehouse, FakeConnector(Lazy("tickets", [[ticket(1, unmappable=True)]])))
    assert (report.status, report.quarantined) == ("partial", 1)


def test_an_unavailable_stream_is_skipped_and_the_others_go_on(warehouse: Warehouse) -> None:
    forbidden = FakeStream("calls", [StreamUnavailable("talk is not on this plan (403)")])
    tickets = FakeStream("tickets", pages_of(5, 10))
    report = run_sync(warehouse, FakeConnector(forbidden, tickets))
    assert [(s.name, s.status) for s in report.streams] == [("calls", "skipped"), ("tickets", "ok")]
    assert report.status == "ok"
    assert len(ticket_rows(warehouse)) == 5


def test_a_failing_stream_keeps_its_cursor_at_the_last_commit(warehouse: Warehouse) -> None:
    script: list[Any] = [*pages_of(20, 10), RetriesExhausted("503 after 6 tries")]
    failing = FakeStream("tickets", script)
    other = FakeStream("events", pages_of(3, 10), table="tickets")
    report = run_sync(warehouse, FakeConnector(failing, other))
    assert report.status == "partial"
    assert [(s.name, s.status) for s in report.streams] == [("tickets", "failed"), ("events", "ok")]
    assert load_cursors(warehouse, "fake") == {"tickets": 2, "events": 1}
    assert "503 after 6 tries" in (report.message or "")


def test_a_run_in_which_every_stream_failed_is_failed_not_partial(warehouse: Warehouse) -> None:
    # A vendor down: every request a 503. Recorded `partial`, the daemon never backed the source
    # off and /healthz said ok through the whole outage.
    down = [
        FakeStream(name, [RetriesExhausted(f"zendesk: HTTP 503 from /{name} after 3 attempts")])
        for name in ("tickets", "users")
    ]
    report = run_sync(warehouse, FakeConnector(*down))
    assert [(s.name, s.status) for s in report.streams] == [
        ("tickets", "failed"),
        ("users", "failed"),
    ]
    assert report.status == "failed"
    assert runs(warehouse)[-1].status == "failed"
    assert report.message == (
        "tickets: zendesk: HTTP 503 from /tickets after 3 attempts; "
        "users: zendesk: HTTP 503 from /users after 3 attempts"
    )


def test_a_fatal_error_stops_the_connector_with_its_message(warehouse: Warehouse) -> None:
    bad_key = FakeStream("users", [AuthError("zendesk: authentication failed (401)")])
    never = FakeStream("tickets", pages_of(5, 10))
    report = run_sync(warehouse, FakeConnector(bad_key, never))
    assert report.status == "failed"
    assert report.message == "zendesk: authentication failed (401)"
    assert never.started_from == []
    assert runs(warehouse)[-1].status == "failed"


def test_asking_for_an_unknown_stream_names_the_real_ones(warehouse: Warehouse) -> None:
    from deskpulse.connectors.errors import DeskpulseError

    with pytest.raises(DeskpulseError, match=r"unknown stream nope \(this source has: tickets\)"):
        run_sync(warehouse, FakeConnector(FakeStream("tickets", [])), streams=["nope"])
