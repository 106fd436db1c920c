"""Fleet mode (`deskpulse daemon --fleet`): any number of daemons, on any number of hosts, share
the sources of one PostgreSQL warehouse. No coordinator: the warehouse's `fleet_leases` rows are
the whole protocol (why lease rows and not advisory locks: docs/fleet.md).

The unit of work is a vendor *account* (a sources-file `account`, by default the source's name):
its sources are synced one after the other by the daemon holding its lease, so one account's rate
budget is never spent by two daemons at once.

* Register: at start a daemon inserts a lease row per account it has configured (existing rows
  keep their holder, due time and counters) and a `fleet_members` row it beats.
* Claim: every TICK seconds a daemon with a free slot runs, in one transaction,
  `SELECT ... WHERE due_at <= now() AND (holder IS NULL OR lease_until < now()) ORDER BY due_at
  LIMIT n FOR UPDATE SKIP LOCKED` and sets itself as holder, `epoch + 1`, `lease_until = now() +
  lease`. Two daemons never pick the same row (SKIP LOCKED passes over the other's); a row whose
  holder stopped renewing is free again once `lease_until` passed. `n` is at most the daemon's
  free slots (DESKPULSE_FLEET_CONCURRENCY) and at most its fair share of the accounts
  (ceil(accounts / live daemons)) minus what it holds: a daemon that joins gets work at the next
  due time of any account, and the work spreads.
* Renew: a thread renews every held lease each lease/3 seconds (and beats the member row). A
  lease it finds taken (it could not renew for a whole lease: a paused VM, a lost network) is
  logged; the per-source lock (sync.locks) still keeps the two from syncing one source at once.
* Release: after the cycle the row gets `holder = NULL`, `due_at = now() + interval` (or the
  backoff, interval * 2^failures up to an hour, counted in the row, so every daemon honours it),
  and the outcome. `due_at` orders the claims: a backed-off account waits without holding a slot,
  the others keep their pace.
* Dead daemon: its leases expire within DESKPULSE_FLEET_LEASE seconds; its sources' per-source
  locks are stale at once on the same host (pid gone) and after sync.locks.LEASE elsewhere. The
  next holder resumes from the committed cursors (a cursor only moves with its page's rows).
* Write-back and digests: done by the holder after each source's sync, through the write-back
  ledger (unique idempotency keys, `sending` rows read back), so they stay exactly once across
  the fleet; a digest is posted by the first sync of its source after its `at` time.
* All times are the database's `now()`, so hosts' clocks may disagree.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql

from deskpulse.connectors.errors import ConfigError
from deskpulse.sync.fleet_status import fleet_view
from deskpulse.sync.state import FleetLease, FleetMember
from deskpulse.sync.warehouse import Warehouse, table

if TYPE_CHECKING:
    from deskpulse.sync.daemon import Daemon
    from deskpulse.sync.sources import SourceSpec

log = logging.getLogger("deskpulse.fleet")

TICK = 0.5
"""Seconds between claims of a daemon with a free slot."""
MAX_BACKOFF = timedelta(hours=1)
FAILING = 2


def daemon_id() -> str:
    """host:pid:token: unique per process, readable in `deskpulse status`."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def accounts(specs: Sequence[SourceSpec], intervals: Mapping[str, float]) -> dict[str, Any]:
    """account -> (its sources in order, its interval: the shortest of its sources')."""
    out: dict[str, Any] = {}
    for spec in specs:
        key = spec.account or spec.name
        names, interval = out.get(key, ([], math.inf))
        out[key] = ([*names, spec.name], min(interval, intervals[spec.name]))
    return out


def require_postgresql(warehouse: Warehouse) -> None:
    if warehouse.dialect != "postgresql":
        raise ConfigError(
            "fleet mode needs a PostgreSQL warehouse (DESKPULSE_DATABASE_URL=postgresql+psycopg"
            "://...); on SQLite run one daemon, without --fleet"
        )


@dataclass
class Held:
    account: str
    epoch: int
    future: Future[None] | None = None


