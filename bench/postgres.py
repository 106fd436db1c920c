"""PostgreSQL against SQLite, in one run on the same data, printed as ratios.

`run()` (`python -m bench postgres`) starts a sandbox with DESKPULSE_BENCH_PG_TICKETS tickets
(default 2,000; the issue's figure is for 20,000), then:

1. The sync of the tickets with their events (users, tickets, ticket_events) into a fresh
   SQLite file and into a fresh PostgreSQL schema, DESKPULSE_BENCH_REPEAT times each (default
   3, in turn, so a busy machine slows both alike); prints the medians and PostgreSQL's ratio
   to SQLite (target <= 1.3x).
2. `kpi`: the whole catalog over the synced period, once as a whole and once by agent, on both
   databases (one worker, the medians of the same number of runs), with the ratio (target
   <= 1.3x), and checks that the two databases' KPI JSON is the same, byte for byte.
3. The write path alone (`bench.pg_write`): the synced rows written again by each way measured.

DESKPULSE_BENCH_POSTGRES_URL (else DESKPULSE_TEST_POSTGRES_URL) names the PostgreSQL database;
unset, the benchmark says so and stops. Its schemas are dropped at the end.
"""

from __future__ import annotations

import statistics
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from unittest import mock

from sqlalchemy import func, select

from bench import pg_write
from bench.common import bench_dir, fresh_db
from bench.fleet_harness import pg_schema
from bench.zendesk_sync import SEED, TICKET_STREAMS, _env_int, _timed_sync
from deskpulse.sandbox.command import SandboxProcess, start_subprocess
from deskpulse.sync.warehouse import Warehouse, table

RATIO_TARGET = 1.3


def _sync(sb: SandboxProcess, url: str) -> tuple[float, float]:
    """One sync of the tickets with their events into the empty warehouse at `url`: (seconds,
    this process's CPU seconds)."""
    report, elapsed, own, _sandbox = _timed_sync(sb, TICKET_STREAMS, url)
    if report.status != "ok":
        raise SystemExit(f"the sync into {url.split(':')[0]} ended {report.status}")
    return elapsed, own


def _kpi(url: str, by: str | None) -> tuple[float, str]:
    """The catalog over the warehouse's whole period: (seconds, the KPI JSON)."""
    from deskpulse.kpi_core import KpiQuery, compute
    from deskpulse.sync.render import kpi_json

    warehouse = Warehouse(url, reading=True)
    tickets = table("tickets")
    with warehouse.connect() as connection:
        first, last = connection.execute(
            select(func.min(tickets.c.created_at), func.max(tickets.c.updated_at))
        ).one()
        query = KpiQuery(start=first, end=last + timedelta(days=1), by=by)
        started = time.perf_counter()
        values = compute(connection, None, query, workers=1)
        elapsed = time.perf_counter() - started
    warehouse.dispose()
    return elapsed, kpi_json(values)


def _verdict(ratio: float) -> str:
    return "PASS" if ratio <= RATIO_TARGET else "FAIL"


def _line(label: str, sqlite: list[float], postgres: list[float], extra: str = "") -> None:
    a, b = statistics.median(sqlite), statistics.median(postgres)
    print(
        f"  {_verdict(b / a)} {label:<22} SQLite {a:6.2f} s  PostgreSQL {b:6.2f} s  "
        f"{b / a:4.2f}x (target <= {RATIO_TARGET}x){extra}",
        flush=True,
    )


def run() -> None:
    url = pg_write.postgres_url()
    if not url:
        print("  skipped: set DESKPULSE_BENCH_POSTGRES_URL (postgresql+psycopg://...)")
        return
    tickets = _env_int("DESKPULSE_BENCH_PG_TICKETS", 2_000)
    repeat = max(_env_int("DESKPULSE_BENCH_REPEAT", 3), 1)
    print(f"sandbox: {tickets:,} tickets with their events; medians of {repeat} runs, in turn")
    seconds: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    cpu: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    kpis: dict[tuple[str, str | None], list[float]] = {}
    texts: dict[tuple[str, str | None], str] = {}
    sqlite_path = bench_dir() / f"postgres-vs-sqlite-{tickets}.db"
    # The metrics that measure up to now (an SLA target still running) see one instant on both
    # databases, or their JSON would differ by the seconds between the two runs.
    from deskpulse.kpi_core.metrics import tickets_common, tickets_speed

    pinned = tickets_common.now_ms()
    with (
        mock.patch.object(tickets_speed, "now_ms", lambda: pinned),
        start_subprocess(seed=SEED, tickets=tickets, rate_limit=False, oauth=True) as sb,
    ):
        _sync(sb, fresh_db(sqlite_path.name))  # untimed: the sandbox's first walk is slower
        for _ in range(repeat):
            for name in seconds:
                place: AbstractContextManager[str] = (
                    nullcontext(fresh_db(sqlite_path.name))
                    if name == "sqlite"
                    else pg_schema(url, prefix="bench_sync_")
                )
                with place as target:
                    elapsed, used = _sync(sb, target)
                    seconds[name].append(elapsed)
                    cpu[name].append(used)
                    for by in (None, "agent"):
                        took, texts[(name, by)] = _kpi(target, by)
                        kpis.setdefault((name, by), []).append(took)
    _line(
        "sync",
        seconds["sqlite"],
        seconds["postgresql"],
        f"  (client CPU {statistics.median(cpu['sqlite']):.1f} s against "
        f"{statistics.median(cpu['postgresql']):.1f} s)",
    )
    for by in (None, "agent"):
        _line(f"kpi {'by ' + by if by else 'whole period'}", kpis[("sqlite", by)],
              kpis[("postgresql", by)])  # fmt: skip
        same = texts[("sqlite", by)] == texts[("postgresql", by)]
        print(f"  {'PASS' if same else 'FAIL'} the two databases' KPI JSON is the same")
        if not same:
            for name in ("sqlite", "postgresql"):
                path = bench_dir() / f"postgres-vs-sqlite-kpi-{by or 'all'}.{name}.json"
                path.write_text(texts[(name, by)])
                print(f"    ({name}'s JSON in {path})")
    print("\n  the write path alone, the same pages written by each way:", flush=True)
    source = Warehouse(f"sqlite:///{sqlite_path}")
    pg_write.write_ways(source, url)
    source.dispose()
