"""A run's ledger: the one place that writes a sync run into the warehouse.

Every page commits in one transaction: its rows (upserted by natural key), its quarantined
records and its cursor, and, at least once a second, the run row's counters. The ledger keeps
those counters (rows, written, pages, quarantined per stream), so the run row tells what is
committed (a second behind at most during a stream, exactly at its end, even after a crash).

Two ways to run it, with the same code and the same transactions:

* `Ledger`: in the sync's own process (small syncs, in-memory SQLite, tests).
* `LedgerProcess`: in a writer process beside the sync. Reading pages (HTTP, JSON decoding,
  mapping) and writing them (SQLite's B-trees) are both CPU work, and Python runs one thread at a
  time: a writer *thread* waits for the interpreter lock after every row it binds, so only a
  process overlaps the two. Pages go over a pipe as msgpack (a page of 1,500 rows costs the sync
  about 0.2 ms to send); at most `depth` pages are in flight, so memory stays flat. A page is
  acknowledged once committed; the first failed page of a stream makes the writer refuse that
  stream's later pages, so no cursor ever moves past a page that did not commit. If the sync
  process dies, the writer finishes the pages it has and exits; if the writer dies, the sync
  stops with one line.
"""

from __future__ import annotations

import fcntl
import gc
import logging
import multiprocessing
import pickle
import signal
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing.connection import Connection as Pipe
from typing import Any

import msgspec
from sqlalchemy import Connection, update
from sqlalchemy.dialects import postgresql, sqlite

from deskpulse.connectors.base import Cursor
from deskpulse.connectors.errors import DeskpulseError, FatalError
from deskpulse.sync.state import Quarantine, SyncRun, SyncState
from deskpulse.sync.warehouse import Warehouse, table, upsert

log = logging.getLogger("deskpulse.sync")


class WarehouseWriteError(DeskpulseError):
    """A page could not be committed (disk full, database locked too long, ...)."""


@dataclass
class StreamReport:
    name: str
    status: str = "ok"  # ok | skipped | failed | not run
    records: int = 0
    rows: int = 0
    written: int = 0
    pages: int = 0
    quarantined: int = 0
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # the pages' named counts, summed

    def as_dict(self) -> dict[str, Any]:
        # Counts only where a stream reported some (most report none).
        return {k: v for k, v in self.__dict__.items() if k != "name" and (v or k != "counts")}


@dataclass
class PageCommit:
    """What one page puts into the warehouse, all in one transaction."""

    stream: str
    tables: dict[str, list[dict[str, Any]]]  # rows per table
    rejects: list[dict[str, Any]]
    cursor: Cursor | None  # None: the stored cursor stays as it is
    records: int  # vendor records read
    rows: int  # rows they mapped to
    stats: dict[str, int]  # the connector's request counters so far
    counts: dict[str, int] = field(default_factory=dict)  # Page.counts


def _add_counts(before: dict[str, int], page: dict[str, int]) -> dict[str, int]:
    if not page:
        return before
    total = dict(before)
    for name, n in page.items():
        total[name] = total.get(name, 0) + n
    return total


def now() -> datetime:
    return datetime.now(UTC)


def save_cursor(connection: Connection, source: str, stream: str, cursor: Cursor) -> None:
    upsert(
        connection,
        SyncState.__tablename__,
        [{"source": source, "stream": stream, "cursor": cursor, "updated_at": now()}],
    )


def save_rejects(connection: Connection, rejects: Sequence[Mapping[str, Any]]) -> None:
    """Quarantine records; one seen before (same source and fingerprint) is not added again,
    its entry takes this run and reason (see `sync.state.Quarantine`)."""
    target = table(Quarantine.__tablename__)
    # One statement may not touch a row twice (PostgreSQL): the last of a repeat wins.
    unique = list({(r["source"], r["fingerprint"]): r for r in rejects}.values())
    dialect = sqlite.insert if connection.dialect.name == "sqlite" else postgresql.insert
    statement = dialect(target)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["source", "fingerprint"],
            set_={"run_id": statement.excluded.run_id, "reason": statement.excluded.reason},
        ),
        unique,
    )


