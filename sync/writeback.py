"""`deskpulse push`: write KPI values and digests into the help desk, exactly once.

Three steps, each committed before the next, so that no crash, retry or second run writes a
value twice or loses one (the ledger is sync.state.WriteBack):

1. Plan (sync.writeback_plan): what each action should write now, against the ledger's latest
   rows, committed as pending rows (`--dry-run` shows it and stops here, writing nothing).
2. In-doubt rows are read back from the help desk (`read_*_fields`; a post by its key with
   `find_post`): a value already there is marked sent (`verified`), not written again; only a
   missing one is written. A row is in doubt when it stays `sending`: a crash or a stop request
   between its request and its commit, or a write whose answer never came (a timeout or a
   dropped connection after sending, a 5xx, a bulk job that cannot be followed or is still
   running: the connector answers `doubt` and never resends it itself).
3. Send, in batches of at most 100 records: the batch's rows are marked `sending` and committed,
   the connector writes (Zendesk: one bulk job), and each row becomes `sent`; stays `sending`
   (in doubt: read back by the next push, after the connector's delay if it gave one, with
   the failures' backoff when its writes keep going unanswered); or becomes
   `failed` with the reason and the time of its next attempt (exponential backoff, or the
   vendor's Retry-After). A row that failed MAX_ATTEMPTS times stays failed until its value
   changes. A vendor asking to wait longer than a request waits (a 429 with a long Retry-After:
   `throttled`, nothing applied) fails its rows until the vendor's time, without spending an
   attempt, and the push says so in one line (`PushReport.notes`).

The idempotency key is unique in the ledger, so two pushes at once cannot both plan a write;
the second one stops with one line.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from deskpulse.connectors.base import (
    DOUBT,
    THROTTLED,
    WRITE_POSTS,
    WRITE_SUBSCRIPTIONS,
    WRITE_TICKET_FIELDS,
    WRITE_USER_FIELDS,
    Connector,
    FieldValues,
    Post,
    Poster,
    Subscriber,
    TicketFieldWriter,
    UserFieldWriter,
    WriteResult,
    writer_of,
)
from deskpulse.connectors.errors import ConfigError
from deskpulse.connectors.http import duration
from deskpulse.sync.actions import Actions
from deskpulse.sync.locks import source_lock
from deskpulse.sync.warehouse import Warehouse
from deskpulse.sync.writeback_plan import (
    FAILED,
    IN_DOUBT,
    MAX_ATTEMPTS,
    PENDING,
    POST,
    SENDING,
    SENT,
    SUBSCRIPTION,
    TICKET_FIELD,
    USER_FIELD,
    Context,
    Extra,
    Item,
    chunks,
    commit_plan,
    ledger,
    plan,
)

log = logging.getLogger(__name__)

BATCH = 100
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)

PUSH_LOCK = "__push__:"
"""The lock (sync.locks) a push holds per target source: PUSH_LOCK + the source's name. Another
process's push is refused at once; threads of one process (the daemon's write-back and digest
jobs) wait for each other instead."""

_pushing: dict[str, threading.Lock] = defaultdict(threading.Lock)
_pushing_guard = threading.Lock()


def _in_process(source: str) -> threading.Lock:
    with _pushing_guard:
        return _pushing[source]


@dataclass
class PushReport:
    items: list[Item] = field(default_factory=list)
    unchanged: int = 0
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)
    """One line per vendor that asked to wait longer than a request waits, e.g. "zendesk asked
    to wait 24 h (until 2026-12-06 09:00 UTC): 100 writes retried then"."""

    def count(self, outcome: str) -> int:
        return sum(1 for i in self.items if i.outcome == outcome)

    @property
    def failed(self) -> int:
        return self.count(FAILED)

    @property
    def in_doubt(self) -> int:
        return self.count(IN_DOUBT)