class Leases:
    """The SQL of the protocol, for one daemon (`me`); every call is its own transaction."""

    def __init__(self, warehouse: Warehouse, me: str, lease: float) -> None:
        self.warehouse, self.me, self.lease = warehouse, me, timedelta(seconds=lease)
        self.t = table(FleetLease.__tablename__)
        self.m = table(FleetMember.__tablename__)

    def register(self, work: Mapping[str, Any], concurrency: int) -> None:
        rows = [
            {"account": a, "sources": names, "interval_seconds": interval, "epoch": 0,
             "due_at": datetime.now(UTC), "failures": 0, "cycles": 0}
            for a, (names, interval) in work.items()
        ]  # fmt: skip
        insert = postgresql.insert(self.t)
        with self.warehouse.begin() as conn:
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=["account"],
                    set_={"sources": insert.excluded.sources,
                          "interval_seconds": insert.excluded.interval_seconds},
                ),
                rows,
            )  # fmt: skip
            self._beat(conn, concurrency)

    def _beat(self, conn: Connection, concurrency: int) -> None:
        insert = postgresql.insert(self.m)
        conn.execute(
            insert.values(
                daemon=self.me, host=socket.gethostname(), pid=os.getpid(),
                concurrency=concurrency, started_at=func.now(), heartbeat_at=func.now(),
            ).on_conflict_do_update(
                index_elements=["daemon"], set_={"heartbeat_at": func.now()}
            )
        )  # fmt: skip

    def claim(self, mine: Sequence[str], limit: int) -> list[Held]:
        """Up to `limit` due accounts, leased to this daemon."""
        if limit <= 0:
            return []
        t, now = self.t, func.now()
        with self.warehouse.begin() as conn:
            due = (
                conn.execute(
                    select(t.c.account)
                    .where(
                        t.c.account.in_(list(mine)),
                        t.c.due_at <= now,
                        or_(t.c.holder.is_(None), t.c.lease_until < now),
                    )
                    .order_by(t.c.due_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
                .scalars()
                .all()
            )
            if not due:
                return []
            got = conn.execute(
                update(t)
                .where(t.c.account.in_(due))
                .values(
                    holder=self.me,
                    epoch=t.c.epoch + 1,
                    acquired_at=now,
                    lease_until=now + self.lease,
                )
                .returning(t.c.account, t.c.epoch)
            ).all()
        return [Held(account, epoch) for account, epoch in got]

    def renew(self, held: Sequence[Held], concurrency: int) -> set[str]:
        """Renew the leases; the accounts whose lease is no longer ours."""
        t = self.t
        with self.warehouse.begin() as conn:
            self._beat(conn, concurrency)
            if not held:
                return set()
            kept = set(
                conn.execute(
                    update(t)
                    .where(t.c.holder == self.me, t.c.account.in_([h.account for h in held]))
                    .values(lease_until=func.now() + self.lease)
                    .returning(t.c.account)
                ).scalars()
            )
        return {h.account for h in held} - kept

    def release(self, held: Held, *, delay: float, failures: int, error: str | None) -> None:
        t, now = self.t, func.now()
        values: dict[str, Any] = {
            "holder": None, "lease_until": None, "due_at": now + timedelta(seconds=delay),
            "failures": failures, "last_error": error, "last_holder": self.me,
            "cycles": t.c.cycles + 1,
        }  # fmt: skip
        if not failures:
            values["last_success"] = now
        with self.warehouse.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.account == held.account, t.c.holder == self.me, t.c.epoch == held.epoch)
                .values(**values)
            )

    def give_back(self, held: Sequence[Held]) -> None:
        """Stopping: the leases not synced to the end are free at once, due now."""
        t = self.t
        with self.warehouse.begin() as conn:
            if held:
                conn.execute(
                    update(t)
                    .where(t.c.holder == self.me, t.c.account.in_([h.account for h in held]))
                    .values(holder=None, lease_until=None, due_at=func.now())
                )
            conn.execute(delete(self.m).where(self.m.c.daemon == self.me))

    def live_daemons(self) -> int:
        with self.warehouse.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(
                        self.m.c.heartbeat_at > func.now() - self.lease
                    ).select_from(self.m)
                ).scalar_one()
            )  # fmt: skip

    def failures(self, account: str) -> int:
        with self.warehouse.connect() as conn:
            n = conn.execute(select(self.t.c.failures).where(self.t.c.account == account))
            return int(n.scalar_one_or_none() or 0)

    def fewest_cycles(self, mine: Sequence[str]) -> int:
        with self.warehouse.connect() as conn:
            n = conn.execute(select(func.min(self.t.c.cycles)).where(self.t.c.account.in_(mine)))
            return int(n.scalar_one_or_none() or 0)


