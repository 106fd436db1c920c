"""`deskpulse daemon`: keep the warehouse fresh and the help desk's KPI fields current.

APScheduler 3 (BackgroundScheduler) runs, in the reporting time zone:

* one job per configured source, every DESKPULSE_SYNC_INTERVAL seconds (per source:
  DESKPULSE_SYNC_INTERVALS="zendesk=120, klaviyo=900") plus up to DESKPULSE_SYNC_JITTER seconds
  at random, starting at once. A cycle syncs the source, writes the source's per-record actions
  back (ticket fields, user or profile fields, subscriptions; sync.writeback: exactly once) and
  refreshes the KPI gauges;
* one cron job per digest action, at its `at` time (weekly digests on Mondays).

Every job has `max_instances=1` and `coalesce=True`: a cycle that outlasts its interval is never
run twice at once, and missed runs collapse into one. A source whose cycle fails is backed off
(its interval doubled per consecutive failure, at most MAX_BACKOFF) while the others keep their
pace; its failures show in /healthz, /metrics and `deskpulse status`.

SIGTERM or SIGINT: no new job starts, a running sync stops after the page it is committing
(the cursor moves with it), a running push stops between batches (the rest stays pending in the
ledger), and the process exits 0, within seconds. A second daemon on the same warehouse refuses
to start (the warehouse lock `__daemon__`, sync.locks), with one line naming the running one.
Each job leaves the process as it found it: one connector per cycle, closed after it, and the
memory the cycle freed handed back to the system (`release_memory`).
"""

from __future__ import annotations

import ctypes
import gc
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import delete

from deskpulse.connectors.base import Connector
from deskpulse.connectors.errors import ConfigError, DeskpulseError
from deskpulse.kpi_core import compute
from deskpulse.sync.actions import Actions, DigestAction
from deskpulse.sync.digest import plan_digests
from deskpulse.sync.engine import RunReport, StopRequested, SyncObserver, run_sync
from deskpulse.sync.ledger import StreamReport
from deskpulse.sync.locks import LockHeld, acquire
from deskpulse.sync.observability import Metrics, StatusServer
from deskpulse.sync.push import configured_actions
from deskpulse.sync.reporting import window, writeback_context
from deskpulse.sync.settings import Settings
from deskpulse.sync.sources import SourceSpec, build, configured, start_time
from deskpulse.sync.state import DaemonSchedule
from deskpulse.sync.warehouse import Warehouse, table, upsert
from deskpulse.sync.writeback import PushReport, push

log = logging.getLogger("deskpulse.daemon")

DAEMON_LOCK = "__daemon__"
"""The warehouse lock a daemon holds (never a source name: those start with a letter)."""
MAX_BACKOFF = timedelta(hours=1)


def _malloc_trim() -> Callable[[], object]:
    """glibc's `malloc_trim(0)`, or a no-op where there is none (musl, macOS, Windows)."""
    if sys.platform.startswith("linux"):
        try:
            trim = ctypes.CDLL(None).malloc_trim
        except (OSError, AttributeError):
            pass
        else:
            trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
            return lambda: trim(0)
    return lambda: None


_trim = _malloc_trim()


def release_memory() -> None:
    """Free what a cycle left behind and hand it back to the system (under a tenth of a second,
    against cycles minutes apart).

    A cycle leaves tens of KB in reference cycles (httpx's requests and responses, the SQL
    statements built for it, its reader threads' events); what lived long enough to reach
    Python's oldest generation waits for a full collection, which comes every few hundred
    cycles: the daemon's RSS climbed by 20 to 35 MB and dropped back, a sawtooth (`bench
    daemon`); collected after each cycle, it stays flat. What a cycle frees outside Python's
    objects (SQLite's pages, each reader thread's malloc arena) glibc keeps in its arenas;
    trimmed too, the flat line is 10 MB lower (anonymous memory 85 against 95 MB over 600
    cycles of the bench's daemon)."""
    gc.collect()
    _trim()


class Shutdown(StopRequested):
    """Raised after a committed page when the daemon is stopping: ends the sync there (the
    run is recorded `stopped`). A BaseException, so the engine's per-stream error handling
    does not swallow it."""


class _StopAfterPage(SyncObserver):
    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def page_committed(self, source: str, stream: str, report: StreamReport) -> None:
        if self.stop.is_set():
            raise Shutdown


@dataclass
class SourceState:
    name: str
    interval: float
    last_success: datetime | None = None
    last_status: str | None = None
    last_error: str | None = None
    failures: int = 0
    backoff_until: datetime | None = None
    cycles: int = 0


