"""One process at a time per source: a lock row in the warehouse, with an owner and a lease.

    with source_lock(warehouse, "zendesk"):
        ...  # nobody else syncs zendesk meanwhile; LockHeld (one line) if somebody does

Why a table row and not `fcntl`, advisory locks or a lock file: it works the same on SQLite and
PostgreSQL, on every OS, and across machines that share a PostgreSQL warehouse; the row also
says who holds the lock, which the refusal message shows.

How it stays correct without a lock server:
* Taking the lock is one atomic statement, `INSERT ... ON CONFLICT DO NOTHING`: of two
  processes racing for a free lock exactly one inserts the row.
* The holder refreshes `heartbeat_at` every `lease / 6` seconds from a background thread, and
  deletes the row when done.
* A holder that died without deleting its row (kill -9, power cut) is stale: at once when it ran
  on this machine and its pid is gone, otherwise when its heartbeat is older than the lease.
  A stale row is removed by a compare-and-delete on (owner, heartbeat_at), then the insert is
  tried again, so two processes that both find it stale still end with one holder.
* A holder whose heartbeat could not be written for a whole lease (the machine slept) may have
  been replaced: `SourceLock.lost` is then set, and the sync stops at its next page.

"This machine" is the host name plus, on Linux, the pid namespace, so two containers that share
a host name never judge each other's pids. On Windows no pid is checked (`os.kill(pid, 0)` would
end the process there); the lease alone frees a dead holder's lock.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from deskpulse.connectors.errors import DeskpulseError
from deskpulse.sync.state import SourceLockRow
from deskpulse.sync.warehouse import Warehouse, table

log = logging.getLogger("deskpulse.sync")

LEASE = timedelta(seconds=60)
"""How long a holder on another machine may go without a heartbeat before its lock is stale."""


class LockHeld(DeskpulseError):
    """Another live process holds the lock; `str()` says who, since when, and what to do."""

    def __init__(
        self, source: str, pid: int, host: str, since: datetime, subject: str | None = None
    ) -> None:
        self.source, self.pid, self.host, self.since = source, pid, host, since
        super().__init__(
            f"{subject or f'source {source} is being synced'} by another deskpulse process "
            f"(pid {pid} on host {host} since {since:%Y-%m-%d %H:%M:%S} UTC); "
            "try again when it ends"
        )


def _now() -> datetime:
    return datetime.now(UTC)


def this_node() -> str:
    """The identity under which a pid means one process: host name and pid namespace."""
    try:
        return f"{socket.gethostname()}#{os.readlink('/proc/self/ns/pid')}"
    except OSError:  # not Linux: the host name alone
        return socket.gethostname()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":
        return True  # no harmless probe there: trust the lease
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def holder_alive(node: str, pid: int, heartbeat_at: datetime, lease: timedelta = LEASE) -> bool:
    """Whether the process behind a lock row may still run: not when it ran on this machine
    and its pid is gone, nor when its heartbeat is older than the lease."""
    if node == this_node() and not _alive(pid):
        return False
    return _now() - heartbeat_at <= lease


class SourceLock:
    """A held lock; `release()` (or leaving `source_lock`) gives it up."""

    def __init__(self, warehouse: Warehouse, source: str, owner: str, lease: timedelta) -> None:
        self.warehouse = warehouse
        self.source = source
        self.owner = owner
        self.lease = lease
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lock-{source}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        locks = table(SourceLockRow.__tablename__)
        interval = self.lease.total_seconds() / 6
        last = _now()
        while not self._stop.wait(interval):
            try:
                with self.warehouse.engine.begin() as connection:
                    kept = (
                        connection.execute(
                            update(locks)
                            .where(locks.c.source == self.source, locks.c.owner == self.owner)
                            .values(heartbeat_at=_now())
                            .returning(locks.c.source)
                        ).first()
                        is not None
                    )
            except SQLAlchemyError as exc:  # busy or unreachable: try again next beat
                log.debug("lock heartbeat for %s failed: %s", self.source, exc)
                if _now() - last < self.lease:
                    continue
                kept = False
            if not kept:  # another process may have judged us dead and taken over
                log.error("%s: lost the sync lock (no heartbeat for a whole lease)", self.source)
                self.lost.set()
                return
            last = _now()

    def release(self) -> None:
        self._stop.set()
        self._thread.join()
        locks = table(SourceLockRow.__tablename__)
        try:
            with self.warehouse.engine.begin() as connection:
                connection.execute(
                    delete(locks).where(locks.c.source == self.source, locks.c.owner == self.owner)
                )
        except SQLAlchemyError as exc:  # the lease frees it in time
            log.warning("%s: could not release the sync lock: %s", self.source, exc)


def acquire(
    warehouse: Warehouse, source: str, *, lease: timedelta = LEASE, subject: str | None = None
) -> SourceLock:
    """Take the lock of `source`, or raise LockHeld naming the live holder; `subject` begins
    its message (default "source NAME is being synced"; e.g. the daemon's own words)."""
    locks = table(SourceLockRow.__tablename__)
    owner = uuid.uuid4().hex
    node = this_node()
    insert = (postgresql if warehouse.dialect == "postgresql" else sqlite).insert(locks)
    for _attempt in range(5):
        moment = _now()
        row: dict[str, Any] = {
            "source": source,
            "owner": owner,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "node": node,
            "acquired_at": moment,
            "heartbeat_at": moment,
        }
        with warehouse.begin() as connection:
            statement = insert.values(row).on_conflict_do_nothing().returning(locks.c.source)
            if connection.execute(statement).first() is not None:  # (psycopg's rowcount is -1)
                return SourceLock(warehouse, source, owner, lease)
        with warehouse.connect() as connection:
            holder = connection.execute(select(locks).where(locks.c.source == source)).one_or_none()
        if holder is None:
            continue  # released meanwhile
        if holder_alive(holder.node, holder.pid, holder.heartbeat_at, lease):
            raise LockHeld(source, holder.pid, holder.host, holder.acquired_at, subject)
        log.info("%s: taking over the stale lock of pid %s on %s", source, holder.pid, holder.host)
        # Compare-and-delete: if the holder beat meanwhile, or another process took over
        # first, nothing is deleted and the insert above decides again.
        with warehouse.begin() as connection:
            connection.execute(
                delete(locks).where(
                    locks.c.source == source,
                    locks.c.owner == holder.owner,
                    locks.c.heartbeat_at == holder.heartbeat_at,
                )
            )
    raise DeskpulseError(f"source {source}: could not take the sync lock; try again")


@contextmanager
def source_lock(
    warehouse: Warehouse, source: str, *, lease: timedelta = LEASE, subject: str | None = None
) -> Iterator[SourceLock | None]:
    """Hold the lock of `source` for the block (None for an in-memory SQLite warehouse, which no
    other process can see)."""
    if warehouse.in_memory:
        yield None
        return
    lock = acquire(warehouse, source, lease=lease, subject=subject)
    try:
        yield lock
    finally:
        lock.release()
