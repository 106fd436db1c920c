"""The planned first sync of ticket events (connectors.zendesk.backfill) against the sandbox.

* the same sandbox synced through the backfill (event export + ticket audits + archived tickets
  one by one) and through the event export alone: identical tables and identical KPI values;
* the hand-over: the history before T0 is in when the backfill's sync ends, and the next sync
  brings the rest from the export alone; events written while the backfill runs arrive, once,
  with it; a backfill killed in the middle resumes its plan from the committed cursor and ends
  identical, still reading archived tickets one by one when its tickets stream had already ended
  (the search names them);
* the search names the archived tickets page by page, across its 1,000-result cap and tickets
  closed in the same second, each read once; a search that fails leaves them to the export;
  tickets it missed are read once the tickets stream names them, and kept in the cursor until
  they are; 5xx, 429s and broken bodies on the account side lose nothing;
* the planner's choices for each plan's budgets, for small accounts and without budgets;
* `deskpulse status` shows a running backfill's progress and estimated end.

The sandbox runs with a plan's budgets and a time scale of 60 (a rate-limit minute lasts a
second), and the connector paces itself with the sandbox's window, as against Zendesk.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest

from deskpulse.connectors.errors import BadResponse
from deskpulse.connectors.http import HttpClient, RateLimiter
from deskpulse.connectors.records import Record
from deskpulse.connectors.zendesk import ZendeskConfig, ZendeskConnector, backfill_state
from deskpulse.connectors.zendesk import backfill as backfill_mod
from deskpulse.connectors.zendesk import records as zr
from deskpulse.connectors.zendesk.backfill import (
    AuditPage,
    Backfill,
    Budgets,
    ClosedTickets,
    Frontier,
    SearchPage,
    choose,
    pages_left,
)
from deskpulse.kpi_core.engine import compute
from deskpulse.kpi_core.registry import KpiQuery
from deskpulse.sandbox.limits import Faults
from deskpulse.sync.engine import SyncObserver

server = pytest.importorskip("deskpulse.sandbox.server")
zendesk_sandbox = pytest.importorskip("deskpulse.sandbox.zendesk")
engine = pytest.importorskip("deskpulse.sync.engine")
warehouse_mod = pytest.importorskip("deskpulse.sync.warehouse")

from tests.connectors.sandbox_runs import KillAfter, Killed, dump  # noqa: E402

SEED = 5
TICKETS = 1200
SCALE = 60.0
CORE = ["users", "tickets", "ticket_events"]
PER_TICKET = "GET /api/v2/tickets/{id}/audits"
EXPORT = "incremental"  # the event export's budget


def limited(incremental: int = 2) -> Any:
    # A small incremental budget makes the export the slow side, as on a big account: the
    # audits and the archived tickets then read most of the history.
    return zendesk_sandbox.RateLimits(account=400, incremental_exports=incremental)


def connector(sb: Any, history: str, **options: Any) -> ZendeskConnector:
    config = ZendeskConfig(
        base_url=sb.base_url, email="agent@sandbox.test", api_token="sandbox-token"
    )
    options.setdefault("rate_window", 60.0 / SCALE)
    return ZendeskConnector("zendesk", config, history=history, **options)


def sync(sb: Any, tmp_path: Any, name: str, history: str, **options: Any) -> Any:
    # A fresh connector knows nothing of what an earlier one spent: start in a fresh window.
    time.sleep(60.0 / SCALE)
    warehouse = warehouse_mod.Warehouse(f"sqlite:///{tmp_path / name}.db")
    warehouse.ensure_schema()
    report = engine.run_sync(warehouse, connector(sb, history, **options), streams=CORE)
    assert report.status == "ok", report.message
    return warehouse


def next_sync(sb: Any, warehouse: Any, streams: list[str] = CORE) -> None:
    """The sync after a backfill: the event export alone, from T0 (the hand-over)."""
    time.sleep(60.0 / SCALE)  # a fresh window (see sync)
    before = sb.stats.snapshot()["requests"]
    report = engine.run_sync(warehouse, connector(sb, "auto"), streams=streams)
    assert report.status == "ok", report.message
    after = sb.stats.snapshot()["requests"]
    for key in ("GET /api/v2/ticket_audits", PER_TICKET, "GET /api/v2/search"):
        assert after.get(key) == before.get(key), f"{key} asked for after the hand-over"


def kpis(warehouse: Any) -> list[tuple[str, Any, Any]]:
    query = KpiQuery(start=datetime(2025, 11, 1, tzinfo=UTC), end=datetime(2026, 11, 2, tzinfo=UTC))
    with warehouse.connect() as connection:
        values = compute(connection, None, query)
    return [(v.metric, repr(v.group), v.value) for v in values]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    with server.SandboxServer(
        seed=SEED, tickets=TICKETS, rate_limit=limited(), time_scale=SCALE
    ) as sb:
        yield sb


@pytest.fixture(scope="module")
def incremental_only(sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    sandbox.stats.clear()
    warehouse = sync(sandbox, tmp_path_factory.mktemp("inc"), "incremental", "incremental")
    assert not any("audits" in k for k in sandbox.stats.snapshot()["requests"])
    return warehouse


def test_backfill_and_the_export_alone_give_identical_rows_and_kpis(
    sandbox, incremental_only, tmp_path
):
    sandbox.stats.clear()
    warehouse = sync(sandbox, tmp_path, "backfill", "audits")
    stats = sandbox.stats.snapshot()
    requests = stats["requests"]
    # Both ways of reading history were used: audits newest first, archived tickets one by one.
    assert requests["GET /api/v2/ticket_audits"]["200"] > 10
    assert requests[PER_TICKET]["200"] > 10
    assert stats["by_status"].get("429", 0) == 0, {k: v for k, v in requests.items() if "429" in v}
    with warehouse.connect() as connection:
        cursor = engine.load_cursor(connection, "zendesk", "ticket_events")
    assert set(cursor) == {"start_time"}  # handed over to the export, from T0

    # The history before T0 is in when the backfill's sync ends; the next sync brings the rest.
    def before_t0(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rows if r["created_at"].timestamp() < cursor["start_time"]]

    expected = dump(incremental_only)
    history = before_t0(dump(warehouse)["ticket_events"])
    assert history == before_t0(expected["ticket_events"])
    assert len(history) > 5_000
    next_sync(sandbox, warehouse)
    assert dump(warehouse) == expected
    assert kpis(warehouse) == kpis(incremental_only)


def test_events_written_during_the_backfill_arrive_once(tmp_path):
    with server.SandboxServer(
        seed=SEED + 1, tickets=600, rate_limit=limited(1), time_scale=SCALE
    ) as sb:
        client = sb.client()
        written: list[int] = []

        class WriteDuring(SyncObserver):
            def page_committed(self, source: str, stream: str, report: Any) -> None:
                if stream == "ticket_events" and report.pages in (2, 4):
                    body = {"ticket": {"status": "pending", "comment": {"body": "during"}}}
                    ticket = 590 - report.pages
                    client.put(f"/api/v2/tickets/{ticket}.json", json=body).raise_for_status()
                    written.append(ticket)

        warehouse = warehouse_mod.Warehouse(f"sqlite:///{tmp_path / 'during'}.db")
        warehouse.ensure_schema()
        report = engine.run_sync(
            warehouse, connector(sb, "audits"), streams=CORE, observer=WriteDuring()
        )
        assert report.status == "ok", report.message
        assert len(written) == 2
        next_sync(sb, warehouse)
        # A fresh sync of the export alone, after the writes, is what the warehouse must hold.
        after = sync(sb, tmp_path, "after", "incremental")
        rows = dump(warehouse)
        assert rows["ticket_events"] == dump(after)["ticket_events"]
        during = [r for r in rows["ticket_events"] if int(r["ticket_id"]) in written]
        assert sum(1 for r in during if r["status"] == "pending") >= 2


def test_a_backfill_through_faults_on_the_account_side_loses_nothing(incremental_only, tmp_path):
    # 5xx, 429s, truncated and malformed bodies on the audits, the archived tickets and the
    # search (the tickets stream is not in the run, so the search names the archived tickets):
    # each is retried, and the ticket events end as the export alone reads them.
    faults = Faults(
        error_rate=0.1,
        truncate_rate=0.05,
        malformed_rate=0.05,
        seed=7,
        paths=("/api/v2/ticket_audits", "/api/v2/tickets/", "/api/v2/search"),
    )
    with server.SandboxServer(
        seed=SEED, tickets=TICKETS, rate_limit=limited(1), time_scale=SCALE, faults=faults
    ) as sb:
        warehouse = warehouse_mod.Warehouse(f"sqlite:///{tmp_path / 'faults'}.db")
        warehouse.ensure_schema()
        faulty = connector(sb, "audits")
        report = engine.run_sync(warehouse, faulty, streams=["users", "ticket_events"])
        assert report.status == "ok", report.message
        searched = sb.stats.snapshot()["requests"]["GET /api/v2/search"]
        next_sync(sb, warehouse, ["users", "ticket_events"])
    # Some answers were broken (a fifth of about 40 at least; how many depends on the threads'
    # order) and retried; the search named archived tickets.
    assert faulty.stats.retries > 0 and sum(searched.values()) >= 1
    assert dump(warehouse)["ticket_events"] == dump(incremental_only)["ticket_events"]


def test_a_backfill_killed_in_the_middle_resumes_its_plan(sandbox, incremental_only, tmp_path):
    warehouse = warehouse_mod.Warehouse(f"sqlite:///{tmp_path / 'killed'}.db")
    warehouse.ensure_schema()
    time.sleep(60.0 / SCALE)  # a fresh window (see sync)
    killed = KillAfter(connector(sandbox, "audits"), 6, only="ticket_events")
    with pytest.raises(Killed):
        engine.run_sync(warehouse, killed, streams=CORE)
    # As a killed process would, the dead run sends nothing more: its other streams' threads may
    # still wait on the budget, and their requests would land in the next run's window.
    killed.close()
    with warehouse.connect() as connection:
        cursor = engine.load_cursor(connection, "zendesk", "ticket_events")
    frontier = Frontier.load(cursor["backfill"])
    assert frontier is not None and 0 < cursor["backfill"]["progress"]["share"] < 1
    partial = dump(warehouse)["ticket_events"]
    assert 0 < len(partial) < len(dump(incremental_only)["ticket_events"])
    # The next run (history "auto": the stored plan wins) goes on where the cursor says.
    time.sleep(60.0 / SCALE)  # a fresh window (see sync)
    sandbox.stats.clear()
    report = engine.run_sync(warehouse, connector(sandbox, "auto"), streams=CORE)
    assert report.status == "ok", report.message
    requests = sandbox.stats.snapshot()["requests"]
    assert not [k for k, v in requests.items() if "429" in v], requests
    next_sync(sandbox, warehouse)
    assert dump(warehouse) == dump(incremental_only)


def test_a_backfill_resumed_after_its_tickets_stream_ended_names_the_archived_tickets(
    sandbox, incremental_only, tmp_path
):
    # A daemon redeployed early in a backfill: the first run's tickets stream read every ticket,
    # then the run died. The next run's tickets stream goes on from its cursor and names no
    # closed ticket: Zendesk's search names the archived tickets, on the account budget.
    warehouse = warehouse_mod.Warehouse(f"sqlite:///{tmp_path / 'resumed'}.db")
    warehouse.ensure_schema()
    # The plan's budgets as settings (the sandbox's headers say the same), so the resumed run
    # does not decide on the default budgets before an answer has told it the sandbox's.
    budgets = {"default": 400, "incremental": 2}
    killer = KillAfter(
        connector(sandbox, "audits", rate_limits=budgets), 10**6, only="ticket_events"
    )

    class KillOnceTicketsEnd(SyncObserver):
        tickets_ended = False

        def stream_finished(self, source: str, report: Any) -> None:
            self.tickets_ended |= report.name == "tickets"

        def page_committed(self, source: str, stream: str, report: Any) -> None:
            if self.tickets_ended and stream == "ticket_events":
                killer.left = 0  # dies when it asks for its next page

    time.sleep(60.0 / SCALE)  # a fresh window (see sync)
    with pytest.raises(Killed):
        engine.run_sync(warehouse, killer, streams=CORE, observer=KillOnceTicketsEnd())
    killer.close()  # the dead run sends nothing more (see the test above)
    assert len(dump(warehouse)["tickets"]) == TICKETS  # the tickets stream read to its end
    with warehouse.connect() as connection:
        cursor = engine.load_cursor(connection, "zendesk", "ticket_events")
    frontier = Frontier.load(cursor["backfill"])
    assert frontier is not None and frontier.archived_gap(False) > frontier.export

    time.sleep(60.0 / SCALE)  # a fresh window (see sync)
    sandbox.stats.clear()
    report = engine.run_sync(
        warehouse, connector(sandbox, "auto", rate_limits=budgets), streams=CORE
    )
    assert report.status == "ok", report.message
    stats = sandbox.stats.snapshot()
    assert stats["requests"][PER_TICKET]["200"] > 10
    # The tickets stream's one request from its cursor; 100 names a search request, and fewer
    # than 1,200 closed tickets.
    assert stats["requests"]["GET /api/v2/incremental/tickets/cursor"] == {"200": 1}
    assert 1 <= stats["requests"]["GET /api/v2/search"]["200"] <= 12
    assert stats["by_status"].get("429", 0) == 0
    next_sync(sandbox, warehouse)
    assert dump(warehouse) == dump(incremental_only)


DAY = 86_400


@pytest.mark.parametrize(
    ("plan", "account", "incremental", "pages", "audits"),
    [
        ("team", 200, 10, 150, True),
        ("professional", 400, 10, 150, True),
        ("enterprise", 700, 10, 150, True),
        ("enterprise, high volume", 700, 30, 150, True),
        ("small account: the export reads it within a window", 700, 10, 9, False),
        ("budgets unknown (pacing off, no headers)", None, 10, 150, False),
        ("incremental budget unknown", 400, None, 150, False),
        ("an account budget that barely adds to the export", 30, 30, 150, False),
    ],
)
def test_the_planner_chooses_per_plan(plan, account, incremental, pages, audits):
    assert choose(Budgets(account, incremental), pages) is audits, plan


def test_pages_left_extrapolates_the_first_page():
    assert pages_left(1_000, 2_000, 11_000) == 9.0
    assert pages_left(None, 2_000, 11_000) == float("inf")


def test_auto_reads_a_small_account_through_the_export_alone(tmp_path):
    with server.SandboxServer(
        seed=SEED, tickets=150, rate_limit=zendesk_sandbox.RateLimits(), time_scale=SCALE
    ) as sb:
        sync(sb, tmp_path, "small", "auto")
        assert not any("audits" in k for k in sb.stats.snapshot()["requests"])


def test_status_shows_a_running_backfills_progress(sandbox, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from deskpulse.cli import app
    from deskpulse.sync.status import backfills

    warehouse = warehouse_mod.Warehouse(f"sqlite:///{tmp_path / 'status'}.db")
    warehouse.ensure_schema()
    time.sleep(60.0 / SCALE)  # a fresh window (see sync)
    with pytest.raises(Killed):
        engine.run_sync(
            warehouse,
            KillAfter(connector(sandbox, "audits"), 4, only="ticket_events"),
            streams=CORE,
        )
    found = backfills(warehouse)
    assert [(b["source"], b["stream"]) for b in found] == [("zendesk", "ticket_events")]
    assert 0 < found[0]["share"] < 0.9
    assert found[0]["eta"] is None or found[0]["eta"] > found[0]["started"]
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{tmp_path / 'status'}.db")
    for name in ("DESKPULSE_SOURCES", "ZENDESK_BASE_URL", "ZENDESK_SUBDOMAIN"):
        monkeypatch.delenv(name, raising=False)
    shown = CliRunner().invoke(app, ["status"])
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())  # as one line, however the terminal wraps it
    line = " UTC".join(text[text.index("zendesk ticket_events: backfill") :].split(" UTC")[:2])
    share = f"{found[0]['share']:.0%}"
    assert line.startswith(f"zendesk ticket_events: backfill {share} read, started ")
    assert ("estimated end" in line) == (found[0]["eta"] is not None)


class _PerTicketClient:
    """Answers ticket_audits with nothing live and each archived ticket with one audit,
    counting the requests per ticket; answers search from `closed` ((updated_at, id) pairs) as
    Zendesk does: `updated<` filter, newest first, 100 a page, 1,000 results a query."""

    def __init__(
        self, closed: list[tuple[int, int]] | None = None, fail: Exception | None = None
    ) -> None:
        self.per_ticket: dict[int, int] = {}
        self.limiter = RateLimiter()  # not paced: every budget has room
        self.lock = threading.Lock()
        self.closed = sorted(closed or [], reverse=True)
        self.fail = fail
        self.searches: list[tuple[str, int, int]] = []  # (query, page, tickets read by then)

    vendor = "zendesk"
    paginate = HttpClient.paginate  # the real page loop, over this client's answers

    def get_page(self, path: str, query: Any, **_: Any) -> tuple[Any, httpx.Headers]:
        return self.get_json(path, query), httpx.Headers()

    def get_json(self, path: str, query: Any, **_: Any) -> Any:
        if path == "ticket_audits":
            return AuditPage(audits=[], meta={"has_more": False})
        if path == "search":
            return self._search(query)
        ticket = int(path.split("/")[1])
        with self.lock:
            self.per_ticket[ticket] = self.per_ticket.get(ticket, 0) + 1
        audit = {"id": ticket * 10, "ticket_id": ticket, "created_at": CLOSED_AT, "events": []}
        return AuditPage(audits=[msgspec.Raw(msgspec.json.encode(audit))])

    def _search(self, query: Any) -> Any:
        with self.lock:
            self.searches.append((query["query"], query["page"], len(self.per_ticket)))
        if self.fail is not None:
            raise self.fail
        stamp = query["query"].split("updated<")[1]
        before = int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
        found = [pair for pair in self.closed if pair[0] < before]
        lo = (query["page"] - 1) * 100
        results = [
            msgspec.json.encode(
                {"id": t, "status": "closed", "updated_at": _stamp(u), "result_type": "ticket"}
            )
            for u, t in found[lo : lo + 100]
        ]
        more = lo + 100 < min(len(found), 1000)
        return SearchPage(
            results=[msgspec.Raw(r) for r in results],
            next_page="next" if more else None,
            count=len(found),
        )


def _stamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _closed(ticket_id: int, updated: int) -> Record[zr.Ticket]:
    ticket = zr.Ticket(
        id=ticket_id, status="closed", updated_at=_stamp(updated), generated_timestamp=updated
    )
    return Record(msgspec.Raw(b"{}"), ticket)


CLOSED_AT = "2026-01-05T03:00:00Z"  # one automation run closed all of them in one second


def test_archived_tickets_closed_in_the_same_second_are_each_read_once():
    # Zendesk's automations close tickets in batches: many share their last update to the
    # second. The archived reader's frontier tells them apart by id; by the second alone it
    # stood still and read the same batch again and again.
    t0 = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    closed = ClosedTickets()
    closed.start(True)
    tickets = [
        zr.Ticket(id=n, status="closed", updated_at=CLOSED_AT, generated_timestamp=n)
        for n in range(1, 46)
    ]
    closed.note([Record(msgspec.Raw(b"{}"), t) for t in tickets])
    closed.stop(True)
    client = _PerTicketClient()
    all_read = threading.Event()

    def export() -> Iterator[Any]:
        # The export stays below the archived tickets until they are read, then meets T0.
        all_read.wait(10)
        yield [], t0, True, None

    frontier = Frontier(t0=t0, export=0)
    backfill = Backfill(client, closed, export(), frontier, 0, PATHS, EXPORT)  # type: ignore[arg-type]
    read: list[int] = []
    for page in backfill.pages():
        read += [r.value.ticket_id for r in page.records if r.value is not None]
        if len(read) == 45:
            all_read.set()
    assert sorted(read) == list(range(1, 46))
    assert client.per_ticket == {n: 1 for n in range(1, 46)}
    assert backfill.committed.archived_next == (-1, -1)  # none left


PATHS = {"ticket_audits": "ticket_audits", "ticket_audits_of": "tickets/{ticket_id}/audits"}
SEARCHING = {**PATHS, "search": "search"}


def _run_until_read(
    client: Any, frontier: Frontier, expected: int, closed: ClosedTickets | None = None
) -> tuple[Backfill, list[int], list[Any]]:
    """A backfill whose export stays below the archived tickets until `expected` are read, then
    meets T0; the ticket ids read, in order, and the pages committed."""
    all_read = threading.Event()

    def export() -> Iterator[Any]:
        all_read.wait(10)
        yield [], frontier.t0, True, None

    backfill = Backfill(client, closed or ClosedTickets(), export(), frontier, 0, SEARCHING, EXPORT)
    read: list[int] = []
    pages = []
    for page in backfill.pages():
        pages.append(page)
        read += _ids(page)
        if len(read) >= expected:
            all_read.set()
    return backfill, read, pages


def _ids(page: Any) -> list[int]:
    return [r.value.ticket_id for r in page.records if r.value is not None]


def test_the_export_asks_for_no_page_the_account_side_made_needless_while_it_waited():
    # The export's budget is spent for the next second; meanwhile the account side reads every
    # archived ticket down to the export, and the history is in. A request already waiting on
    # the budget would still go out, and the backfill would wait for its answer.
    t0 = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    frontier = Frontier(t0=t0, export=t0 - 200 * DAY)
    top = frontier.cutoff() - 10 * DAY
    client: Any = _PerTicketClient([(top - n, n + 1) for n in range(30)])
    client.limiter = RateLimiter({EXPORT: 1}, window=1.0)
    client.limiter.acquire(EXPORT)
    asked: list[int] = []

    def export() -> Iterator[Any]:
        client.limiter.acquire(EXPORT)  # as the client's get_json does
        asked.append(frontier.export)
        yield [], t0, True, None

    backfill = Backfill(client, ClosedTickets(), export(), frontier, 0, SEARCHING, EXPORT)
    read = [ticket for page in backfill.pages() for ticket in _ids(page)]
    assert sorted(read) == list(range(1, 31))
    assert asked == [] and backfill.requests["export"] == 0
    assert backfill.committed.archived_next == (-1, -1)


def test_the_search_names_the_archived_tickets_page_by_page(monkeypatch):
    # 1,250 archived tickets, 7 closed each second: search pages of 100 end inside a second, and
    # so does the 1,000-result cap. Each page's names are read as they come, the tickets of a
    # page's last second once the next page has them all.
    monkeypatch.setattr(backfill_mod, "SEARCH_AHEAD", 200)
    t0 = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    frontier = Frontier(t0=t0, export=0)
    top = frontier.cutoff() - 10 * DAY
    closed = [(top - n // 7, n + 1) for n in range(1250)]
    client = _PerTicketClient(closed)
    backfill, read, _ = _run_until_read(client, frontier, 1250)
    assert sorted(read) == list(range(1, 1251))
    assert client.per_ticket == {n: 1 for n in range(1, 1251)}
    # The first query: 10 pages (the cap), down to the second of rank 999 (142 s below the top);
    # the next from that second on: ranks 994 to 1,249, 256 results, 3 pages.
    queries = [q for q, _, _ in client.searches]
    assert [p for _, p, _ in client.searches] == [*range(1, 11), 1, 2, 3]
    assert queries[10].endswith(f"updated<{_stamp(top - 141)}")
    # The search stays ahead of the reader, not far ahead: with 200 names unread it waits (the
    # next query's first page repeats the 6 tickets of the second it starts from).
    for n, (_, _, read_by_then) in enumerate(client.searches, 1):
        assert read_by_then >= (n - 3) * 100 - 6, n
    assert backfill.committed.archived_next == (-1, -1)
    assert backfill.requests["search"] == 13


def test_archived_tickets_the_search_missed_are_read_once_the_tickets_stream_names_them(caplog):
    # Zendesk's search index may lag. The tickets stream of the same run names every closed
    # ticket once it has read past them: what the search missed above the frontier is read then.
    t0 = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    frontier = Frontier(t0=t0, export=0)
    top = frontier.cutoff() - 10 * DAY
    everything = [(top - n * 60, n + 1) for n in range(100)]
    client = _PerTicketClient([pair for pair in everything if pair[1] not in (2, 3)])
    closed = ClosedTickets()
    closed.start(True)

    def tickets_stream_ends() -> None:
        while len(client.per_ticket) < 40:
            time.sleep(0.005)
        closed.note([_closed(t, u) for u, t in everything])
        closed.stop(True)

    threading.Thread(target=tickets_stream_ends, daemon=True).start()
    _, read, commits = _run_until_read(client, frontier, 100, closed)
    assert sorted(read) == list(range(1, 101))
    assert client.per_ticket == {n: 1 for n in range(1, 101)}
    assert "the search missed 2 archived tickets" in caplog.text
    # The missed ids were in the cursor before they were read, and left it once read.
    saved = [page.cursor["backfill"]["missed"] for page in commits]
    assert [2, 3] in saved and saved[-1] == []
    assert saved.index([2, 3]) < min(i for i, p in enumerate(commits) if {2, 3} & set(_ids(p)))


def test_missed_tickets_in_the_cursor_are_read_by_the_resumed_run():
    # A run found tickets the search missed, saved their ids in the cursor and died: the next
    # run, which has the search alone, reads them first.
    t0 = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    state = Frontier(t0=t0, export=0, archived_next=backfill_mod.NONE_LEFT, missed=[5, 6]).dump(0)
    assert state["missed"] == [5, 6]
    frontier = Frontier.load(state)
    assert frontier is not None
    client = _PerTicketClient([])
    backfill, read, _ = _run_until_read(client, frontier, 2)
    assert sorted(read) == [5, 6] and client.per_ticket == {5: 1, 6: 1}
    assert backfill.committed.missed == []


def test_odd_search_results_name_no_ticket():
    below = 1_790_000_000
    raw = [
        {"id": 1, "status": "closed", "updated_at": _stamp(below)},
        {"id": 2, "status": "solved", "updated_at": _stamp(below - 5)},  # not closed
        {"id": 3, "status": "closed", "updated_at": _stamp(below + 1)},  # past the bound
        {"id": "4", "status": "closed", "updated_at": _stamp(below - 5)},  # id not a number
        {"id": 5, "status": "closed", "updated_at": "last Tuesday"},
        {"id": 6, "status": "closed"},
        {"id": 7, "status": "closed", "updated_at": _stamp(below - 9)},
        {"id": 8, "status": "closed", "updated_at": _stamp(below - 1)},  # above the frontier
        [1, 2, 3],
    ]
    records = backfill_state.SEARCHED.wrap_all([msgspec.Raw(msgspec.json.encode(r)) for r in raw])
    read_to = (below - 2, 99)
    assert backfill_state._closed_pairs(records, below, None) == [
        (below, 1),
        (below - 1, 8),
        (below - 9, 7),
    ]
    assert backfill_state._closed_pairs(records, below, read_to) == [(below - 9, 7)]


def test_a_search_that_fails_leaves_the_archived_tickets_to_the_export():
    # Naming the archived tickets is a shortcut: when the search fails, the event export reads
    # up to the cut-off itself, and the backfill goes on.
    t0 = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    frontier = Frontier(t0=t0, export=0)
    client = _PerTicketClient(fail=BadResponse("zendesk: /api/v2/search: a truncated body"))
    backfill, read, _ = _run_until_read(client, frontier, 0)
    assert read == [] and client.per_ticket == {}
    assert len(client.searches) == 1
    assert backfill.committed.export == t0  # the export met T0


def test_a_cursor_saved_before_ties_were_told_apart_still_loads():
    frontier = Frontier.load({"t0": 100, "export": 10, "archived_below": 50})
    assert frontier is not None
    assert frontier.archived_gap(True) == 49  # every ticket updated at 49 or before: unread
    assert Frontier.load({"t0": 100, "export": 10, "archived_next": [1, 2, 3]}) is None