class Sender:
    """Step 2 and 3 for one source's connector."""

    def __init__(
        self,
        warehouse: Warehouse,
        connector: Connector,
        clock: Callable[[], datetime],
        stop: threading.Event | None = None,
    ) -> None:
        self.warehouse = warehouse
        self.connector = connector
        self.clock = clock
        # Set (SIGTERM in the daemon): stop between batches; the rest stays pending.
        self.stop = stop or threading.Event()
        self.throttled: list[tuple[Item, float, datetime]] = []  # (item, wait, until)

    def notes(self) -> list[str]:
        """One line for the writes a vendor asked to wait for (longer than a request waits)."""
        if not self.throttled:
            return []
        _, wait, until = max(self.throttled, key=lambda t: t[2])
        n = len(self.throttled)
        return [
            f"{self.connector.vendor} asked to wait {duration(wait)} "
            f"(until {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC): "
            f"{n:,} write{'s' if n != 1 else ''} retried then"
        ]

    def run(self, items: list[Item]) -> None:
        fields = [i for i in items if i.kind == TICKET_FIELD]
        posts = [i for i in items if i.kind == POST]
        if fields:
            self._fields(fields)
        for post in posts:
            if self.stop.is_set():
                return
            self._post(post)
        profiles = [i for i in items if i.kind == USER_FIELD]
        if profiles:
            writer: UserFieldWriter = self._need(WRITE_USER_FIELDS, UserFieldWriter)
            self._records(profiles, writer.read_user_fields, writer.write_user_fields)
        subscriptions = [i for i in items if i.kind == SUBSCRIPTION]
        if subscriptions:
            self._subscribe(subscriptions)

    def _records(
        self,
        items: list[Item],
        read: Callable[[Sequence[str], Sequence[str]], Mapping[str, Mapping[str, Any]]],
        write: Callable[[Sequence[FieldValues]], list[WriteResult]],
    ) -> None:
        """Field values per record: in-doubt ones read back first, the rest written in batches."""
        doubt = [i for i in items if i.status == SENDING]
        if doubt:
            there = read(sorted({i.record_id for i in doubt}), sorted({i.field for i in doubt}))
            for i in doubt:
                if i.record_id in there and same(there[i.record_id].get(i.field), i.value):
                    i.outcome = "verified"
            self._settle([i for i in doubt if i.outcome == "verified"], {})
        by_record: dict[str, list[Item]] = defaultdict(list)
        for i in items:
            if i.outcome is None:
                by_record[i.record_id].append(i)
        for chunk in chunks(list(by_record), BATCH):
            if self.stop.is_set():
                return
            batch = [i for r in chunk for i in by_record[r]]
            self._mark_sending(batch)
            payload = [FieldValues(r, {i.field: i.value for i in by_record[r]}) for r in chunk]
            self._settle(batch, {res.record_id: res for res in write(payload)})

    def _subscribe(self, items: list[Item]) -> None:
        """Subscriptions per list: in-doubt ones are looked up on the list first (a second job
        for someone awaiting double opt-in would mail them again), the rest sent in jobs."""
        subscriber: Subscriber = self._need(WRITE_SUBSCRIPTIONS, Subscriber)
        by_list: dict[str, list[Item]] = defaultdict(list)
        for i in items:
            by_list[i.field].append(i)
        for list_id, group in by_list.items():
            doubt = [i for i in group if i.status == SENDING]
            if doubt:
                there = subscriber.subscribed(list_id, [i.record_id for i in doubt])
                verified = [i for i in doubt if i.record_id in there]
                for i in verified:
                    i.outcome = "verified"
                self._settle(verified, {})
            for chunk in chunks([i for i in group if i.outcome is None], 1000):
                if self.stop.is_set():
                    return
                self._mark_sending(list(chunk))
                results = subscriber.subscribe(list_id, [i.record_id for i in chunk])
                self._settle(list(chunk), {r.record_id: r for r in results})

    def _need(self, capability: str, protocol: type) -> Any:
        c = self.connector
        writer = writer_of(c)
        if capability not in c.capabilities or not isinstance(writer, protocol):
            raise ConfigError(
                f"source {c.source} ({c.vendor}) cannot {capability.split(':')[1].replace('_', ' ')}"
                " : remove that action from DESKPULSE_WRITEBACK"
            )
        return writer

    def _fields(self, items: list[Item]) -> None:
        writer: TicketFieldWriter = self._need(WRITE_TICKET_FIELDS, TicketFieldWriter)
        self._records(items, writer.read_ticket_fields, writer.write_ticket_fields)

    def _post(self, item: Item) -> None:
        poster: Poster = self._need(WRITE_POSTS, Poster)
        if item.status == SENDING and poster.find_post(item.key) is not None:
            item.outcome = "verified"
            self._settle([item], {})
            return
        self._mark_sending([item])
        value = item.value or {}
        result = poster.post(
            Post(item.key, str(value.get("title", "")), str(value.get("body", "")))
        )
        self._settle([item], {item.record_id: result})

    def _mark_sending(self, items: list[Item]) -> None:
        wb = ledger()
        with self.warehouse.begin() as conn:
            for chunk in chunks([i.row_id for i in items], 500):
                conn.execute(
                    update(wb)
                    .where(wb.c.id.in_(chunk))
                    .values(status=SENDING, attempts=wb.c.attempts + 1, next_attempt_at=None)
                )
        for i in items:
            i.attempts += 1

    def _settle(self, items: list[Item], results: Mapping[str, WriteResult]) -> None:
        """Record each item's outcome: verified items and ok results are sent; `doubt` results
        stay `sending` (read back next time); the rest failed, until their next attempt."""
        wb = ledger()
        now = self.clock()
        with self.warehouse.begin() as conn:
            for i in items:
                result = results.get(i.record_id)
                if i.outcome == "verified" or (result is not None and result.ok):
                    i.outcome = i.outcome or SENT
                    values: dict[str, Any] = {"status": SENT, "sent_at": now, "error": None,
                                              "next_attempt_at": None}  # fmt: skip
                elif result is not None and result.status == DOUBT:
                    i.outcome, i.error = IN_DOUBT, result.reason or "no answer"
                    values = {"status": SENDING, "error": i.error,
                              "next_attempt_at": _read_back_at(i.attempts, result, now)}  # fmt: skip
                elif result is not None and result.status == THROTTLED:
                    # Nothing was applied, and not for anything wrong with the write: the
                    # attempt is given back and the row waits for the vendor's time.
                    i.outcome, i.error = FAILED, result.reason or "throttled"
                    i.attempts = max(i.attempts - 1, 0)
                    wait = result.retry_after or BACKOFF_FIRST.total_seconds()
                    until = now + timedelta(seconds=wait)
                    self.throttled.append((i, wait, until))
                    values = {"status": FAILED, "error": i.error, "attempts": i.attempts,
                              "next_attempt_at": until}  # fmt: skip
                else:
                    i.outcome = FAILED
                    i.error = (result.reason if result else None) or "no result for this record"
                    values = {"status": FAILED, "error": i.error,
                              "next_attempt_at": _next_attempt(i.attempts, result, now)}  # fmt: skip
                conn.execute(update(wb).where(wb.c.id == i.row_id).values(**values))


