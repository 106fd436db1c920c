"""`deskpulse daemon`: keep the warehouse fresh and the help desk's KPI fields current.

APScheduler 3 (BackgroundScheduler) runs, in the reporting time zone:

* one job per configured source, every DESKPULSE_SYNC_INTERVAL seconds (per source:
  DESKPULSE_SYNC_INTERVALS="zendesk=120, klaviyo=900") plus up to DESKPULSE_SYNC_JITTER seconds
  at random, starting at once. A cycle syncs the source, writes the source's per-record actions
  back (ticket fields, user or profile fields, subscriptions; sync.writeback: exactly once),
  refreshes the KPI gauges and logs one line (rows, requests, duration, values written); the
  sync's and connectors' INFO and WARNING lines come once per cause and cycle (`sync.logs.OncePerCause`);
* one cron job per digest action, at its `at` time (weekly digests on Mondays). A daemon that
  was down at a digest's `at` (a deploy, a reboot) posts the digest of that time's period after
  its source's first sync, unless the ledger has it: the last missed period only, however long
  it was down.

Every job has `max_instances=1` and `coalesce=True`: a cycle that outlasts its interval is never
run twice at once, and missed runs collapse into one. A source whose cycle fails is backed off
(its interval doubled per consecutive failure, at most MAX_BACKOFF) while the others keep their
pace; its failures show in /healthz (503 once a source has failed FAILING times in a row),
/metrics and `deskpulse status`. Each source's last success and failures in a row are read from
the warehouse's runs at start, so a restart forgets neither.

SIGTERM or SIGINT: no new job starts, a running sync stops after the page it is committing
(the cursor moves with it), a running push between batches (the rest stays pending in the
ledger), and every wait of the connectors (rate limits, retry backoff, Zendesk's and Klaviyo's
job polls) ends at once: they sleep through `StopSleep`, which raises Shutdown (a batch sent and
not yet answered stays `sending`, read back by the next push). A request in flight is not
interrupted: `run()` waits STOP_GRACE seconds for it, then says so in one line and returns (the
CLI exits 0 at once), so the process ends within STOP_GRACE seconds of the signal.
SIGHUP: the write-back file (DESKPULSE_WRITEBACK) and the KPI config (DESKPULSE_KPI_CONFIG) are
read again and used from the next cycle on (the digest jobs follow the new file); a file that
does not load is one error line and the previous one stays. Other settings need a restart.

A second daemon on the same warehouse refuses to start (the warehouse lock `__daemon__`,
sync.locks), with one line naming the running one. Each job leaves the process as it found it:
one connector per cycle, closed after it, and the memory the cycle freed handed back to the
system (`release_memory`).
"""

from __future__ import annotations

import ctypes
import gc
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import delete

from deskpulse.connectors.base import Connector
from deskpulse.connectors.errors import ConfigError, DeskpulseError
from deskpulse.kpi_core import compute
from deskpulse.kpi_core.config import KpiConfig, load_config
from deskpulse.sync.actions import Actions, DigestAction
from deskpulse.sync.digest import missed, plan_digests
from deskpulse.sync.engine import RunReport, StopRequested, SyncObserver, run_sync
from deskpulse.sync.hints import HintReader
from deskpulse.sync.ledger import StreamReport
from deskpulse.sync.locks import LockHeld, acquire
from deskpulse.sync.logs import OncePerCause, new_cycle
from deskpulse.sync.observability import Metrics, StatusServer
from deskpulse.sync.push import configured_actions, source_actions
from deskpulse.sync.reporting import window, writeback_context
from deskpulse.sync.settings import Settings
from deskpulse.sync.sources import SourceSpec, build, configured, start_time
from deskpulse.sync.state import DaemonSchedule
from deskpulse.sync.status import source_health
from deskpulse.sync.warehouse import Warehouse, WarehouseReplaced, table, upsert
from deskpulse.sync.writeback import PushReport, push
from deskpulse.sync.writeback_plan import Context

if TYPE_CHECKING:
    from deskpulse.sync.fleet import Fleet

log = logging.getLogger("deskpulse.daemon")

