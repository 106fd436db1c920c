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

import bisect
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from msgspec import Raw, Struct

from deskpulse.connectors.base import Page
from deskpulse.connectors.errors import RecordError, StreamError, StreamUnavailable
from deskpulse.connectors.http import DEFAULT_BUCKET, HttpClient, Paginator
from deskpulse.connectors.records import Record, RecordType, page_decoder
from deskpulse.connectors.zendesk import normalise as nz
from deskpulse.connectors.zendesk import records as zr

log = logging.getLogger(__name__)

AUDITS_PAGE = 100
"""Audits per page of ticket_audits (Zendesk's maximum)."""
EXPORT_PAGE = 1000
ARCHIVE_AFTER = 120 * 86_400
"""Zendesk archives tickets closed this long ago; their audits leave ticket_audits."""
ARCHIVE_MARGIN = 7 * 86_400
"""Tickets closed this much less than ARCHIVE_AFTER ago count as archived too: they may be
archived while the backfill runs."""
HANDOVER_OVERLAP = 60
"""T0 is the newest audit's time less this (the exports withhold the last minute)."""
ARCHIVED_BATCH = 20
"""Archived tickets read per page the engine commits (one request each)."""
ARCHIVED_READERS = 4
"""Archived tickets read at once: one at a time, the answers' latency, not the budget, set
the pace."""
AHEAD_FACTOR = 2
"""The archived reader may go below the audits while the export is this many times farther
from it than the audits are (see Backfill._archived_reader)."""
NONE_LEFT = (-1, -1)
UNRANKED = 2**63
"""An id above every ticket's: (t, UNRANKED) ranks above every ticket updated at second t."""
SEARCH_PAGE = 100
"""Results per page of Zendesk's search (its maximum)."""
SEARCH_CAP = 1000
"""Results one search query returns at most (Zendesk's cap); the next query goes on below."""
SEARCH_AHEAD = 1000
"""The search waits while this many named archived tickets are not read yet: it stays a few
pages ahead of the archived reader, at about one request for a hundred of the reader's."""
MIN_AUDIT_SHARE = 0.2
"""The audits path pays when the account budget reads at least this share of what the export
reads in the same time (100 audits a request against 1,000 events)."""


class Audit(Struct, gc=False):
    """One record of ticket_audits (or of a ticket's audits): an update and its events."""

    id: zr.Id = None
    ticket_id: zr.Id = None
    created_at: Any = None
    author_id: zr.Id = None
    events: list[zr.ChildEvent] | None = None


class AuditPage(Struct, gc=False):
    audits: list[Raw] | None = None
    meta: dict[str, Any] | None = None


AUDITS = RecordType(Audit)
AUDIT_PAGE = page_decoder(AuditPage)


def as_event(record: Record[Audit]) -> Record[zr.TicketEvent]:
    """An audit as the ticket event export spells the same update (same ids, same child events,
    `author_id` as `updater_id`), so both paths give a ticket identical rows."""
    audit = record.value
    if audit is None:
        return Record(record.raw, None, record.error)
    event = zr.TicketEvent(
        id=audit.id,
        ticket_id=audit.ticket_id,
        created_at=audit.created_at,
        updater_id=audit.author_id,
        child_events=audit.events,
    )
    return Record(record.raw, event)


def _archived_next(state: Mapping[str, Any]) -> tuple[int, int] | None:
    pair = state.get("archived_next")
    if pair is not None:
        updated, ticket_id = pair
        return int(updated), int(ticket_id)
    below = state.get("archived_below")  # a cursor saved before ties were told apart
    return None if below is None else (int(below) - 1, UNRANKED)


def _at_or_below(newest_first: list[tuple[int, int]], pair: tuple[int, int]) -> int:
    """The index of the first (updated_at, id) at or below `pair` in a list sorted newest
    first (a binary search: the readers ask every few milliseconds, of thousands of tickets)."""
    return bisect.bisect_left(newest_first, (-pair[0], -pair[1]), key=lambda c: (-c[0], -c[1]))