def same(found: Any, value: Any) -> bool:
    """Whether a value read back from the help desk is the one written (help desks may answer
    numbers as text, e.g. "42" for 42, and booleans as "true")."""
    if found == value:
        return True
    if found is None or value is None:
        return False
    return str(found).lower() == str(value).lower()


def _next_attempt(attempts: int, result: WriteResult | None, now: datetime) -> datetime | None:
    if attempts >= MAX_ATTEMPTS:
        return None  # given up until the value changes
    wait: timedelta = min(BACKOFF_FIRST * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)
    if result is not None and result.retry_after:
        wait = max(wait, timedelta(seconds=result.retry_after))
    return now + wait


def _read_back_at(attempts: int, result: WriteResult, now: datetime) -> datetime | None:
    """When a row in doubt is read back: at the next push the first time (None), after the
    connector's delay when it gave one (a job still running), and with the failures' backoff
    when its writes keep going unanswered."""
    wait = timedelta(seconds=result.retry_after or 0)
    if attempts > 1:
        wait = max(wait, min(BACKOFF_FIRST * 2 ** (attempts - 2), BACKOFF_MAX))
    return now + wait if wait else None


def push(
    warehouse: Warehouse,
    actions: Actions,
    connectors: Mapping[str, Connector],
    ctx: Context,
    *,
    dry_run: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    extra: Extra | None = None,
    stop: threading.Event | None = None,
    only: Collection[str] | None = None,
) -> PushReport:
    """Plan, commit and send (see the module docstring); `connectors` by source name.
    `stop`, once set, ends the push between batches (what is left stays pending). `only`:
    the ticket fields of these tickets alone (a webhook's targeted write-back)."""
    now = clock()
    missing = sorted({a.source for a in actions.all()} - set(connectors))
    if missing and not dry_run:
        raise ConfigError(
            f"write-back source {', '.join(missing)} is not configured "
            f"(configured: {', '.join(sorted(connectors)) or 'none'})"
        )
    if dry_run:
        items, _, unchanged = plan(
            warehouse, actions, ctx, now, extra=extra, connectors=connectors, only=only
        )
        return PushReport(items, unchanged, dry_run)
    with ExitStack() as held:
        # One push per target at a time (a push by hand while the daemon writes back, two
        # overlapping cron pushes): both would send the same pending rows, a digest twice.
        for source in sorted({a.source for a in actions.all()}):
            held.enter_context(_in_process(source))  # the daemon's threads take turns
            held.enter_context(
                source_lock(warehouse, PUSH_LOCK + source, subject=f"{source} is being written to")
            )
        items, superseded, unchanged = plan(
            warehouse, actions, ctx, now, extra=extra, connectors=connectors, only=only
        )
        report = PushReport(items, unchanged, dry_run)
        if not (items or superseded):
            return report
        commit_plan(warehouse, items, superseded, now)
        by_source: dict[str, list[Item]] = defaultdict(list)
        for i in items:
            by_source[i.source].append(i)
        for source, group in by_source.items():
            sender = Sender(warehouse, connectors[source], clock, stop)
            try:
                sender.run(group)
            finally:
                report.notes += sender.notes()
        for note in report.notes:
            log.warning("%s", note)
        return report


def ledger_summary(warehouse: Warehouse) -> list[dict[str, Any]]:
    """Per target: rows sent, pending, in doubt and failed, and the last error (for status)."""
    wb = ledger()
    out: dict[str, dict[str, Any]] = {}
    with warehouse.connect() as conn:
        stmt = select(wb.c.target, wb.c.status, func.count()).group_by(wb.c.target, wb.c.status)
        for target, status, n in conn.execute(stmt):
            entry = out.setdefault(target, {"target": target, SENT: 0, PENDING: 0, SENDING: 0,
                                            FAILED: 0, "last_error": None})  # fmt: skip
            if status in entry:
                entry[status] = int(n)
        failed = (
            select(wb.c.target, wb.c.error, wb.c.next_attempt_at)
            .where(wb.c.status == FAILED)
            .order_by(wb.c.id.desc())
        )
        for target, error, next_at in conn.execute(failed):
            entry = out[target]
            if entry["last_error"] is None:
                entry["last_error"] = error
                entry["next_attempt_at"] = next_at.isoformat() if next_at else None
    return sorted(out.values(), key=lambda e: e["target"])


__all__ = ["BATCH", "PUSH_LOCK", "PushReport", "Sender", "ledger_summary", "push"]