class Ledger:
    """Commits pages of one run and keeps its run row current."""

    def __init__(
        self,
        warehouse: Warehouse,
        run_id: int,
        source: str,
        *,
        on_commit: Callable[[StreamReport], None] | None = None,
        streams: Sequence[StreamReport] = (),
    ) -> None:
        self.warehouse = warehouse
        self.run_id = run_id
        self.source = source
        self.streams: dict[str, StreamReport] = {s.name: s for s in streams}
        self.stats: dict[str, int] = {}
        self._failed: set[str] = set()
        self._on_commit = on_commit
        self._run_written = 0.0  # monotonic time the run row was last brought up to date

    # The calls the engine makes; `stream` and `commit` return the stream's committed counters.

    def stream(self, report: StreamReport) -> StreamReport:
        """Start a stream, or take its final status and error (the counters stay the ledger's)."""
        mine = self.streams.get(report.name)
        if mine is None:
            mine = self.streams[report.name] = StreamReport(report.name)
            self._failed.discard(report.name)
        mine.status, mine.error = report.status, report.error
        with self.warehouse.begin() as connection:
            self._update_run(connection)
        return mine

    def commit(self, page: PageCommit) -> StreamReport:
        if page.stream in self._failed:
            raise WarehouseWriteError(
                f"{page.stream}: page not written: an earlier page of this stream failed"
            )
        before = self.streams.setdefault(page.stream, StreamReport(page.stream))
        try:
            with self.warehouse.begin() as connection:
                written = sum(upsert(connection, name, rows) for name, rows in page.tables.items())
                if page.rejects:
                    save_rejects(connection, page.rejects)
                if page.cursor is not None:
                    save_cursor(connection, self.source, page.stream, page.cursor)
                after = replace(
                    before,
                    records=before.records + page.records,
                    rows=before.rows + page.rows,
                    written=before.written + written,
                    pages=before.pages + 1,
                    quarantined=before.quarantined + len(page.rejects),
                    counts=_add_counts(before.counts, page.counts),
                )
                self.streams[page.stream] = after
                self.stats = page.stats
                if time.monotonic() - self._run_written >= RUN_ROW_EVERY:
                    self._update_run(connection)
        except Exception as exc:
            self.streams[page.stream] = before
            self._failed.add(page.stream)
            if isinstance(exc, DeskpulseError):
                raise
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise WarehouseWriteError(
                f"{page.stream}: the warehouse refused a page ({exc.__class__.__name__}: "
                f"{reason}); nothing after the last committed page was recorded"
            ) from None
        if self._on_commit is not None:
            self._on_commit(after)
        return after

    def drain(self, stream: str) -> None:
        """Every page is committed when `commit` returns: nothing to wait for."""

    def finish(self, values: Mapping[str, Any], stats: dict[str, int]) -> None:
        """The run's final status, message and end time."""
        self.stats = stats
        with self.warehouse.begin() as connection:
            self._update_run(connection, **values)

    def _update_run(self, connection: Connection, **values: Any) -> None:
        self._run_written = time.monotonic()
        runs = table(SyncRun.__tablename__)
        connection.execute(
            update(runs).where(runs.c.id == self.run_id).values(**self.run_values(), **values)
        )

    def run_values(self) -> dict[str, Any]:
        streams = self.streams.values()
        stats = self.stats
        return {
            "rows": sum(s.rows for s in streams),
            "requests": stats.get("requests", 0),
            "retries": stats.get("retries", 0),
            "errors": stats.get("errors", 0) + sum(1 for s in streams if s.error),
            "quarantined": sum(s.quarantined for s in streams),
            "streams": {s.name: s.as_dict() for s in streams},
        }

    def close(self) -> None:
        pass

    def snapshot(self) -> list[StreamReport]:
        return list(self.streams.values())


# --------------------------------------------------------------------------------------------
# The writer process

