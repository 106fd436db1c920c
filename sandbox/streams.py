"""Time-ordered views over the lazily generated tickets.

Tickets are numbered by `generated_timestamp`, but the records that hang off them (audits, metric
events, ratings, calls, chats) are spread over each ticket's life, which lies inside
`[generated_timestamp - MAX_SPAN, generated_timestamp]`. `merged()` turns that bound into a lazy
merge: walk tickets in index order, file their records in hourly buckets, and release a bucket
(sorted) once no later ticket can produce anything in it (the bucket ends before
`generated_ts(next) - MAX_SPAN`). Memory is the records of about MAX_SPAN worth of tickets,
independent of the account size.

Paging through a merge from scratch would regenerate that window on every request, so
`ResumeCache` keeps the live iterator of the last few pages keyed by where the next page starts
(the `start_time` a time-based export's next_page carries, or a cursor token). A page request that
misses the cache (a retry, a new client) rebuilds the merge from its start; the output is the same.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any

from deskpulse.sandbox.data import MAX_SPAN, Account, TicketRef

Record = tuple[int, Any, Any]
"""(timestamp, sort id, payload): ordered by (timestamp, sort id); ids are unique per stream.
Payloads keep only what rendering needs (a TicketRef, not the whole ticket), since a merge holds
about MAX_SPAN worth of tickets' records."""

Extractor = Callable[[Account, int], Iterable[Record]]
"""Records of one ticket index (may skip generating the ticket when it has none)."""


_BUCKET = 3_600
"""Width in seconds of the time buckets `merged` sorts records in."""


def merged_batches(account: Account, extract: Extractor, start_ts: int) -> Iterator[list[Record]]:
    """All records with timestamp >= start_ts, in (timestamp, id) order, as sorted batches.

    Records wait in buckets of _BUCKET seconds; a bucket is sorted and released once the frontier
    has passed its end (no later ticket can add to it). That is cheaper than a heap: one append
    per record, and the sorting is done in C.
    """
    buckets: defaultdict[int, list[Record]] = defaultdict(list)
    released = start_ts // _BUCKET  # every bucket below this one has been released
    j = account.first_ticket_at(start_ts)
    n = account.n_tickets
    generated_ts = account.generated_ts
    while j < n:
        frontier = generated_ts(j) - MAX_SPAN  # no later ticket has a record before it
        ready = frontier // _BUCKET  # buckets below this one are complete
        if not buckets:
            released = max(released, ready)
        while released < ready:
            batch = buckets.pop(released, None)
            released += 1
            if batch:
                batch.sort()
                yield batch
        recs = extract(account, j)
        if frontier >= start_ts:  # the common case: no record of ticket j is before start_ts
            for rec in recs:
                buckets[rec[0] // _BUCKET].append(rec)
        else:
            for rec in recs:
                if rec[0] >= start_ts:
                    buckets[rec[0] // _BUCKET].append(rec)
        j += 1
    for key in sorted(buckets):
        batch = buckets[key]
        batch.sort()
        yield batch


def merged_desc(
    account: Account, extract: Extractor, before: tuple[int, int] | None = None
) -> Iterator[Record]:
    """All records before `before` ((timestamp, id), exclusive; None: every record), newest
    first: the mirror of `merged`. Walks tickets from the newest down and releases a bucket once
    no older ticket can add to it (a ticket's records are at or before its generated_ts)."""
    buckets: defaultdict[int, list[Record]] = defaultdict(list)
    generated_ts = account.generated_ts
    j = account.n_tickets - 1
    if before is not None:  # tickets generated after before + MAX_SPAN have nothing before it
        j = min(j, account.first_ticket_at(before[0] + MAX_SPAN + 1) - 1)
    hi = -1  # the highest bucket key that may hold records not yet released
    while j >= 0:
        ready = generated_ts(j) // _BUCKET  # buckets above this one are complete
        while hi > ready:
            batch = buckets.pop(hi, None)
            hi -= 1
            if batch:
                batch.sort(reverse=True)
                yield from batch
        for rec in extract(account, j):
            if before is None or (rec[0], rec[1]) < before:
                key = rec[0] // _BUCKET
                buckets[key].append(rec)
                hi = max(hi, key)
        j -= 1
    for key in sorted(buckets, reverse=True):
        batch = buckets[key]
        batch.sort(reverse=True)
        yield from batch


def merged(account: Account, extract: Extractor, start_ts: int) -> Iterator[Record]:
    """All records with timestamp >= start_ts, in (timestamp, id) order."""
    return itertools.chain.from_iterable(merged_batches(account, extract, start_ts))


class Peekable:
    """An iterator with push-back, so a page can hand its unread tail to the next page."""

    def __init__(self, it: Iterator[Record], pushed: Iterable[Record] = ()) -> None:
        self._pushed = list(pushed)
        self._it = it

    def __iter__(self) -> Iterator[Record]:
        return self

    def __next__(self) -> Record:
        if self._pushed:
            return self._pushed.pop(0)
        return next(self._it)

    def take(self, n: int) -> list[Record]:
        """The next n records (fewer at the end)."""
        pushed = self._pushed
        if pushed:
            recs = pushed[:n]
            del pushed[:n]
            if len(recs) < n:
                recs += itertools.islice(self._it, n - len(recs))
            return recs
        return list(itertools.islice(self._it, n))

    def push_front(self, recs: list[Record]) -> None:
        self._pushed[:0] = recs


class ResumeCache:
    """A small LRU of live iterators. `take` removes the entry: an iterator has one owner."""

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, Peekable] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: Hashable) -> Peekable | None:
        with self._lock:
            return self._items.pop(key, None)

    def put(self, key: Hashable, it: Peekable) -> None:
        with self._lock:
            self._items[key] = it
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def time_page(it: Peekable, per_page: int) -> tuple[list[Record], bool]:
    """One time-based export page, Zendesk style.

    Takes `per_page` records, then keeps going while records share the last record's second, so a
    page never splits a second (Zendesk: "the system may exceed the 1000-item default return limit
    if items share the same timestamp"). Returns (records, end_of_stream). The caller pushes the
    last second's records back so the next page, which starts at end_time inclusive, sees them
    again: time-based exports repeat the boundary second, as Zendesk's do.
    """
    recs = it.take(per_page)
    if len(recs) < per_page:
        return recs, True
    last = recs[-1][0] if recs else None
    for rec in it:
        if rec[0] != last:
            it.push_front([rec])
            return recs, False
        recs.append(rec)
    return recs, True