def iso_second(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(stamp: Any) -> int | None:
    try:
        moment = nz.when(stamp)
    except RecordError:
        return None
    return nz.epoch(moment) if moment is not None else None


# --------------------------------------------------------------------------------------------
# What the tickets stream tells the backfill: the closed tickets (archive candidates)


class ClosedTickets:
    """Closed tickets seen by this run's tickets stream, when it reads from the beginning: the
    tickets that may be archived. `complete_below(t)`: every closed ticket updated before `t`
    is known (the export is ordered by generated_timestamp, which a closed ticket no longer
    moves)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reading = False  # the tickets stream of this run reads from the beginning
        self.done = False
        self.watermark = -1
        self._closed: dict[int, int] = {}
        # The closed tickets sorted newest first, kept until a page changes them: the readers
        # ask every few milliseconds, each time for a new bound (a binary search in this list).
        self._sorted: list[tuple[int, int]] | None = None

    def start(self, from_scratch: bool) -> None:
        with self._lock:
            self.reading = from_scratch

    def stop(self, complete: bool) -> None:
        """The tickets stream ended: at the end of the export (every closed ticket is known),
        or early (an error, a stop: then none counts as known)."""
        with self._lock:
            if complete and self.reading:
                self.done = True
            elif not complete:
                self.reading = False

    def note(self, tickets: list[Record[zr.Ticket]]) -> None:
        with self._lock:
            if not self.reading:
                return
            self._sorted = None
            for record in tickets:
                value = record.value
                if value is None:
                    continue
                stamp = value.generated_timestamp
                if isinstance(stamp, int) and stamp > self.watermark:
                    self.watermark = stamp
                tid = value.id if isinstance(value.id, int) else None
                if tid is None:
                    continue
                if value.status == "closed":
                    updated = _epoch(value.updated_at)
                    if updated is not None:
                        self._closed[tid] = updated
                else:
                    self._closed.pop(tid, None)

    def known(self, cutoff: int) -> bool:
        """Every closed ticket updated before `cutoff` is known."""
        with self._lock:
            return self.reading and (self.done or self.watermark >= cutoff)

    def known_below(self, cutoff: int) -> list[tuple[int, int]] | None:
        """(updated_at, id) of the closed tickets updated before `cutoff`, newest first, once
        all of them are known; None while they are not (or cannot be, in this run)."""
        if not self.known(cutoff):
            return None
        with self._lock:
            if self._sorted is None:
                self._sorted = sorted(((u, t) for t, u in self._closed.items()), reverse=True)
            return self._sorted[_at_or_below(self._sorted, (cutoff - 1, UNRANKED)) :]

    @property
    def pending(self) -> bool:
        """The tickets stream is still reading what `known_below` waits for."""
        with self._lock:
            return self.reading and not self.done


class SearchedClosed:
    """Archived tickets named by Zendesk's search (closed, updated before the cut-off), newest
    first, as the search pages come (Backfill._search_reader). `floor`: every one updated after
    this second is named (-1: every one). Tickets updated in the floor's own second are held back
    until a page goes below it, so what `named` hands out is always a complete newest-first
    prefix."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: list[tuple[int, int]] = []  # (updated_at, id), newest first
        self._ids: set[int] = set()
        self._floor: int | None = None  # None: no page yet
        self.running = False
        self.failed = False

    def add(self, found: list[tuple[int, int]], floor: int) -> None:
        with self._lock:
            fresh = [pair for pair in found if pair[1] not in self._ids]
            self._ids.update(t for _, t in fresh)
            self._found = sorted(self._found + fresh, reverse=True)
            self._floor = floor

    @property
    def answered(self) -> bool:
        """A page came (the frontier may have moved by its names)."""
        return self._floor is not None

    def named(self) -> tuple[list[tuple[int, int]], int] | None:
        """(the archived tickets named, newest first; floor), or None while none are (or the
        search failed: then the tickets stream names them)."""
        with self._lock:
            if self._floor is None or self.failed:
                return None
            floor = self._floor
            if floor < 0:
                return self._found, floor
            return self._found[: _at_or_below(self._found, (floor, UNRANKED))], floor

    def ids(self) -> set[int]:
        with self._lock:
            return set(self._ids)

    def unread(self, below: tuple[int, int] | None) -> int:
        """How many named tickets rank at or below `below` (not read yet)."""
        with self._lock:
            if below is None:
                return len(self._found)
            return len(self._found) - _at_or_below(self._found, below)


# --------------------------------------------------------------------------------------------
# The planner


@dataclass(frozen=True)
class Budgets:
    account: int | None  # requests per window, None: unknown
    incremental: int | None


def choose(budgets: Budgets, pages_left: float) -> bool:
    """Whether a backfill through the audits pays: budgets known, more export pages left than
    one window's budget, and an account budget that reads a real share of the history."""
    if not budgets.account or not budgets.incremental:
        return False
    if pages_left <= budgets.incremental:
        return False
    audits_rate = max(0, budgets.account - budgets.incremental) * AUDITS_PAGE
    return audits_rate >= MIN_AUDIT_SHARE * budgets.incremental * EXPORT_PAGE


def pages_left(first_ts: int | None, end_time: int, now: int) -> float:
    """Export pages still to read after a first full page covered `first_ts`..`end_time`,
    assuming history as dense as that page all the way to `now`."""
    if first_ts is None or end_time <= first_ts:
        return float("inf")
    return (now - end_time) / (end_time - first_ts)


# --------------------------------------------------------------------------------------------
# The backfill


@dataclass
class Frontier:
    """Where each reader stands (fetched, or committed: the cursor is the committed one)."""

    t0: int
    export: int  # every event at or before this second is read (the next request starts here)
    audits: str | None = None  # ticket_audits' page[after] for the next page
    audits_ts: int | None = None  # every live audit after this second is read
    audits_done: bool = False
    # The newest archived ticket not read yet, (updated_at, id); every one ranked above it is
    # read. None: not known yet; (-1, -1): none left.
    archived_next: tuple[int, int] | None = None
    started: float = field(default_factory=time.time)
    origin: int | None = None  # the first event's time: where the history begins
    # Archived tickets above `archived_next` that the search missed, still to read (their ids).
    missed: list[int] = field(default_factory=list)

    @classmethod
    def load(cls, state: Mapping[str, Any]) -> Frontier | None:
        try:
            return cls(
                t0=int(state["t0"]),
                export=int(state["export"]),
                audits=state.get("audits"),
                audits_ts=state.get("audits_ts"),
                audits_done=bool(state.get("audits_done")),
                archived_next=_archived_next(state),
                started=float(state.get("started") or time.time()),
                origin=state.get("origin"),
                missed=[int(t) for t in state.get("missed") or []],
            )
        except (KeyError, TypeError, ValueError):
            return None

    def dump(self, start: int) -> dict[str, Any]:
        return {
            "t0": self.t0,
            "export": self.export,
            "audits": self.audits,
            "audits_ts": self.audits_ts,
            "audits_done": self.audits_done,
            "archived_next": list(self.archived_next) if self.archived_next else None,
            "started": self.started,
            "origin": self.origin,
            "missed": self.missed,
            "progress": self.progress(start if self.origin is None else self.origin),
        }

    def cutoff(self) -> int:
        return self.t0 - ARCHIVE_AFTER + ARCHIVE_MARGIN

    def live_gap(self) -> int:
        """The newest live second not read yet (audits read down to, exclusive)."""
        if self.audits_done:
            return -1
        return self.t0 if self.audits_ts is None else self.audits_ts

    def archived_bound(self) -> int:
        """Every archived ticket not read yet was updated before this second."""
        if self.archived_next is None:
            return self.cutoff()
        return min(self.cutoff(), self.archived_next[0] + 1)

    def archived_gap(self, known: bool) -> int:
        """The newest second an unread archived ticket may have an event at."""
        if self.archived_next is not None:
            return self.archived_next[0]
        return self.cutoff() if not known else self.t0

    def done(self, known: bool) -> bool:
        return self.export >= max(self.live_gap(), self.archived_gap(known))

    def progress(self, start: int) -> dict[str, Any]:
        """Share of the history read and an estimated end (epoch), for `deskpulse status`."""
        total = max(1, self.t0 - start)
        gap = max(0, max(self.live_gap(), self.archived_gap(False)) - max(self.export, start))
        share = min(1.0, max(0.0, 1 - gap / total))
        now = time.time()
        eta = self.started + (now - self.started) / share if share > 0.02 else None
        return {"share": round(share, 4), "started": self.started, "eta": eta}


Fetch = Callable[[int], tuple[list[Record[zr.TicketEvent]], int, bool, int | None]]
"""The export reader: start_time -> (new records, end_time, end_of_stream, first timestamp)."""


class Backfill:
    """Runs one backfill (see the module docstring) and yields its pages in commit order."""

    def __init__(
        self,
        client: HttpClient,
        closed: ClosedTickets,
        fetch_export: Fetch,
        frontier: Frontier,
        start: int,
        paths: Mapping[str, str],
        export_bucket: str,
    ) -> None:
        self.client = client
        self.closed = closed
        self.fetch_export = fetch_export
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
        paginator = Paginator("zendesk ticket_events (backfill)")
        while not self._stop.is_set():
            with self._lock:
                f = self.fetched
                if f.done(self._known()):
                    return
                start = f.export
            if self.client.limiter.ready_in(self.export_bucket) > 0:
                self._stop.wait(0.02)
                continue
            records, end_time, last, _ = self.fetch_export(start)
            self.requests["export"] += 1
            with self._lock:
                self.fetched.export = end_time if not last else max(end_time, self.fetched.t0)
            self._put("export", records, {"export": self.fetched.export})
            if last:
                return
            paginator.advance(end_time)

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
        pages = Paginator("zendesk ticket_audits")
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
                for page in range(1, SEARCH_CAP // SEARCH_PAGE + 1):
                    while searched.unread(self.fetched.archived_next) >= SEARCH_AHEAD:
                        if self._stop.wait(0.02):
                            return
                    if self._stop.is_set() or self.closed.known(below + 1):
                        return  # stopped, or the tickets stream has named them all
                    body: SearchPage = self.client.get_json(
                        self.paths["search"],
                        {
                            "query": query,
                            "sort_by": "updated_at",
                            "sort_order": "desc",
                            "per_page": SEARCH_PAGE,
                            "page": page,
                        },
                        bucket=DEFAULT_BUCKET,
                        decoder=SEARCH_RESULTS,
                    )
                    self.requests["search"] += 1
                    found = _closed_pairs(SEARCHED.wrap_all(body.results), below, read_to)
                    if found:
                        last = min(last, found[-1][0])
                    if not body.next_page and not _capped(body, page):
                        searched.add(found, -1)
                        return
                    searched.add(found, last)
                    if not body.next_page:
                        break
                if last >= below:  # a whole query in one second: it cannot go below it
                    raise StreamError(f"zendesk search: over {SEARCH_CAP} tickets closed at once")
                below = last
        except (StreamError, StreamUnavailable) as exc:
            log.warning("zendesk: backfill cannot name archived tickets by search (%s)", exc)
            searched.failed = True
        finally:
            searched.running = False

    def _audits_page(self, pages: Paginator) -> None:
        f = self.fetched
        query: dict[str, Any] = {"page[size]": AUDITS_PAGE}
        if f.audits:
            query["page[after]"] = f.audits
        body: AuditPage = self.client.get_json(
            self.paths["ticket_audits"], query, bucket=DEFAULT_BUCKET, decoder=AUDIT_PAGE
        )
        self.requests["audits"] += 1
        records = [as_event(r) for r in AUDITS.wrap_all(body.audits)]
        meta = body.meta or {}
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
                pages.advance(after)
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
        path = self.paths["ticket_audits_of"].format(ticket_id=ticket_id)
        pages = Paginator(f"zendesk ticket {ticket_id} audits")
        query: dict[str, Any] = {"page[size]": AUDITS_PAGE}
        found: list[Record[zr.TicketEvent]] = []
        while True:
            body: AuditPage = self.client.get_json(
                path, query, bucket=DEFAULT_BUCKET, decoder=AUDIT_PAGE
            )
            with self._lock:
                self.requests["archived"] += 1
            found += [as_event(r) for r in AUDITS.wrap_all(body.audits)]
            meta = body.meta or {}  # archived tickets answer all at once, without meta
            after = meta.get("after_cursor")
            if not meta.get("has_more") or not pages.advance(after):
                return found
            query = {**query, "page[after]": after}

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


class SearchPage(Struct, gc=False):
    results: list[Raw] | None = None
    next_page: str | None = None
    count: Any = None


SEARCHED = RecordType(zr.Ticket)
SEARCH_RESULTS = page_decoder(SearchPage)


def _capped(body: SearchPage, page: int) -> bool:
    """Whether the query matched more than its pages gave: Zendesk's last page under the cap
    has no next_page, and only `count` (every match) says that more are left."""
    count = body.count
    if isinstance(count, int) and not isinstance(count, bool):
        return count > page * SEARCH_PAGE
    return page * SEARCH_PAGE >= SEARCH_CAP  # no count: a full query may have been cut


def _closed_pairs(
    records: list[Record[zr.Ticket]], below: int, read_to: tuple[int, int] | None
) -> list[tuple[int, int]]:
    """(updated_at, id) of the closed tickets among search results, updated at or before
    `below` and not above the frontier (already read), newest first."""
    found = []
    for record in records:
        ticket = record.value
        if ticket is None or ticket.status != "closed" or not isinstance(ticket.id, int):
            continue
        updated = _epoch(ticket.updated_at)
        if updated is None or updated > below:
            continue
        if read_to is None or (updated, ticket.id) <= read_to:
            found.append((updated, ticket.id))
    return sorted(found, reverse=True)


def _before(record: Record[zr.TicketEvent], t0: int) -> bool:
    """Audits from T0 on are left to the export after the hand-over (they would only repeat)."""
    value = record.value
    if value is None:
        return True
    stamp = _epoch(value.created_at)
    return stamp is None or stamp < t0


def budgets_of(client: HttpClient, incremental: str) -> Budgets:
    limiter = client.limiter
    return Budgets(limiter.budget(DEFAULT_BUCKET), limiter.budget(incremental))


__all__ = [
    "AUDITS",
    "AUDIT_PAGE",
    "Audit",
    "Backfill",
    "Budgets",
    "ClosedTickets",
    "Frontier",
    "as_event",
    "budgets_of",
    "choose",
    "pages_left",
]
