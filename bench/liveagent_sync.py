"""LiveAgent sync benchmark: the real connector under LiveAgent's real limit, against the sandbox.

LiveAgent allows 180 requests a minute per API key, every endpoint alike, and the connector reads
one conversation per changed ticket: a full history costs about a request per ticket, so its time
is set by the budget, not by the machine. `run()` (`python -m bench liveagent`) prints:

1. Full sync: a sandbox child process with DESKPULSE_BENCH_LIVEAGENT_TICKETS tickets (default
   1,000) and its real limit (180 per fixed minute, 429 with Retry-After beyond), run at time
   scale K (DESKPULSE_BENCH_TIME_SCALE, default 20: every minute of budget passes in 60/K real
   seconds). The connector paces itself as it ships (LIVEAGENT_RATE_LIMIT default 160 in any
   trailing minute), its limiter's minute scaled by the same K. Prints the time (real, and in
   budget minutes = real x K / 60), the requests, the 429s the sandbox answered, and how close
   the time is to the floors: requests / 180 per minute (LiveAgent's limit, nobody can beat it)
   and requests / 160 (the connector's pace, the headroom it leaves the account's own tools).
   PASS: zero 429s, and within 10% of the pace floor.
2. The brief's promise, "an hourly sync of an account with 2,000 changed tickets a day never sees
   a 429": an hour's worth of changes (84 tickets updated through the API, which moves their
   `date_changed`), then the next incremental sync of the same warehouse, same limit, same
   pacing. Prints the requests it needs (the tickets' pages and conversations, plus each run's
   fixed reads: agents, departments, tags, contacts, history, calls, chats) as minutes of
   budget, and the 429s. PASS: zero 429s, and the whole sync within one minute of the pace.

DESKPULSE_BENCH_DIR (default bench-results) holds the SQLite files.
"""

from __future__ import annotations

import math
import time
from typing import Any

import httpx

from bench.common import env_number, fresh_db
from deskpulse.connectors.http import DEFAULT_BUCKET, RateLimiter
from deskpulse.connectors.liveagent import DEFAULT_PACE, RATE_LIMIT, LiveAgentConnector
from deskpulse.sandbox.command import start_subprocess
from deskpulse.sync.engine import run_sync
from deskpulse.sync.warehouse import Warehouse

SEED = 20261101
CHANGED_PER_DAY = 2_000


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _connector(env: dict[str, str], scale: float) -> Any:
    """The connector as `deskpulse sync` builds it, its pacing minute shortened K times (as the
    sandbox's windows are): the same budget, spent K times faster."""
    connector = LiveAgentConnector(
        "liveagent",
        url=env["LIVEAGENT_URL"],
        api_key=env["LIVEAGENT_API_KEY"],
        timezone=env.get("LIVEAGENT_TIMEZONE", "UTC"),
        rate_limit=None,
    )
    connector.client.limiter = RateLimiter({DEFAULT_BUCKET: DEFAULT_PACE}, window=60.0 / scale)
    return connector


def _sync(url: str, env: dict[str, str], scale: float) -> tuple[Any, float, int, int]:
    """(report, real seconds, requests the sandbox served, 429s it answered)."""
    warehouse = Warehouse(url)
    connector = _connector(env, scale)
    httpx.delete(f"{env['LIVEAGENT_URL']}/__sandbox/stats", timeout=10)
    started = time.perf_counter()
    try:
        report = run_sync(warehouse, connector)
    finally:
        connector.close()
        warehouse.dispose()
    elapsed = time.perf_counter() - started
    stats = httpx.get(f"{env['LIVEAGENT_URL']}/__sandbox/stats", timeout=10).json()
    return report, elapsed, stats["total"], stats["by_status"].get("429", 0)


def full_sync(env: dict[str, str], db: str, tickets: int, scale: float) -> None:
    report, elapsed, requests, throttled = _sync(db, env, scale)
    budget_min = elapsed * scale / 60
    floor_min = requests / RATE_LIMIT
    pace_min = requests / DEFAULT_PACE
    print(
        f"  full sync of {tickets:,} tickets through LiveAgent: {report.status}, "
        f"{report.written:,} rows, {requests:,} requests, {throttled} answered 429"
    )
    print(f"  time: {elapsed:.1f} s real at time scale {scale:g} = {budget_min:.2f} min of budget")
    print(
        f"  floor at LiveAgent's {RATE_LIMIT}/min: {floor_min:.2f} min "
        f"({budget_min / floor_min:.2f}x); at the connector's pace of {DEFAULT_PACE}/min: "
        f"{pace_min:.2f} min ({budget_min / pace_min:.2f}x)"
    )
    per_hour = 60 * DEFAULT_PACE * tickets / requests
    print(f"  a full history under the budget: about {per_hour:,.0f} tickets an hour")
    print(f"  {_verdict(report.status == 'ok')} the sync finished ({report.status})")
    print(f"  {_verdict(throttled == 0)} zero 429s under the real limit ({throttled} seen)")
    print(f"  {_verdict(budget_min <= pace_min * 1.1)} within 10% of the pace floor")


def hourly_sync(env: dict[str, str], db: str, scale: float) -> None:
    """An hour of an account changing 2,000 tickets a day: that many tickets changed (through
    the API, which moves their `date_changed`), then the incremental sync that follows."""
    changed = math.ceil(CHANGED_PER_DAY / 24)
    warehouse = Warehouse(db)
    with warehouse.connect() as conn:
        ids = [
            row[0]
            for row in conn.exec_driver_sql(
                "SELECT id FROM tickets WHERE source = 'liveagent' ORDER BY id LIMIT ?", (changed,)
            )
        ]
    warehouse.dispose()
    headers = {"apikey": env["LIVEAGENT_API_KEY"]}
    with httpx.Client(base_url=env["LIVEAGENT_URL"], headers=headers, timeout=30) as client:
        for n, ticket_id in enumerate(ids):
            if n and n % RATE_LIMIT == 0:
                time.sleep(60 / scale)  # the writes are the help desk's own, in their own minute
            client.put(f"/api/v3/tickets/{ticket_id}", json={"tags": ["bench-hourly"]})
    time.sleep(60 / scale)  # a fresh minute of budget, as an hour later
    report, _, requests, throttled = _sync(db, env, scale)
    found = next((s.rows for s in report.streams if s.name == "tickets"), 0)
    minutes = requests / RATE_LIMIT
    print(
        f"  hourly sync at {CHANGED_PER_DAY:,} changed tickets a day: {len(ids)} tickets changed "
        f"in the hour, {found:,} ticket rows read (tickets and their messages), {requests} "
        f"requests = {minutes:.2f} min of the {RATE_LIMIT}/min budget, {throttled} answered 429"
    )
    print(f"  {_verdict(report.status == 'ok')} the sync finished ({report.status})")
    print(f"  {_verdict(throttled == 0)} an hourly sync at 2,000 changed tickets a day: no 429")
    print(f"  {_verdict(requests <= DEFAULT_PACE)} it fits in one minute of the connector's pace")


def run() -> None:
    scale = env_number("DESKPULSE_BENCH_TIME_SCALE", 20)
    tickets = int(env_number("DESKPULSE_BENCH_LIVEAGENT_TICKETS", 1_000))
    with start_subprocess(seed=SEED, tickets=tickets, time_scale=scale, oauth=False) as sb:
        db = fresh_db(f"liveagent-{tickets}.db")
        full_sync(sb.env, db, tickets, scale)
        hourly_sync(sb.env, db, scale)