class Fleet:
    """One daemon as a member of the fleet: claims, syncs (through the Daemon's cycle), renews,
    releases. `Daemon.run` hands over to `run()` in fleet mode."""

    def __init__(self, daemon: Daemon) -> None:
        require_postgresql(daemon.warehouse)
        self.daemon = daemon
        settings = daemon.settings
        self.me = daemon_id()
        self.concurrency = settings.fleet_concurrency
        self.lease = settings.fleet_lease
        self.leases = Leases(daemon.warehouse, self.me, self.lease)
        self.work = accounts(daemon.specs, {n: s.interval for n, s in daemon.sources.items()})
        self.held: dict[str, Held] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="fleet")
        self.lost: set[str] = set()

    # the loop ------------------------------------------------------------------------------

    def run(self, cycles: int | None = None) -> None:
        """Claim and sync until the daemon stops (or every account has had `cycles` cycles,
        by any daemon of the fleet)."""
        d = self.daemon
        self.leases.register(self.work, self.concurrency)
        log.info("fleet member %s: %d account(s), up to %d at once, lease %gs",
                 self.me, len(self.work), self.concurrency, self.lease)  # fmt: skip
        renewer = threading.Thread(target=self._renew_loop, name="fleet-renew", daemon=True)
        renewer.start()
        mine = list(self.work)
        try:
            while not d.stopping.wait(TICK):
                if d._reload.is_set():
                    d._reload.clear()
                    d.reload()
                if cycles is not None and self.leases.fewest_cycles(mine) >= cycles:
                    break
                self._claim()
        finally:
            d.stopping.set()
            self._pool.shutdown(wait=False, cancel_futures=True)
            d.abandoned = d._wait_for_jobs(d.stop_grace)
            with self._lock:
                left = list(self.held.values())
            try:
                self.leases.give_back(left)
            except Exception as exc:  # they expire within the lease
                log.warning("could not give the leases back: %s", exc)
            renewer.join(timeout=1)

    def _claim(self) -> None:
        with self._lock:
            running = len(self.held)
        free = self.concurrency - running
        if free <= 0:
            return
        try:
            fair = math.ceil(len(self.work) / max(1, self.leases.live_daemons()))
            got = self.leases.claim(list(self.work), min(free, fair - running))
        except Exception as exc:  # the warehouse is away: try again next tick
            log.warning("fleet: could not claim work: %s", str(exc).splitlines()[0])
            return
        for held in got:
            with self._lock:
                self.held[held.account] = held
            held.future = self._pool.submit(self._sync_account, held)

    def _renew_loop(self) -> None:
        while not self.daemon.stopping.wait(self.lease / 3):
            with self._lock:
                held = list(self.held.values())
            try:
                gone = self.leases.renew(held, self.concurrency)
            except Exception as exc:  # tried again in lease/3; the lease outlives two misses
                log.warning("fleet: could not renew the leases: %s", str(exc).splitlines()[0])
                continue
            with self._lock:  # released meanwhile is not lost
                gone = {a for a in gone if a in self.held} - self.lost
                self.lost |= gone
            for account in gone:
                log.error("fleet: lost the lease of %s (not renewed for a whole lease)", account)

    def _sync_account(self, held: Held) -> None:
        d = self.daemon
        names, interval = self.work[held.account]
        failures, error = 0, None
        delay = interval
        try:
            before = self.leases.failures(held.account)
            for name in names:
                if d.stopping.is_set():
                    return  # given back, due now, by run()
                state = d.sources[name]
                state.failures = before  # the fleet's count, so the backoff doubles across daemons
                d.fleet_cycle(name)
                if state.failures > before:
                    failures, error = state.failures, state.last_error
                if state.backoff_until is not None:  # failed, or the vendor asked to wait
                    delay = max(delay, (state.backoff_until - d.clock()).total_seconds())
        except Exception as exc:  # a bug or the warehouse away: the account backs off
            failures, error = self.leases.failures(held.account) + 1, str(exc).splitlines()[0]
            log.error("fleet: %s failed: %s", held.account, error)
        finally:
            if not d.stopping.is_set():
                if failures:
                    backoff = timedelta(seconds=interval * 2**failures)
                    delay = max(delay, min(backoff, MAX_BACKOFF).total_seconds())
                with self._lock:  # first: the renewer must not miss it once released
                    self.held.pop(held.account, None)
                    self.lost.discard(held.account)
                try:
                    self.leases.release(held, delay=delay, failures=failures, error=error)
                except Exception as exc:  # the lease expires on its own
                    log.warning("fleet: could not release %s: %s", held.account, exc)

    # health --------------------------------------------------------------------------------

    def health(self) -> tuple[int, Mapping[str, Any]]:
        """/healthz in fleet mode: this daemon's holdings and whether the fleet keeps up (no
        account waiting past its interval for a daemon, none failing)."""
        if self.daemon.stopping.is_set():
            return 503, {"status": "stopping", "daemon": self.me}
        try:
            with self.daemon.warehouse.connect() as conn:
                view = fleet_view(conn, self.lease)
        except Exception as exc:
            return 503, {"status": "failing", "daemon": self.me,
                         "error": f"warehouse unreachable: {str(exc).splitlines()[0]}"}  # fmt: skip
        behind = [a["account"] for a in view["accounts"] if a["behind"]]
        failing = [a["account"] for a in view["accounts"] if a["failures"] >= FAILING]
        status = "failing" if failing else "behind" if behind else "ok"
        with self._lock:
            holding = sorted(self.held)
        body = {
            "status": status, "daemon": self.me, "holding": holding,
            "fleet": {"keeping_up": not behind and not failing, "behind": behind,
                      "failing": failing, "daemons": len([m for m in view["daemons"] if m["alive"]]),
                      "accounts": len(view["accounts"])},
        }  # fmt: skip
        return (503 if failing else 200), body


__all__ = ["Fleet", "Leases", "accounts", "daemon_id", "require_postgresql"]
