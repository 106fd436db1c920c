"""The state of a Zendesk backfill (zendesk.backfill): the plan's inputs, its frontier, what each
reader knows of the archived tickets, and the shapes of the pages it reads.

`Frontier` is what the stream's cursor keeps (`{"backfill": ...}`), so a crash resumes the same
plan; `ClosedTickets` is what the tickets stream of the same run tells the backfill,
`SearchedClosed` what the search found; `choose` is the planner.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from msgspec import Raw, Struct

from deskpulse.connectors.errors import RecordError
from deskpulse.connectors.http import DEFAULT_BUCKET, HttpClient
from deskpulse.connectors.records import Record, RecordType, page_decoder
from deskpulse.connectors.zendesk import normalise as nz
from deskpulse.connectors.zendesk import records as zr

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


"""The export reader: start_time -> (new records, end_time, end_of_stream, first timestamp)."""


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