SYNC_GC_THRESHOLDS = (100_000, 50, 100)
"""The cycle collector's pace while a sync runs, in both processes (see
sync.engine._few_collections): millions of short-lived containers, freed by reference counting,
need not be re-scanned every 700 allocations."""

RUN_ROW_EVERY = 1.0
"""Seconds between updates of the run row's counters within a stream (it is updated at each
stream's start and end too). The cursors move with every page; the counters need not."""

WRITER_CACHE_MB = 48
"""SQLite page cache of the writer process (the default is 2 MB): most index pages a big backfill
touches stay in it, and the two processes of a sync stay under 300 MB together."""

_MSGPACK = b"m"
_PICKLE = b"p"
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


def _pack(message: Any) -> bytes:
    """msgpack (fast) for ordinary rows; pickle for what msgpack cannot hold exactly (naive
    datetimes, which it would turn into text, or integers past 64 bits)."""
    try:
        if not _has_naive_datetime(message):
            return _MSGPACK + _encoder.encode(message)
    except (TypeError, OverflowError):
        pass
    return _PICKLE + pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def _unpack(data: bytes) -> Any:
    if data[:1] == _MSGPACK:
        return _decoder.decode(memoryview(data)[1:])
    return pickle.loads(memoryview(data)[1:])


def _has_naive_datetime(message: Any) -> bool:
    """Whether a page's rows carry a naive datetime (connectors give aware UTC ones; checking
    the first row of each table is enough, since a connector maps every row alike)."""
    if not isinstance(message, tuple) or message[0] != "commit":
        return False
    for rows in message[1]["tables"].values():
        for value in rows[0].values() if rows else ():
            if isinstance(value, datetime) and value.tzinfo is None:
                return True
    return False