DAEMON_LOCK = "__daemon__"
"""The warehouse lock a daemon holds (never a source name: those start with a letter)."""
MAX_BACKOFF = timedelta(hours=1)
FAILING = 2
"""Failures in a row after which a source is `failing` and /healthz answers 503: it failed, and
failed again when its backoff had passed (a restart does not reset the count, which is read back
from the warehouse's runs)."""
STOP_GRACE = 6.0
"""Seconds `run()` waits, once stopping, for the jobs still running: every wait of theirs ends
at once (`StopSleep`), but a request in flight may take up to DESKPULSE_HTTP_TIMEOUT."""


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

    A cycle leaves reference cycles behind (httpx's requests and responses, the SQL statements
    built for it, its reader threads' events); what reached Python's oldest generation would
    wait for a full collection every few hundred cycles, so the daemon's memory would climb and
    drop back. Collected after each cycle it stays flat; what a cycle frees outside Python's
    objects (SQLite's pages, each reader thread's malloc arena) glibc keeps in its arenas
    unless trimmed. The measurements: docs/benchmarks.md."""
    gc.collect()
    _trim()


class Shutdown(StopRequested):
    """Raised after a committed page, or out of any wait, when the daemon is stopping: ends the
    sync there (the run is recorded `stopped`) or the push there (a batch sent and not yet
    answered stays `sending`: in doubt, read back by the next push). A BaseException, so the
    engine's per-stream error handling does not swallow it."""


class StopSleep:
    """The sleep the daemon's connectors wait with (rate limits, retry backoff, Zendesk's job
    status and Klaviyo's subscription polls): it returns after `seconds`, or raises Shutdown
    as soon as the daemon stops."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def __call__(self, seconds: float) -> None:
        if self.stop.wait(max(0.0, seconds)):
            raise Shutdown


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
    running_since: datetime | None = None


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


def _digest_trigger(action: DigestAction, tz: Any) -> CronTrigger:
    hour, minute = (int(x) for x in action.at.split(":"))
    day = "mon" if action.every == "week" else "*"
    return CronTrigger(day_of_week=day, hour=hour, minute=minute, timezone=tz)


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
        fleet: bool = False,
    ) -> None:
        self.settings = settings
        self.warehouse = warehouse or Warehouse(settings.database_url)
        self.clock = clock
        self.specs = specs if specs is not None else configured(settings)
        if not self.specs:
            raise ConfigError("no source configured for the daemon (see .env.example)")
        self.actions = self._load_actions()
        self.kpi_config: KpiConfig = load_config(settings.kpi_config)
        self.stopping = threading.Event()
        self.sleep = StopSleep(self.stopping)
        begin = start_time(settings)
        self.connect = connect or (
            lambda spec: build(spec, settings, start=begin, sleep=self.sleep)
        )
        intervals = parse_intervals(
            settings.sync_intervals, settings.sync_interval, [s.name for s in self.specs]
        )
        self.metrics = Metrics()
        # Webhook receivers (off unless a source has <PREFIX>WEBHOOK_SECRET): sync.hints.
        self.hints = HintReader.configured(self)
        if self.hints is not None:
            intervals = self.hints.intervals(intervals, settings.sync_intervals)
        self.sources = {
            s.name: SourceState(s.name, s.interval or intervals[s.name]) for s in self.specs
        }
        for name, state in self.sources.items():  # computed at each scrape
            self.metrics.lag.labels(name).set_function(partial(self._lag, state))
        self.once = OncePerCause()
        self.fatal: WarehouseReplaced | None = None  # raised by run() once stopped
        self.cycles = 0
        self.digests_done = 0
        self.stop_grace = STOP_GRACE
        self.abandoned: list[str] = []
        """Jobs still running when `run()` returned (not waited for past `stop_grace`)."""
        self._reload = threading.Event()
        self._bounded = False  # `run(cycles=N)`: the digests are posted at the end, unscheduled
        self._missed: dict[str, tuple[DigestAction, datetime]] = {}
        self._running: list[str] = []
        self._jobs = threading.Condition()
        self._cycle_lock = threading.Lock()
        # Per source: its poll and its webhook reads (sync.hints) take turns.
        self.reading = {s.name: threading.Lock() for s in self.specs}
        self.scheduler = BackgroundScheduler(
            timezone=settings.tz,
            executors={"default": ThreadPoolExecutor(max(2, len(self.specs) + 1))},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 60},
        )
        self.fleet: Fleet | None = None
        if fleet:  # one member of a fleet (sync.fleet): leases instead of the daemon lock
            from deskpulse.sync.fleet import Fleet
            from deskpulse.sync.fleet_status import FleetCollector

            self.fleet = Fleet(self)
            self.metrics.registry.register(FleetCollector(self.warehouse, self.fleet.lease))

    def _load_actions(self) -> Actions:
        """The write-back actions (DESKPULSE_WRITEBACK, and each source's own `writeback` file of
        the sources file), as at start and at each SIGHUP."""
        actions = Actions()
        if self.settings.writeback:
            actions = configured_actions(self.settings, specs=self.specs)
        return source_actions(actions, self.specs)

    def _context(self) -> Context:
        return writeback_context(self.settings, self.warehouse, config=self.kpi_config)

    @contextmanager
    def _job(self, key: str) -> Iterator[None]:
        with self._jobs:
            self._running.append(key)  # a list: a catch-up digest may run beside its cron job
        try:
            yield
        finally:
            with self._jobs:
                self._running.remove(key)
                self._jobs.notify_all()

    # jobs -----------------------------------------------------------------------------------

    def sync_cycle(self, name: str) -> None:
        """Sync one source, write its values back, refresh the KPI gauges; one log line."""
        if not self._warehouse_ok():
            return
        state = self.sources[name]
        if self.stopping.is_set():
            return
        if state.backoff_until is not None and self.clock() < state.backoff_until:
            log.debug("%s: backed off until %s", name, f"{state.backoff_until:%H:%M:%S}")
            return
        self._run_cycle(state, fleet=False)

    def fleet_cycle(self, name: str) -> None:
        """Fleet mode (sync.fleet, which holds the account's lease and keeps its backoff): one
        cycle of `name` now, then its digests whose `at` passed and that the ledger lacks."""
        state = self.sources[name]
        state.backoff_until = None
        for action in self.actions.digests:
            if action.source == name:
                self._catch_up(action)
        self._run_cycle(state, fleet=True)

    def _run_cycle(self, state: SourceState, *, fleet: bool) -> None:
        with self._job(f"sync:{state.name}"):
            state.running_since = self.clock()
            try:
                with self.reading[state.name]:
                    self._cycle(state)
            finally:
                state.running_since = None
                self._count_cycle(state)
                if not fleet:  # the fleet's schedule is its lease rows
                    self._record_schedule([state.name])
                release_memory()
                self._warehouse_ok()  # replaced during the cycle: stop now, not a cycle later

    def _cycle(self, state: SourceState) -> None:
        name = state.name
        started = time.monotonic()
        self.once.reset()
        new_cycle()  # the log handler's own once-per-cause filter (sync.logs) starts afresh too
        spec = next(s for s in self.specs if s.name == name)
        try:
            connector = self.connect(spec)
        except DeskpulseError as exc:
            self._failed(state, str(exc))
            return
        try:
            report = run_sync(self.warehouse, connector, observer=_StopAfterPage(self.stopping))
            self._synced(state, report, connector.stats.throttled)
            self._hold(state, connector.stats.blocked_until)
            if report.status not in ("ok", "partial"):
                return
            wrote = self._write_back(name, connector)
            self._kpi_gauges()
            seconds = time.monotonic() - started
            line = (
                f"{name}: synced {report.rows:,} rows in {report.requests:,} requests, "
                f"{seconds:.1f} s"
            )
            failed = [s.name for s in report.streams if s.status == "failed"]
            notes = [f"{report.quarantined:,} records quarantined"] if report.quarantined else []
            notes += [f"streams failed: {', '.join(failed)}"] if failed else []
            line += f" (partial: {'; '.join(notes)})" if notes else ""
            level = logging.WARNING if failed else logging.INFO
            # The same figures as fields, for DESKPULSE_LOG_FORMAT=json.
            fields: dict[str, Any] = {
                "source": name, "rows": report.rows, "requests": report.requests,
                "seconds": round(seconds, 1),
            }  # fmt: skip
            if isinstance(wrote, str):
                log.error("%s; write-back failed: %s", line, wrote, extra=fields)
            elif wrote is not None:
                sent = wrote.count("sent") + wrote.count("verified")
                doubt = wrote.in_doubt
                fields.update(written=sent, write_failures=wrote.failed, writes_in_doubt=doubt)
                level = max(level, logging.WARNING if wrote.failed or doubt else logging.INFO)
                log.log(level, "%s; wrote %s values (%s failed%s)", line, f"{sent:,}",
                        f"{wrote.failed:,}", f", {doubt:,} in doubt" if doubt else "",
                        extra=fields)  # fmt: skip
            else:
                log.log(level, "%s", line, extra=fields)
            self._post_missed(name)
        except Shutdown:
            log.info(
                "%s: stopped for the shutdown after %s requests, %.1f s (what it committed is "
                "kept; a write it was sending is checked on the next run)",
                name, f"{connector.stats.requests:,}", time.monotonic() - started,
            )  # fmt: skip
        except LockHeld as exc:
            log.warning("%s", exc)  # a manual `deskpulse sync` of this source: next time
        except DeskpulseError as exc:
            self._failed(state, str(exc))
        finally:
            connector.close()
            self.metrics.cycle_seconds.labels(name).set(time.monotonic() - started)

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
        else:
            self._failed(state, report.message or report.status, counted=True)

    def _failed(self, state: SourceState, message: str, *, counted: bool = False) -> None:
        """A failed cycle: backed off, counted once in deskpulse_syncs_total (unless the run's
        own status was counted already), and its one line."""
        state.failures += 1
        state.last_error = message
        wait = min(timedelta(seconds=state.interval * 2**state.failures), MAX_BACKOFF)
        state.backoff_until = self.clock() + wait
        if not counted:
            self.metrics.syncs.labels(state.name, "failed").inc()
        log.error(
            "%s: sync failed (%d in a row), next try in %ds: %s",
            state.name, state.failures, int(wait.total_seconds()), message,
        )  # fmt: skip

    def _hold(self, state: SourceState, until: datetime | None) -> None:
        """The vendor asked the sync to wait until `until` (a 429 past what a request waits):
        no sync of the source before then."""
        if until is not None and (state.backoff_until is None or until > state.backoff_until):
            state.backoff_until = until
            log.warning("%s: the vendor asked to wait until %s UTC: next sync then",
                        state.name, f"{until.astimezone(UTC):%Y-%m-%d %H:%M}")  # fmt: skip

    def _write_back(self, source: str, connector: Connector) -> PushReport | str | None:
        """The source's per-record actions (ticket fields, user or profile fields,
        subscriptions); digests have their own schedule. None: no action for this source;
        a string: why the push failed."""
        actions = self.actions
        mine = Actions(
            ticket_fields=tuple(a for a in actions.ticket_fields if a.source == source),
            profile_fields=tuple(a for a in actions.profile_fields if a.source == source),
            subscriptions=tuple(a for a in actions.subscriptions if a.source == source),
        )
        if not mine.all() or not self._warehouse_ok():
            return None
        try:
            report = push(
                self.warehouse, mine, {source: connector}, self._context(),
                clock=self.clock, stop=self.stopping,
            )  # fmt: skip
        except DeskpulseError as exc:
            return str(exc)
        self._count_writes(report)
        return report

    def _count_writes(self, report: PushReport) -> None:
        for item in report.items:
            if item.outcome:
                self.metrics.writes.labels(item.target, item.outcome).inc()

    def digest(self, action: DigestAction, due: datetime | None = None) -> None:
        """Post the action's digest for the last complete period before `due` (default: now),
        unless the ledger has it already."""
        if self.stopping.is_set() or not self._warehouse_ok():
            return
        with self._job(f"digest:{action.name}"):
            # This post settles a catch-up waiting for its source (a later period supersedes it).
            self._missed.pop(action.name, None)
            try:
                self._digest(action, due)
            finally:
                with self._cycle_lock:
                    self.digests_done += 1
                release_memory()

    def _digest(self, action: DigestAction, due: datetime | None) -> None:
        spec = next((s for s in self.specs if s.name == action.source), None)
        if spec is None:
            log.error("digest %s: source %s is not configured", action.name, action.source)
            return
        try:
            ctx = self._context()
            connector = self.connect(spec)
        except DeskpulseError as exc:
            log.error("digest %s failed: %s", action.name, exc)
            return
        try:
            report = push(
                self.warehouse, Actions(digests=(action,)), {action.source: connector}, ctx,
                clock=self.clock, stop=self.stopping,
                extra=lambda conn, now: plan_digests(conn, (action,), ctx, due or now),
            )  # fmt: skip
            self._count_writes(report)
            if report.items:
                log.info(
                    "digest %s: %d sent, %d failed", action.name,
                    report.count("sent") + report.count("verified"), report.failed,
                )  # fmt: skip
        except Shutdown:
            log.info("digest %s: stopped for the shutdown (checked on the next run)", action.name)
        except DeskpulseError as exc:
            log.error("digest %s failed: %s", action.name, exc)
        finally:
            connector.close()

    def _post_missed(self, source: str) -> None:
        """After its source's sync (so the numbers are current): the digests the daemon missed."""
        for action, due in [m for m in list(self._missed.values()) if m[0].source == source]:
            log.info(
                "digest %s: posting the one missed at %s", action.name, f"{due:%Y-%m-%d %H:%M}"
            )
            self.digest(action, due)

    def _warehouse_ok(self) -> bool:
        """False when the warehouse file was deleted or replaced: the daemon stops, and run()
        raises the error (exit 1, one line) so the service manager starts a fresh process."""
        try:
            self.warehouse.check_identity()
        except WarehouseReplaced as exc:
            self.fatal = exc
            self.stopping.set()
            return False
        return True

    def _kpi_gauges(self) -> None:
        """The KPIs with a configured target (else the digests' metrics), last 30 days."""
        config = self.kpi_config
        metrics = sorted({t.metric for t in config.targets})
        if not metrics:
            metrics = sorted({m for d in self.actions.digests for m in d.metrics})
        if not metrics:
            return
        from deskpulse.kpi_core import KpiQuery

        start, end = window(None, None, self.settings)
        try:
            query = KpiQuery(
                start=start, end=end, tz=self.settings.tz, config=config,
                schedules=self._context().schedules,
            )  # fmt: skip
            with self.warehouse.connect() as conn:
                values = compute(conn, metrics, query)
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

    def _lag(self, state: SourceState) -> float:
        """Seconds since the source's last success (-1: none known)."""
        if state.last_success is None:
            return -1.0
        return (self.clock() - state.last_success).total_seconds()

    def health(self) -> tuple[int, Mapping[str, Any]]:
        """/healthz: `stopping` or `failing` (a source failed FAILING times in a row): 503;
        `degraded` (a source's last tries failed, fewer than FAILING), `starting` (a source has
        not synced successfully yet, its first sync may be under way) or `ok`: 200."""
        sources: dict[str, Any] = {}
        for name, s in self.sources.items():
            lag = self._lag(s)
            sources[name] = {
                "last_success": s.last_success, "lag_seconds": lag if lag >= 0 else None,
                "status": s.last_status, "failures": s.failures, "error": s.last_error,
                "running_since": s.running_since,
                "next_run": None if s.running_since is not None else self.next_run(name),
            }  # fmt: skip
        states = self.sources.values()
        if self.stopping.is_set():
            status = "stopping"
        elif any(s.failures >= FAILING for s in states):
            status = "failing"
        elif any(s.failures for s in states):
            status = "degraded"
        elif any(s.last_success is None for s in states):
            status = "starting"
        else:
            status = "ok"
        return (503 if status in ("stopping", "failing") else 200), {
            "status": status, "sources": sources,
        }  # fmt: skip

    def _restore(self) -> None:
        """Each source's last success and failures in a row, from the warehouse's runs: a
        restart does not forget them (lag, /healthz)."""
        try:
            with self.warehouse.connect() as conn:
                known = source_health(conn, datetime.now(UTC))
        except Exception as exc:  # the first cycle will tell
            log.warning("could not read the last runs: %s", exc)
            return
        for name, state in self.sources.items():
            found = known.get(name)
            if found is not None:
                state.last_success = found["last_success"]
                state.failures = int(found["failed_runs"])

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
        if digests:
            self._schedule_digests()

    def _schedule_digests(self) -> None:
        """A cron job per digest action (replacing those of the previous actions), and a
        catch-up of the last period each one missed, posted after its source's next sync."""
        for job in self.scheduler.get_jobs():
            if job.id.startswith("digest:"):
                job.remove()
        self._missed.clear()
        for action in self.actions.digests:
            self.scheduler.add_job(
                self.digest, _digest_trigger(action, self.settings.tz), args=[action],
                id=f"digest:{action.name}", name=f"digest {action.name}",
            )  # fmt: skip
            self._catch_up(action)

    def _catch_up(self, action: DigestAction) -> None:
        """Remember the action's digest for posting after its source's next sync, if the last
        period's is missing from the ledger."""
        try:
            with self.warehouse.connect() as conn:
                due = missed(conn, action, self.settings.tz, self.clock())
        except Exception as exc:  # the ledger unreadable: the next `at` posts
            log.warning("digest %s: cannot tell whether one was missed: %s", action.name, exc)
            return
        if due is not None:
            self._missed[action.name] = (action, due)

    def reload(self) -> bool:
        """SIGHUP: read the write-back file (DESKPULSE_WRITEBACK) and the KPI config
        (DESKPULSE_KPI_CONFIG) again; used from the next cycle on. A file that does not load
        is one error line, and the previous actions and config stay."""
        try:
            actions = self._load_actions()
            config = load_config(self.settings.kpi_config)
        except DeskpulseError as exc:
            log.error("reload refused, the previous write-back and KPI config stay: %s", exc)
            return False
        self.actions, self.kpi_config = actions, config
        if self.scheduler.running and not self._bounded:
            self._schedule_digests()
        log.info(
            "reloaded: %d write-back action(s) from %s, KPI config %s",
            len(actions.all()), self.settings.writeback or "(none)",
            self.settings.kpi_config or "(none)",
        )  # fmt: skip
        return True

    def stop(self, *_: Any) -> None:
        self.stopping.set()

    def request_reload(self, *_: Any) -> None:
        """SIGHUP's handler: the main loop reloads (never inside a signal handler)."""
        self._reload.set()

    def _wait_for_jobs(self, seconds: float) -> list[str]:
        """Wait up to `seconds` for the running jobs; the ones still running."""
        deadline = time.monotonic() + seconds
        with self._jobs:
            while self._running and time.monotonic() < deadline:
                self._jobs.wait(max(0.0, min(0.1, deadline - time.monotonic())))
            return sorted(self._running)

    def run(self, *, cycles: int | None = None, signals: bool = True) -> None:
        """Hold the daemon lock, serve /metrics and /healthz, run the jobs until stopped (or
        until every source has run `cycles` cycles and every digest once: `--cycles`, the demo;
        a failed cycle counts). Once stopping, it waits at most `stop_grace` seconds for the
        jobs still running (`abandoned` names those it left)."""
        if self.fleet is not None:
            with self._serving(signals, self.fleet.health):
                self.fleet.run(cycles)
            return
        try:
            lock = acquire(self.warehouse, DAEMON_LOCK)
        except LockHeld as exc:  # not a usage error: exit 1, like any refused run
            raise DeskpulseError(
                f"another deskpulse daemon is running on this warehouse (pid {exc.pid} on host "
                f"{exc.host} since {exc.since:%Y-%m-%d %H:%M:%S} UTC); stop it first"
            ) from None
        try:
            with self._serving(signals, self.health):
                self._run_scheduled(cycles)
        finally:
            self._clear_schedule()
            lock.release()
        if self.fatal is not None:
            raise self.fatal

    @contextmanager
    def _serving(
        self, signals: bool, health: Callable[[], tuple[int, Mapping[str, Any]]]
    ) -> Iterator[None]:
        """Signal handlers, the once-per-cause log filter and /metrics + /healthz, for the
        block (the single daemon's and the fleet member's)."""
        server = None
        outputs = list(logging.getLogger().handlers)
        for output in outputs:
            output.addFilter(self.once)
        if signals:
            previous = {s: signal.signal(s, self.stop) for s in (signal.SIGTERM, signal.SIGINT)}
            if hasattr(signal, "SIGHUP"):
                previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self.request_reload)
        try:
            self._restore()
            if self.settings.metrics_port:
                server = StatusServer(
                    self.metrics, health, self.settings.metrics_host, self.settings.metrics_port
                ).start()
                log.info("metrics on http://%s:%d/metrics", server.host, server.port)
            if self.hints is not None and self.fleet is None:  # not yet in fleet mode
                self.hints.start()
            yield
        finally:
            if server is not None:
                server.stop()
            if self.hints is not None:
                self.hints.stop()
            if signals:
                for sig, before in previous.items():
                    signal.signal(sig, before)
            for output in outputs:
                output.removeFilter(self.once)

    def _run_scheduled(self, cycles: int | None) -> None:
        self._bounded = cycles is not None
        self.schedule(digests=not self._bounded)
        self.scheduler.start()
        self._record_schedule(list(self.sources))
        while not self.stopping.wait(0.2):
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            if cycles is not None and min(s.cycles for s in self.sources.values()) >= cycles:
                # A bounded run posts each digest once, on the data its syncs brought.
                for action in self.actions.digests:
                    if not self.stopping.is_set():
                        self.digest(action)
                break
        self.stopping.set()  # every wait of the running jobs ends now (StopSleep)
        self.scheduler.shutdown(wait=False)
        self.abandoned = self._wait_for_jobs(self.stop_grace)
        if self.abandoned:
            log.warning(
                "stopping now; the write in flight is checked on the next run "
                "(still running: %s, a request waiting on the vendor)",
                ", ".join(self.abandoned),
            )


__all__ = ["DAEMON_LOCK", "FAILING", "Daemon", "Shutdown", "StopSleep", "parse_intervals"]
