"""What the daemon does with a webhook: a hint to read, debounced, never data.

A verified delivery (sync.webhooks) names tickets of a source. `Debouncer` gathers them: a
source's tickets are read DEBOUNCE seconds after its last hint, or MAX_WAIT seconds after its
first unread one, whichever comes first (a burst of changes to one ticket, or to many, is one
read). Then, for a source whose connector can read named tickets (connectors.webhooks
READ_TICKETS), `HintReader`:

1. runs the connector's ticket streams through the sync engine (sync.engine.run_sync: a run of
   its own, rows upserted, bad records quarantined), whose pages carry no cursor: a webhook
   never moves one, and the next poll reads these tickets again (harmless: upserts);
2. writes back those tickets' per-ticket values alone (sync.writeback.push with `only`: the
   ledger's exactly-once, the connector's pacing and per-ticket limits).

A source's poll and its webhook reads take turns (`Daemon.reading`), so neither finds the
other holding the source's lock. A source without READ_TICKETS (or a hint naming nothing) has its next poll moved to now: the
next incremental page. A read that fails, or finds the source being synced (its lock held),
keeps its tickets for the next try (RETRY seconds later, then longer): a hint is dropped once
read, or after GIVE_UP failed reads in a row (the safety-net poll reads what it named).
Duplicated, replayed and reordered deliveries cost at most one more read: what is read is the
ticket as it is now, and the ledger writes a value once. A lost delivery is caught by the
safety-net poll (the source's long interval).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter

from deskpulse.connectors.base import Connector, RequestStats, Stream
from deskpulse.connectors.errors import ConfigError, DeskpulseError
from deskpulse.connectors.webhooks import READ_TICKETS, TicketReader
from deskpulse.sync.actions import Actions
from deskpulse.sync.engine import StopRequested, run_sync
from deskpulse.sync.locks import LockHeld
from deskpulse.sync.settings import Settings
from deskpulse.sync.sources import _factories, build_connectors, configured
from deskpulse.sync.webhooks import Receiver, ReceiverServers, Route, route_for
from deskpulse.sync.writeback import push

if TYPE_CHECKING:
    from deskpulse.sync.daemon import Daemon

log = logging.getLogger("deskpulse.daemon")

DEBOUNCE = 1.0
MAX_WAIT = 3.0
RETRY = 5.0
"""Seconds before a failed read is tried again, doubling per failure in a row (at most
MAX_RETRY); after GIVE_UP failures its tickets are left to the safety-net poll, so a vendor that
is down is not read from every few seconds."""
MAX_RETRY = 120.0
GIVE_UP = 5


def retry_delay(failures: int) -> float | None:
    """Seconds before the next try after `failures` failed reads in a row; None: give up."""
    if failures > GIVE_UP:
        return None
    return min(RETRY * 2.0 ** (failures - 1), MAX_RETRY)


@dataclass
class _Pending:
    ids: set[str] = field(default_factory=set)
    first: float = 0.0
    last: float = 0.0
    poll: bool = False  # a hint that names nothing: the next incremental page


class Debouncer:
    """Hints per source, released in batches (see the module docstring). Thread-safe."""

    def __init__(
        self,
        debounce: float = DEBOUNCE,
        max_wait: float = MAX_WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.debounce, self.max_wait, self.clock = debounce, max_wait, clock
        self._pending: dict[str, _Pending] = {}
        self._cond = threading.Condition()

    def add(self, source: str, ids: Sequence[str], *, delay: float = 0.0) -> None:
        """Tickets of `source` to read (none: the source's next page); `delay` holds them back
        (a retry)."""
        now = self.clock() + delay
        with self._cond:
            p = self._pending.get(source)
            if p is None:
                p = self._pending[source] = _Pending(first=now)
            p.ids.update(ids)
            p.poll = p.poll or not ids
            p.last = max(p.last, now)
            self._cond.notify_all()

    def due(self) -> tuple[list[tuple[str, frozenset[str], bool]], float | None]:
        """(batches due now, seconds until the next one is due or None)."""
        now = self.clock()
        out: list[tuple[str, frozenset[str], bool]] = []
        wait: float | None = None
        with self._cond:
            for source, p in list(self._pending.items()):
                at = min(p.last + self.debounce, p.first + self.max_wait)
                if at <= now:
                    del self._pending[source]
                    out.append((source, frozenset(p.ids), p.poll))
                else:
                    wait = at - now if wait is None else min(wait, at - now)
        return out, wait

    def wait(self, seconds: float | None) -> None:
        with self._cond:
            self._cond.wait(0.5 if seconds is None else min(seconds, 0.5))

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


class _Targeted:
    """A connector seen through its ticket streams only (for run_sync)."""

    def __init__(self, connector: Connector, ids: Sequence[str]) -> None:
        self.inner = connector
        self.vendor: str = connector.vendor
        self.source: str = connector.source
        self.capabilities: frozenset[str] = connector.capabilities
        self.stats: RequestStats = connector.stats
        self._ids = list(ids)

    def streams(self) -> Sequence[Stream]:
        reader: TicketReader = self.inner  # type: ignore[assignment]
        return reader.ticket_streams(self._ids)

    def close(self) -> None:
        pass


class HintReader:
    """The daemon's webhook side: receivers, the debouncer and the worker that reads."""

    def __init__(self, daemon: Daemon, routes: list[Route]) -> None:
        self.daemon = daemon
        self.routes = routes
        self.debouncer = Debouncer()
        self.receiver = Receiver(routes, self.debouncer.add)
        self.webhooks = Counter(
            "deskpulse_webhooks", "Webhook deliveries by outcome", ["source", "outcome"],
            registry=daemon.metrics.registry,
        )  # fmt: skip
        self.receiver.on_count = lambda source, outcome: self.webhooks.labels(source, outcome).inc()
        self.reads = 0
        self.failures: dict[str, int] = {}  # failed reads in a row, per source
        self._servers: ReceiverServers | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def configured(cls, daemon: Daemon) -> HintReader | None:
        factories = _factories()
        routes: list[Route] = []
        for spec in daemon.specs:
            factory = factories.get(spec.vendor)  # None: a test's fake source
            found = factory and route_for(
                spec.name, spec.env_prefix, factory, daemon.settings.env_file
            )
            if found:
                routes.append(found)
        return cls(daemon, routes) if routes else None

    def intervals(self, intervals: dict[str, float], named: str | None) -> dict[str, float]:
        """The safety-net poll of each source with a receiver, unless DESKPULSE_SYNC_INTERVALS
        names the source."""
        listed = {i.partition("=")[0].strip() for i in (named or "").split(",")}
        return {
            name: next((r.poll for r in self.routes if r.source == name), seconds)
            if name not in listed
            else seconds
            for name, seconds in intervals.items()
        }

    def start(self) -> HintReader:
        self._servers = ReceiverServers(self.receiver, self.routes).start()
        for r in self.routes:
            log.info("%s: webhooks on http://%s:%d%s", r.source, r.host, r.port, r.path)
        self._thread = threading.Thread(target=self._work, daemon=True, name="deskpulse-hints")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._servers is not None:
            self._servers.stop()
        self.debouncer.wake()
        if self._thread is not None:
            self._thread.join(timeout=self.daemon.stop_grace)

    def _work(self) -> None:
        stopping = self.daemon.stopping
        while not stopping.is_set():
            batches, wait = self.debouncer.due()
            for source, ids, poll in batches:
                if stopping.is_set():
                    return
                if self.read(source, sorted(ids), poll):
                    self.failures[source] = 0
                    continue
                failures = self.failures[source] = self.failures.get(source, 0) + 1
                delay = retry_delay(failures)
                if delay is None:
                    self.failures[source] = 0
                    log.warning(
                        "%s: %d webhook ticket(s) left to the next poll after %d failed reads",
                        source, len(ids), failures,
                    )  # fmt: skip
                    continue
                self.debouncer.add(source, sorted(ids), delay=delay)
            self.debouncer.wait(wait)

    def read(self, source: str, ids: list[str], poll: bool = False) -> bool:
        """Read the hinted tickets and write their values back; False: try again later."""
        daemon = self.daemon
        spec = next(s for s in daemon.specs if s.name == source)
        readable = READ_TICKETS in getattr(_factories().get(spec.vendor), "capabilities", ())
        if poll or not ids or not readable:
            self._poll_now(source)
            if not ids or not readable:
                return True
        started = time.monotonic()
        with daemon._job(f"hint:{source}"), daemon.reading[source]:
            try:
                connector = daemon.connect(spec)
            except DeskpulseError as exc:
                log.error("%s: webhook read failed: %s", source, exc)
                return False
            try:
                return self._read(source, ids, connector, started)
            except StopRequested:  # the daemon is stopping: its next start polls first
                return True
            finally:
                connector.close()

    def _read(self, source: str, ids: list[str], connector: Connector, started: float) -> bool:
        daemon = self.daemon
        try:
            report = run_sync(daemon.warehouse, _Targeted(connector, ids))
        except LockHeld:
            return False  # another process syncs the source (`deskpulse sync`): read after it
        except DeskpulseError as exc:
            log.error("%s: webhook read failed: %s", source, exc)
            return False
        if report.status not in ("ok", "partial"):
            log.error("%s: webhook read failed: %s", source, report.message or report.status)
            return False
        self.reads += 1
        wrote = self._write_back(source, ids, connector)
        log.info(
            "%s: webhook: read %d ticket(s) in %d requests, %.1f s%s", source, len(ids),
            report.requests, time.monotonic() - started,
            f"; wrote {wrote} value(s)" if wrote else "",
            extra={"source": source, "tickets": len(ids), "requests": report.requests},
        )  # fmt: skip
        return True

    def _write_back(self, source: str, ids: list[str], connector: Connector) -> int:
        daemon = self.daemon
        mine = Actions(ticket_fields=tuple(a for a in daemon.actions.ticket_fields
                                           if a.source == source))  # fmt: skip
        if not mine.all():
            return 0
        try:
            report = push(
                daemon.warehouse, mine, {source: connector}, daemon._context(),
                clock=daemon.clock, stop=daemon.stopping, only=ids,
            )  # fmt: skip
        except DeskpulseError as exc:
            log.error("%s: webhook write-back failed: %s", source, exc)
            return 0
        daemon._count_writes(report)
        return report.count("sent") + report.count("verified")

    def _poll_now(self, source: str) -> None:
        """The source's next poll, now (the next incremental page)."""
        scheduler = self.daemon.scheduler
        job = scheduler.get_job(f"sync:{source}") if scheduler.running else None
        if job is not None:
            job.modify(next_run_time=datetime.now(self.daemon.settings.tz))


def setup_webhooks(settings: Settings, source: str, url: str) -> tuple[Any, str]:
    """`deskpulse webhooks setup`: the source's webhook (and trigger) created through its API;
    (the connector's result, the variable its signing secret goes in)."""
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"--url {url!r}: expected the receiver's public URL (https://...)")
    (connector,) = build_connectors(settings, only=[source])
    try:
        make = getattr(connector, "setup_webhooks", None)
        if make is None:
            raise ConfigError(
                f"source {source} ({connector.vendor}) cannot create its webhook through the "
                "API: set it up by hand (README, Webhooks)"
            )
        spec = next(s for s in configured(settings) if s.name == source)
        return make(url), f"{spec.env_prefix}WEBHOOK_SECRET"
    finally:
        connector.close()


__all__ = ["DEBOUNCE", "MAX_WAIT", "Debouncer", "HintReader", "setup_webhooks"]