def _widen(pipe: Pipe) -> None:
    """Give a pipe room for about four pages (Linux; elsewhere it keeps its size)."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:  # pragma: no cover - not Linux
        return
    with suppress(OSError):  # over /proc/sys/fs/pipe-max-size: keep the default
        fcntl.fcntl(pipe.fileno(), set_size, 1 << 20)


def _serve(
    pages: Pipe,
    answers: Pipe,
    url: str,
    run_id: int,
    source: str,
    streams: list[dict[str, Any]],
) -> None:
    """The writer process: apply messages in order, answer each one."""
    # Ctrl-C reaches the whole process group: the sync process decides, and this one finishes
    # the pages it was sent and ends when the sync closes the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.set_threshold(*SYNC_GC_THRESHOLDS)
    warehouse = Warehouse(url, migrate=False, cache_mb=WRITER_CACHE_MB)
    ledger = Ledger(warehouse, run_id, source, streams=[StreamReport(**s) for s in streams])
    try:
        while True:
            try:
                kind, body = _unpack(pages.recv_bytes())
            except (EOFError, OSError):
                return  # the sync process is gone: what it sent is committed
            try:
                if kind == "commit":
                    answer: Any = _as_message(ledger.commit(PageCommit(**body)))
                elif kind == "stream":
                    answer = _as_message(ledger.stream(StreamReport(**body)))
                elif kind == "finish":
                    ledger.finish(body["values"], body["stats"])
                    answer = None
                else:  # pragma: no cover - a programming error in the protocol
                    raise WarehouseWriteError(f"unknown ledger message {kind!r}")
                reply: tuple[str, Any] = ("ok", answer)
            except DeskpulseError as exc:
                reply = ("error", str(exc))
            except Exception as exc:  # a bug: say it in one line, keep serving
                reply = ("error", f"internal error in the warehouse writer: {exc!r}")
            try:
                answers.send_bytes(_pack(reply))
            except OSError:
                return  # the sync process stopped listening (Ctrl-C): this page is committed
            if kind == "finish":
                return
    finally:
        warehouse.dispose()


class LedgerProcess:
    """The same ledger, in a writer process; `commit` returns before the page is written.

    `on_commit(report)` is called (in this process) as each page's commit is acknowledged.
    `drain()` waits for every page sent so far and raises the first failure. `streams` are the
    counters committed so far (a run that moves its writes here part-way).
    """

    def __init__(
        self,
        warehouse: Warehouse,
        run_id: int,
        source: str,
        *,
        depth: int = 4,
        on_commit: Callable[[StreamReport], None] | None = None,
        streams: Sequence[StreamReport] = (),
    ) -> None:
        context = multiprocessing.get_context("spawn")
        # Two one-way pipes, the outgoing one widened to hold a few pages: a page is sent
        # without waiting for the writer to finish the one before.
        pages_in, self._pages_out = context.Pipe(duplex=False)
        self._answers, answers_out = context.Pipe(duplex=False)
        _widen(self._pages_out)
        self._process = context.Process(
            target=_serve,
            args=(
                pages_in,
                answers_out,
                warehouse.url,
                run_id,
                source,
                [_as_message(s) for s in streams],
            ),
            name="deskpulse-writer",
            daemon=True,
        )
        self._process.start()
        pages_in.close()
        answers_out.close()
        self._depth = max(1, depth)
        self._pending: deque[tuple[str, str]] = deque()  # (message kind, stream) awaiting answers
        self._on_commit = on_commit
        # Failures by stream (streams run side by side): kept until raised in that stream, and
        # a stream whose failure was raised ignores the refusals that follow from it.
        self._errors: dict[str, str] = {}
        self._raised: set[str] = set()

    def _send(self, kind: str, stream: str, body: Any) -> None:
        try:
            self._pages_out.send_bytes(_pack((kind, body)))
        except (BrokenPipeError, OSError):
            raise self._gone() from None
        self._pending.append((kind, stream))

    def _gone(self) -> FatalError:
        code = self._process.exitcode
        return FatalError(
            "the warehouse writer process stopped"
            + (f" (exit code {code})" if code is not None else "")
            + "; the run's committed pages are kept: run the sync again"
        )

    def _receive(self) -> Any:
        kind, stream = self._pending.popleft()
        try:
            status, answer = _unpack(self._answers.recv_bytes())
        except (EOFError, OSError):
            raise self._gone() from None
        if status == "error":
            if stream not in self._raised:
                self._errors.setdefault(stream, str(answer))
            return None
        if kind == "commit" and self._on_commit is not None:
            self._on_commit(_report(answer))
        return answer

    def _check(self, stream: str) -> None:
        error = self._errors.pop(stream, None)
        if error is not None:
            self._raised.add(stream)
            raise WarehouseWriteError(error)

    def commit(self, page: PageCommit) -> None:
        while len(self._pending) >= self._depth:
            self._receive()
        self._check(page.stream)
        self._send("commit", page.stream, page.__dict__)

    def drain(self, stream: str) -> None:
        """Wait for every page sent so far; raise `stream`'s first failure."""
        while self._pending:
            self._receive()
        self._check(stream)

    def stream(self, report: StreamReport) -> StreamReport:
        self.drain(report.name)
        self._raised.discard(report.name)
        self._send("stream", report.name, _as_message(report))
        answer = self._receive()
        self._check(report.name)
        return _report(answer)

    def finish(self, values: Mapping[str, Any], stats: dict[str, int]) -> None:
        while self._pending:
            self._receive()
        self._send("finish", "", {"values": dict(values), "stats": stats})
        self._receive()
        self._check("")

    def close(self) -> None:
        self._pages_out.close()
        self._answers.close()
        self._process.join(timeout=30)
        if self._process.is_alive():  # pragma: no cover - a stuck writer
            self._process.terminate()


def _as_message(report: StreamReport) -> dict[str, Any]:
    return {"name": report.name, **report.as_dict()}


def _report(answer: Mapping[str, Any] | None) -> StreamReport:
    if answer is None:  # pragma: no cover - an error answer is raised before this
        raise WarehouseWriteError("the warehouse writer gave no report")
    return StreamReport(**answer)


__all__: Sequence[str] = [
    "Ledger",
    "LedgerProcess",
    "PageCommit",
    "StreamReport",
    "WarehouseWriteError",
    "save_cursor",
]