def last_second(recs: list[Record]) -> list[Record]:
    if not recs:
        return []
    last = recs[-1][0]
    k = len(recs)
    while k > 0 and recs[k - 1][0] == last:
        k -= 1
    return recs[k:]


def cursor_page(it: Peekable, size: int) -> tuple[list[Record], bool]:
    """Up to `size` records; has_more is decided by peeking one record."""
    recs = it.take(size)
    try:
        nxt = next(it)
    except StopIteration:
        return recs, False
    it.push_front([nxt])
    return recs, True


# ---- extractors --------------------------------------------------------------------------------


def audits_of(account: Account, j: int) -> Iterable[Record]:
    """Audit n of the ticket as (ts, sort id, (TicketRef, author_id, via, children, n)): an
    Audit's fields, read straight from the ticket's audit log (see data.Story)."""
    ref, created, scale, log = account.story(j)
    base = ref.id * 64
    if scale == 1.0:  # the common case: created + int(rel * 1.0) is created + rel
        return [
            (created + rel, base + n, (ref, author, via, children, n))
            for n, (rel, author, via, children) in enumerate(log)
        ]
    return [
        (created + int(rel * scale), base + n, (ref, author, via, children, n))
        for n, (rel, author, via, children) in enumerate(log)
    ]


def metric_events_of(account: Account, j: int) -> Iterable[Record]:
    t = account.ticket(j, custom_fields=False)
    ref = TicketRef.of(t)
    return [(me.ts, t.id * 64 + n, (ref, me, n)) for n, me in enumerate(t.metric_events)]


def ratings_of(account: Account, j: int) -> Iterable[Record]:
    t = account.ticket(j, custom_fields=False, story=False)
    if t.rating is None:
        return ()
    return [(t.rating.updated_ts, t.rating.id, (TicketRef.of(t), t.rating))]


def calls_of(account: Account, j: int) -> Iterable[Record]:
    channel, orphan_call, _ = account.traits(j)
    if channel != "voice" and not orphan_call:
        return ()
    return [
        (c.updated_ts, c.id, c) for c in account.ticket(j, custom_fields=False, story=False).calls
    ]


def chats_of(account: Account, j: int) -> Iterable[Record]:
    channel, _, orphan_chat = account.traits(j)
    if channel != "chat" and not orphan_chat:
        return ()
    return [
        (c.update_ts, c.id, c) for c in account.ticket(j, custom_fields=False, story=False).chats
    ]
