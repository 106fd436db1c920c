"""A first sync of ticket events planned from the budgets: Zendesk's history through two budgets
at once, meeting in the middle.

Why: the incremental ticket event export reads 1,000 events a request but shares 10 requests a
minute with the other incremental exports; the account-wide budget (200, 400 or 700 a minute by
plan) sits idle meanwhile. `GET /api/v2/ticket_audits` reads 100 audits (one audit = one ticket
event, same ids, same child events) a request on that budget, newest first; it leaves out archived
tickets (closed more than 120 days ago), whose audits come one ticket a request from
`/api/v2/tickets/{id}/audits`. So a backfill runs three readers side by side:

    export reader   (incremental budget)  the event export from the start time, oldest first
    audits reader   (account budget)      ticket_audits from T0 backwards, 100 a request, not
                                          below archived tickets named and not read yet
    archived reader (account budget)      the archived tickets, newest first, a request each,
                                          four at a time, not below the audits reader unless
                                          the export is far below both
    search reader   (account budget)      names the archived tickets for the archived reader,
                                          newest first, 100 a request, a few pages ahead of it

and stops them when they meet: the export has covered every second up to `export`, the audits
every live second above `audits_ts`, and the archived tickets every one ranked (by update time,
then id: many tickets close in the same second) above `archived_next`, the newest not read yet;
all history is in when `export >= max(audits_ts, archived_next's update time)`. Which
reader does what is not planned ahead but balanced as they go (each reads until the other
meets it), so each budget is spent until the end whatever the plan, the account's size or how
much of it is archived: a big account on a big plan leans on the audits, a small plan on the
export. Archived tickets (closed, updated more than 120 days before T0, less a week's margin
for tickets archived while the backfill runs) are named by Zendesk's search from the first
seconds, and by the tickets stream of the same run once it has read past them all, whichever
comes first; a resumed backfill, whose tickets stream goes on from its own cursor, has the search
alone. Named by neither (the search failed, and the tickets stream is not read from the start),
they are left to the export, which then reads up to the cut-off itself: slower, never incomplete.

The hand-over: T0 is the newest audit's time at the start, less a minute (Zendesk withholds the
last minute from the exports; overlap is harmless, rows upsert by event id). Audits cover what
happened before T0; the backfill ends the sync there, with the cursor at T0, and the next sync
reads the event export from T0, which sees every change made during the backfill and later
(read at once, it would wait up to a window for the budget the export's last pages spent, and
the tickets stream, read at the start, would not match it). T0 and each reader's position are
in the stream's cursor, saved only with the rows of the page that moved it, so a crash resumes
the same plan where it stopped.

The planner (`choose`) decides from the first export page and the budgets the client has seen
(headers or settings): no budget known (pacing off, a sandbox without limits), an account the
export reads within one window, or an account budget too small to matter -> the export alone.
`plan="audits"`/`"incremental"` force a path (tests, the benchmark's comparison).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from deskpulse.connectors.base import Page
from deskpulse.connectors.errors import StreamError, StreamUnavailable
from deskpulse.connectors.http import BodyCursor, Fetched, HttpClient, PageNumber
from deskpulse.connectors.records import Record
from deskpulse.connectors.zendesk import records as zr
from deskpulse.connectors.zendesk.backfill_state import (
    AHEAD_FACTOR,
    ARCHIVED_BATCH,
    ARCHIVED_READERS,
    AUDIT_PAGE,
    AUDITS,
    AUDITS_PAGE,
    HANDOVER_OVERLAP,
    NONE_LEFT,
    SEARCH_AHEAD,
    SEARCH_CAP,
    SEARCH_PAGE,
    SEARCH_RESULTS,
    SEARCHED,
    UNRANKED,
    Audit,
    AuditPage,
    Budgets,
    ClosedTickets,
    Frontier,
    SearchedClosed,
    SearchPage,
    _at_or_below,
    _before,
    _capped,
    _closed_pairs,
    _epoch,
    as_event,
    budgets_of,
    choose,
    iso_second,
    pages_left,
)

log = logging.getLogger(__name__)

ExportPage = tuple[list[Record[zr.TicketEvent]], int, bool, int | None]
"""One page of the event export: (new records, end_time, end of stream, first record's time)."""


class Backfill:
    """Runs one backfill (see the module docstring) and yields its pages in commit order."""

    def __init__(
        self,
        client: HttpClient,
        closed: ClosedTickets,
        export: Iterator[ExportPage],
        frontier: Frontier,
        start: int,
        paths: Mapping[str, str],
        export_bucket: str,
    ) -> None:
        self.client = client
        self.closed = closed
        self.export = export  # the event export, from `frontier.export` on
        self.start = start
        self.paths = paths
        self.export_bucket = export_bucket
        self.searched = SearchedClosed()
        self._checked = False  # the search's names were checked against the tickets stream's
        self.fetched = Frontier(**vars(frontier))  # the readers' own positions
        self.committed = frontier  # what the engine has (or will have) committed
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._queue: queue.Queue[tuple[str, Any, dict[str, Any]]] = queue.Queue(maxsize=4)
        self.requests = {"export": 0, "audits": 0, "archived": 0, "search": 0}
        self._pool = ThreadPoolExecutor(ARCHIVED_READERS, thread_name_prefix="backfill-archived")

    # -- the readers -----------------------------------------------------------------------

    def _known(self) -> bool:
        return self.closed.known(self.fetched.archived_bound())

    def _put(self, kind: str, records: Any, moved: dict[str, Any]) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put((kind, records, moved), timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self, name: str, body: Callable[[], None]) -> threading.Thread:
        def target() -> None:
            try:
                body()
                self._put("done", name, {})
            except BaseException as exc:
                self._put("error", exc, {})

        thread = threading.Thread(target=target, name=f"backfill-{name}", daemon=True)
        thread.start()
        return thread

    def _export_reader(self) -> None:
        """The event export, oldest first. It asks for a page only once its budget has room:
        a request made to wait for the budget would go out even if the account side met the
        export meanwhile, and the backfill would wait up to a window for a page it no longer
        needs."""
        while not self._stop.is_set():
            with self._lock:
                f = self.fetched
                if f.done(self._known()):
                    return
            if self.client.limiter.ready_in(self.export_bucket) > 0:
                self._stop.wait(0.02)
                continue
            found = next(self.export, None)
            if found is None:
                return
            records, end_time, last, _ = found
            self.requests["export"] += 1
            with self._lock:
                self.fetched.export = end_time if not last else max(end_time, self.fetched.t0)
            self._put("export", records, {"export": self.fetched.export})
            if last:
                return

    def _candidates(self) -> tuple[list[tuple[int, int]], int] | None:
        """The archived tickets still to read (newest first) and the floor above which they are
        all named (-1: all of them are); None while none are named. Named by the tickets stream
        once it has passed them all, or by the search as its pages come. Sets the archived
        frontier the first time they are known."""
        f = self.fetched
        found = self.closed.known_below(f.archived_bound())
        floor = -1
        if found is None:
            named = self.searched.named()
            if named is None:
                return None
            found, floor = named
        if f.archived_next is None:  # nothing read per ticket yet
            if found:
                f.archived_next = found[0]
            else:
                f.archived_next = NONE_LEFT if floor < 0 else (floor, UNRANKED)
        return found[_at_or_below(found, f.archived_next) :], floor

    def _audits_reader(self) -> None:
        """ticket_audits, newest first, until the export has read what lies below. Not below
        archived tickets named and not read yet: the export must climb to the higher of the
        two, so audits read there may be read again by the export, while the archived reader
        (several requests at once) can spend the whole account budget meanwhile."""
        f = self.fetched
        query: dict[str, Any] = {"page[size]": AUDITS_PAGE, "page[after]": f.audits or None}
        pages = self.client.paginate(
            self.paths["ticket_audits"],
            {k: v for k, v in query.items() if v is not None},
            paginator=BodyCursor("zendesk ticket_audits"),
            records="audits",
            decoder=AUDIT_PAGE,
        )
        while not self._stop.is_set():
            with self._lock:
                f = self.fetched
                if f.audits_done or f.live_gap() <= f.export:
                    return
                known = self._candidates()
                behind = bool(known and known[0] and known[0][0][0] >= f.live_gap())
            if behind:
                time.sleep(0.02)
                continue
            self._audits_page(pages)

    def _archived_reader(self) -> None:
        """The archived tickets, newest first, one request each (ARCHIVED_READERS at once).

        Reading one the export reaches anyway is a request lost, so the reader stays above the
        audits (the two descend together) unless the audits are much nearer to it than the
        export is: the audits descend through history far faster than the export climbs, so
        the tickets just below the audits' path are read by the account budget whatever
        happens, and reading them while the audits reader waits on its answers fills the
        budget the audits alone leave unused."""
        while not self._stop.is_set():
            self._find_missed()
            if self.fetched.missed:
                self._missed_batch()
                continue
            with self._lock:
                f = self.fetched
                known = self._candidates()
                candidates, floor = known if known is not None else ([], -1)
                pending = known is None and (self.closed.pending or self.searched.running)
                # the newest archived second not read yet (-1: none left)
                newest = candidates[0][0] if candidates else floor
                if known is not None and newest <= f.export:
                    if not self._checking():
                        return  # none left, or the export reads what is left
                    candidates = []  # none left to read now, but see _missed
                ahead = bool(candidates) and (
                    f.audits_done
                    or newest >= f.live_gap() - 1
                    or newest - f.export > AHEAD_FACTOR * (f.live_gap() - newest)
                )
            if known is None and not pending:
                return  # not named in this run: the export reads up to the cut-off instead
            if ahead:
                after = candidates[ARCHIVED_BATCH] if len(candidates) > ARCHIVED_BATCH else None
                self._archived_batch(candidates[:ARCHIVED_BATCH], after, floor)
            else:
                time.sleep(0.02)  # wait for names, or for the audits to descend

    def _search_reader(self) -> None:
        """Names the archived tickets through Zendesk's search, newest first: closed tickets
        updated before the archived bound, sorted by update time, 100 a request on the account
        budget, a few pages ahead of the archived reader (SEARCH_AHEAD). The tickets stream
        names them too, but only once it has read past them all, a minute or more into a big
        backfill, while the search names the first hundred in one answer. Search reaches
        archived tickets (the spec's note on Export Search Results) and its order lets each
        page's names be used at once (see SearchedClosed). A query returns 1,000 results at
        most, so the next one goes on from the last second seen (included again, ids already
        named skipped). Any failure only ends the search: the tickets stream names the rest."""
        searched = self.searched
        with self._lock:
            below = self.fetched.archived_bound() - 1
            read_to = self.fetched.archived_next
        try:
            while not self._stop.is_set():
                # `<` (documented, unlike `<=`) to the second after: the same tickets
                query = f"type:ticket status:closed updated<{iso_second(below + 1)}"
                last = below
                pages = self.client.paginate(
                    self.paths["search"],
                    {"query": query, "sort_by": "updated_at", "sort_order": "desc"},
                    paginator=PageNumber(
                        "zendesk search",
                        size=SEARCH_PAGE,
                        last=SEARCH_CAP // SEARCH_PAGE,
                        more=lambda page: bool(page.body.next_page),
                    ),
                    records="results",
                    decoder=SEARCH_RESULTS,
                )
                if not self._may_search(below):
                    return
                for page in pages:
                    self.requests["search"] += 1
                    found = _closed_pairs(SEARCHED.wrap_all(page.records), below, read_to)
                    if found:
                        last = min(last, found[-1][0])
                    if not page.body.next_page and not _capped(page.body, page.number):
                        searched.add(found, -1)
                        return
                    searched.add(found, last)
                    if not self._may_search(below):  # before the next page's request
                        return
                if last >= below:  # a whole query in one second: it cannot go below it
                    raise StreamError(f"zendesk search: over {SEARCH_CAP} tickets closed at once")
                below = last
        except (StreamError, StreamUnavailable) as exc:
            log.warning("zendesk: backfill cannot name archived tickets by search (%s)", exc)
            searched.failed = True
        finally:
            searched.running = False

    def _may_search(self, below: int) -> bool:
        """Wait while the search is far enough ahead of the archived reader; False once the
        backfill stops or the tickets stream has named every archived ticket below `below`."""
        while self.searched.unread(self.fetched.archived_next) >= SEARCH_AHEAD:
            if self._stop.wait(0.02):
                return False
        return not (self._stop.is_set() or self.closed.known(below + 1))

    def _audits_page(self, pages: Iterator[Fetched]) -> None:
        f = self.fetched
        page = next(pages, None)
        body: AuditPage | None = page.body if page is not None else None
        self.requests["audits"] += 1 if page is not None else 0
        records = [as_event(r) for r in AUDITS.wrap_all(body.audits if body else None)]
        meta = (body.meta if body else None) or {}
        after = meta.get("after_cursor")
        more = bool(meta.get("has_more")) and bool(after)
        stamps = [
            s for s in (_epoch(r.value.created_at) for r in records if r.value) if s is not None
        ]
        with self._lock:
            if stamps:
                oldest = min(stamps)
                # The oldest second may go on on the next page: read down to it, exclusive.
                f.audits_ts = oldest if f.audits_ts is None else min(f.audits_ts, oldest)
            if more:
                f.audits = after
            else:
                f.audits_done = True
            moved = {"audits": f.audits, "audits_ts": f.audits_ts, "audits_done": f.audits_done}
        self._put("audits", [r for r in records if _before(r, f.t0)], moved)

    def _checking(self) -> bool:
        """The search's names are still to be checked against the tickets stream's, which is
        reading them (see _missed)."""
        return not self._checked and self.searched.answered and self.closed.pending

    def _find_missed(self) -> None:
        """Archived tickets the search did not name, above the frontier (so never read): none
        unless the index lags, but once the tickets stream of the same run has named every
        closed ticket, whatever the search missed is read, once a run. Their ids go into the
        cursor before they are read, so a resumed run reads them too (it has the search
        alone)."""
        with self._lock:
            f = self.fetched
            if self._checked or f.archived_next is None or not self.searched.answered:
                return
            full = self.closed.known_below(f.cutoff())
            if full is None:
                return
            self._checked = True
            named = self.searched.ids()
            # above the frontier (never read) and above the export (which reads the others)
            missed = [
                t for u, t in full if (u, t) > f.archived_next and u > f.export and t not in named
            ]
            if not missed:
                return
            f.missed = missed + [t for t in f.missed if t not in missed]
            moved = {"missed": list(f.missed)}
        log.warning("zendesk: the search missed %d archived tickets; read now", len(missed))
        self._put("archived", [], moved)

    def _missed_batch(self) -> None:
        """Reads the first missed tickets (see _find_missed); the frontier stays."""
        batch = self.fetched.missed[:ARCHIVED_BATCH]
        records = self._read_tickets(batch)
        if self._stop.is_set():
            return
        with self._lock:
            self.fetched.missed = self.fetched.missed[len(batch) :]
            moved = {"missed": list(self.fetched.missed)}
        self._put("archived", records, moved)

    def _archived_batch(
        self, batch: list[tuple[int, int]], after: tuple[int, int] | None, floor: int
    ) -> None:
        """Reads `batch`; `after` is the named one next below it (None: none named below it, and
        all of those above `floor` are)."""
        records = self._read_tickets([t for _, t in batch])
        if self._stop.is_set():
            return
        with self._lock:
            if after is not None:
                self.fetched.archived_next = after
            else:
                self.fetched.archived_next = NONE_LEFT if floor < 0 else (floor, UNRANKED)
            moved = {"archived_next": self.fetched.archived_next}
        self._put("archived", records, moved)

    def _read_tickets(self, ticket_ids: list[int]) -> list[Record[zr.TicketEvent]]:
        """The audits of `ticket_ids`, ARCHIVED_READERS requests at once."""
        records: list[Record[zr.TicketEvent]] = []
        for found in self._pool.map(self._ticket_audits, ticket_ids):
            records += found
        return records

    def _ticket_audits(self, ticket_id: int) -> list[Record[zr.TicketEvent]]:
        if self._stop.is_set():
            return []
        found: list[Record[zr.TicketEvent]] = []
        # archived tickets answer all at once, without meta
        for page in self.client.paginate(
            self.paths["ticket_audits_of"].format(ticket_id=ticket_id),
            {"page[size]": AUDITS_PAGE},
            paginator=BodyCursor(f"zendesk ticket {ticket_id} audits"),
            records="audits",
            decoder=AUDIT_PAGE,
        ):
            with self._lock:
                self.requests["archived"] += 1
            found += [as_event(r) for r in AUDITS.wrap_all(page.records)]
        return found

    # -- the pages, in the order the engine commits them -------------------------------------

    def pages(self) -> Iterator[Page]:
        search = "search" in self.paths and self.fetched.archived_next != NONE_LEFT
        self.searched.running = search  # before the archived reader asks
        threads = [
            self._run("export", self._export_reader),
            self._run("audits", self._audits_reader),
            self._run("archived", self._archived_reader),
        ]
        if search:
            threads.append(self._run("search", self._search_reader))
        readers = len(threads)
        try:
            while readers:
                kind, records, moved = self._queue.get()
                if kind == "error":
                    raise records
                if kind == "done":
                    readers -= 1
                    continue
                for key, value in moved.items():
                    setattr(self.committed, key, value)
                yield Page(records, cursor={"backfill": self.committed.dump(self.start)})
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(timeout=5)
            self._pool.shutdown(wait=False, cancel_futures=True)
            f = self.fetched
            log.info(
                "zendesk: backfill requests %s; export at %s, audits at %s, archived at %s",
                self.requests,
                f.export,
                f.live_gap(),
                f.archived_next,
            )


__all__ = [
    "AUDITS",
    "AUDIT_PAGE",
    "HANDOVER_OVERLAP",
    "NONE_LEFT",
    "SEARCHED",
    "Audit",
    "AuditPage",
    "Backfill",
    "Budgets",
    "ClosedTickets",
    "ExportPage",
    "Frontier",
    "SearchPage",
    "as_event",
    "budgets_of",
    "choose",
    "iso_second",
    "pages_left",
]