def parse_intervals(text: str | None, default: float, names: list[str]) -> dict[str, float]:
    """DESKPULSE_SYNC_INTERVALS ("zendesk=120, klaviyo=900") over the default, per source."""
    out = dict.fromkeys(names, default)
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, _, value = item.partition("=")
        name = name.strip()
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if name not in out or seconds < 1:
            raise ConfigError(
                f"invalid setting DESKPULSE_SYNC_INTERVALS: {item.strip()!r} "
                f"(expected source=seconds, sources: {', '.join(names) or 'none'})"
            )
        out[name] = seconds
    return out


class Daemon:
    """The scheduler and its jobs; `run()` blocks until SIGTERM/SIGINT (or `stop()`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        warehouse: Warehouse | None = None,
        specs: list[SourceSpec] | None = None,
        connect: Callable[[SourceSpec], Connector] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.warehouse = warehouse or Warehouse(settings.database_url)
        self.clock = clock
        self.specs = specs if specs is not None else configured(settings)
        if not self.specs:
            raise ConfigError("no source configured for the daemon (see .env.example)")
        self.actions = configured_actions(settings) if settings.writeback else Actions()
        begin = start_time(settings)
        self.connect = connect or (lambda spec: build(spec, settings, start=begin))
        intervals = parse_intervals(
            settings.sync_intervals, settings.sync_interval, [s.name for s in self.specs]
        )
        self.sources = {s.name: SourceState(s.name, intervals[s.name]) for s in self.specs}
        self.metrics = Metrics()
        self.stopping = threading.Event()
        self.cycles = 0
        self.digests_done = 0
        self._cycle_lock = threading.Lock()
        self.scheduler = BackgroundScheduler(
            timezone=settings.tz,
            executors={"default": ThreadPoolExecutor(max(2, len(self.specs) + 1))},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 60},
        )

    # jobs -----------------------------------------------------------------------------------

    def sync_cycle(self, name: str) -> None:
        """Sync one source, write its values back, refresh the KPI gauges."""
        state = self.sources[name]
        now = self.clock()
        if state.backoff_until is not None and now < state.backoff_until:
            log.info("source %s backed off until %s", name, f"{state.backoff_until:%H:%M:%S}")
            return
        started = time.monotonic()
        spec = next(s for s in self.specs if s.name == name)
        try:
            connector = self.connect(spec)
        except DeskpulseError as exc:
            self._failed(state, str(exc))
            self._count_cycle(state)
            self._record_schedule([name])
            return
        try:
            log.info("source %s: sync started", name)
            report = run_sync(self.warehouse, connector, observer=_StopAfterPage(self.stopping))
            self._synced(state, report, connector.stats.throttled)
            self._hold(state, connector.stats.blocked_until)
            if report.status in ("ok", "partial"):
                self._write_back(name, connector)
                self._kpi_gauges()
        except Shutdown:
            log.info("source %s: stopped after its last committed page", name)
        except LockHeld as exc:
            log.warning("%s", exc)  # a manual `deskpulse sync` of this source: next time
        except DeskpulseError as exc:
            self._failed(state, str(exc))
        finally:
            connector.close()
            self.metrics.cycle_seconds.labels(name).set(time.monotonic() - started)
            self._count_cycle(state)
            self._record_schedule([name])
            release_memory()

    def _count_cycle(self, state: SourceState) -> None:
        with self._cycle_lock:
            self.cycles += 1
            state.cycles += 1

    def _synced(self, state: SourceState, report: RunReport, throttled: int) -> None:
        m = self.metrics
        m.syncs.labels(state.name, report.status).inc()
        m.rows.labels(state.name).inc(report.rows)
        m.requests.labels(state.name).inc(report.requests)
        m.throttled.labels(state.name).inc(throttled)
        state.last_status = report.status
        if report.status in ("ok", "partial"):
            state.last_success, state.failures, state.backoff_until = self.clock(), 0, None
            state.last_error = None
            log.info("source %s synced: %s, %d rows", state.name, report.status, report.rows)
        else:
            self._failed(state, report.message or report.status)

    def _failed(self, state: SourceState, message: str) -> None:
        state.failures += 1
        state.last_error = message
        wait = min(timedelta(seconds=state.interval * 2**state.failures), MAX_BACKOFF)
        state.backoff_until = self.clock() + wait
        self.metrics.syncs.labels(state.name, "failed").inc()
        log.error(
            "source %s failed (%d in a row), next try in %ds: %s",
            state.name, state.failures, int(wait.total_seconds()), message,
        )  # fmt: skip

    def _hold(self, state: SourceState, until: datetime | None) -> None:
        """The vendor asked the sync to wait until `until` (a 429 past what a request waits):
        no sync of the source before then."""
        if until is not None and (state.backoff_until is None or until > state.backoff_until):
            state.backoff_until = until
            log.warning("source %s: the vendor asked to wait until %s UTC: next sync then",
                        state.name, f"{until.astimezone(UTC):%Y-%m-%d %H:%M}")  # fmt: skip

    def _write_back(self, source: str, connector: Connector) -> None:
        """The source's per-record actions (ticket fields, user or profile fields,
        subscriptions); digests have their own schedule."""
        mine = Actions(
            ticket_fields=tuple(a for a in self.actions.ticket_fields if a.source == source),
            profile_fields=tuple(a for a in self.actions.profile_fields if a.source == source),
            subscriptions=tuple(a for a in self.actions.subscriptions if a.source == source),
        )
        if not mine.all():
            return
        ctx = writeback_context(self.settings, self.warehouse)
        try:
            report = push(
                self.warehouse, mine, {source: connector}, ctx,
                clock=self.clock, stop=self.stopping,
            )  # fmt: skip
        except DeskpulseError as exc:
            log.error("write-back for %s failed: %s", source, exc)
            return
        self._count_writes(report, f"write-back to {source}")

    def _count_writes(self, report: PushReport, what: str) -> None:
        for item in report.items:
            if item.outcome:
                self.metrics.writes.labels(item.target, item.outcome).inc()
        if report.items:
            log.info(
                "%s: %d sent, %d failed, %d unchanged", what,
                report.count("sent") + report.count("verified"), report.failed, report.unchanged,
            )  # fmt: skip

    def digest(self, action: DigestAction) -> None:
        ctx = writeback_context(self.settings, self.warehouse)
        spec = next((s for s in self.specs if s.name == action.source), None)
        if spec is None:
            log.error("digest %s: source %s is not configured", action.name, action.source)
            return
        connector = self.connect(spec)
        try:
            report = push(
                self.warehouse, Actions(digests=(action,)), {action.source: connector}, ctx,
                clock=self.clock, stop=self.stopping,
                extra=lambda conn, now: plan_digests(conn, (action,), ctx, now),
            )  # fmt: skip
            self._count_writes(report, f"digest {action.name}")
        except DeskpulseError as exc:
            log.error("digest %s failed: %s", action.name, exc)
        finally:
            connector.close()
            with self._cycle_lock:
                self.digests_done += 1
            release_memory()

    def _kpi_gauges(self) -> None:
        """The KPIs with a configured target (else the digests' metrics), last 30 days."""
        ctx = writeback_context(self.settings, self.warehouse)
        config = ctx.config
        metrics = sorted({t.metric for t in config.targets}) if config is not None else []
        if not metrics:
            metrics = sorted({m for d in self.actions.digests for m in d.metrics})
        if not metrics:
            return
        from deskpulse.kpi_core import KpiQuery

        start, end = window(None, None, self.settings)
        query = KpiQuery(start=start, end=end, tz=self.settings.tz, config=config)
        try:
            with self.warehouse.connect() as conn:
                values = compute(conn, metrics, query)
        except DeskpulseError as exc:
            log.warning("KPI gauges not refreshed: %s", exc)
            return
        except Exception as exc:  # e.g. an unknown metric id in the config
            log.warning("KPI gauges not refreshed: %s", exc)
            return
        for v in values:
            if v.group is None and v.value is not None:
                self.metrics.kpi.labels(v.metric, v.unit).set(v.value)
                if v.target is not None:
                    self.metrics.kpi_target.labels(v.metric).set(v.target)

    def next_run(self, name: str) -> datetime | None:
        """When the source's next cycle will sync (its job's next run, or after its backoff)."""
        job = self.scheduler.get_job(f"sync:{name}") if self.scheduler.running else None
        when: datetime | None = getattr(job, "next_run_time", None)
        backoff = self.sources[name].backoff_until
        if when is not None and backoff is not None and backoff > when:
            # The runs before the backoff's end return at once: the next sync is the first
            # run at or after it.
            step = timedelta(seconds=self.sources[name].interval)
            skipped = (backoff - when) // step + (1 if (backoff - when) % step else 0)
            when = when + step * skipped
        return when.astimezone(UTC) if when is not None else None

    def _record_schedule(self, names: list[str]) -> None:
        """Keep `daemon_schedule` (what `deskpulse status` shows) current for `names`."""
        if self.stopping.is_set():
            return
        rows = [
            {
                "source": name,
                "interval_seconds": self.sources[name].interval,
                "next_run_at": self.next_run(name),
                "failures": self.sources[name].failures,
                "last_error": self.sources[name].last_error,
                "updated_at": datetime.now(UTC),
            }
            for name in names
        ]
        try:
            with self.warehouse.begin() as conn:
                upsert(conn, DaemonSchedule.__tablename__, rows)
        except Exception as exc:  # status loses a line; the daemon goes on
            log.warning("could not record the schedule: %s", exc)

    def _clear_schedule(self) -> None:
        try:
            with self.warehouse.begin() as conn:
                sched = table(DaemonSchedule.__tablename__)
                conn.execute(delete(sched).where(sched.c.source.in_(list(self.sources))))
        except Exception as exc:
            log.warning("could not clear the schedule: %s", exc)

    # health ---------------------------------------------------------------------------------

    def health(self) -> tuple[int, Mapping[str, Any]]:
        now = self.clock()
        sources: dict[str, Any] = {}
        for name, s in self.sources.items():
            lag = (now - s.last_success).total_seconds() if s.last_success else None
            self.metrics.lag.labels(name).set(lag if lag is not None else -1)
            sources[name] = {
                "last_success": s.last_success, "lag_seconds": lag, "status": s.last_status,
                "failures": s.failures, "error": s.last_error, "next_run": self.next_run(name),
            }  # fmt: skip
        failing = [n for n, s in self.sources.items() if s.failures]
        status = "stopping" if self.stopping.is_set() else ("degraded" if failing else "ok")
        return (503 if self.stopping.is_set() else 200), {"status": status, "sources": sources}

    # running --------------------------------------------------------------------------------

    def schedule(self, *, digests: bool = True) -> None:
        """Add the jobs (the digests' too, unless `digests` is False: `--cycles` posts them
        itself, after the syncs)."""
        now = datetime.now(self.settings.tz)
        for name, state in self.sources.items():
            self.scheduler.add_job(
                self.sync_cycle, IntervalTrigger(seconds=state.interval,
                                                 jitter=self.settings.sync_jitter or None),
                args=[name], id=f"sync:{name}", name=f"sync {name}", next_run_time=now,
            )  # fmt: skip
        for action in self.actions.digests if digests else ():
            hour, minute = (int(x) for x in action.at.split(":"))
            day = "mon" if action.every == "week" else "*"
            self.scheduler.add_job(
                self.digest, CronTrigger(day_of_week=day, hour=hour, minute=minute,
                                         timezone=self.settings.tz),
                args=[action], id=f"digest:{action.name}", name=f"digest {action.name}",
            )  # fmt: skip

    def stop(self, *_: Any) -> None:
        self.stopping.set()

    def run(self, *, cycles: int | None = None, signals: bool = True) -> None:
        """Hold the daemon lock, serve /metrics and /healthz, run the jobs until stopped (or
        until every source has run `cycles` cycles and every digest once: `--cycles`, the demo;
        a failed cycle counts)."""
        try:
            lock = acquire(self.warehouse, DAEMON_LOCK)
        except LockHeld as exc:
            raise ConfigError(
                f"another deskpulse daemon is running on this warehouse (pid {exc.pid} on host "
                f"{exc.host} since {exc.since:%Y-%m-%d %H:%M:%S} UTC); stop it first"
            ) from None
        server = None
        if signals:
            previous = {s: signal.signal(s, self.stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            if self.settings.metrics_port:
                server = StatusServer(
                    self.metrics, self.health, self.settings.metrics_host,
                    self.settings.metrics_port,
                ).start()  # fmt: skip
                log.info("metrics on http://%s:%d/metrics", server.host, server.port)
            self.schedule(digests=cycles is None)
            self.scheduler.start()
            self._record_schedule(list(self.sources))
            while not self.stopping.wait(0.2):
                if cycles is not None and min(s.cycles for s in self.sources.values()) >= cycles:
                    # A bounded run posts each digest once, on the data its syncs brought.
                    for action in self.actions.digests:
                        if not self.stopping.is_set():
                            self.digest(action)
                    break
            self.stopping.set()
            self.scheduler.shutdown(wait=True)  # running jobs stop at their next page/batch
        finally:
            self._clear_schedule()
            if server is not None:
                server.stop()
            if signals:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
            lock.release()


__all__ = ["DAEMON_LOCK", "Daemon", "Shutdown", "parse_intervals"]
