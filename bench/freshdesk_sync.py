"""Freshdesk sync benchmark: the real connector under a plan's real budgets, against the sandbox.

Freshdesk's legacy plans allow an account-wide budget a minute (Growth 200, Pro 400, Enterprise
700) and cap some endpoints apart (the ticket list at 20 / 100 / 200); the connector reads one
conversation list per changed ticket, so a full history costs about a request per ticket and its
time is set by the budget. `run()` (`python -m bench freshdesk`) prints, for a sandbox (in this
process, its windows scaled by DESKPULSE_BENCH_TIME_SCALE, default 20: a budget minute passes in
3 s) of DESKPULSE_BENCH_FRESHDESK_TICKETS tickets (default 1,000) on DESKPULSE_BENCH_FRESHDESK_PLAN
(default growth):

1. A full sync, the connector pacing at its default (90% of each budget), its window scaled the
   same: the time in budget minutes, the requests (ticket-list ones apart), the 429s, and the
   floors: requests / the plan's account budget, and ticket-list requests / its cap. PASS: zero
   429s, within 10% of the pace floor (the larger of the two at 90%).
2. The incremental sync after it, nothing changed: its requests and 429s. PASS: zero 429s.

DESKPULSE_BENCH_DIR (default bench-results) holds the SQLite files.
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench.common import env_number, fresh_db
from deskpulse.connectors.freshdesk import HEADROOM, PLANS, FreshdeskConnector
from deskpulse.connectors.ratelimit import DEFAULT_BUCKET
from deskpulse.sandbox.server import SandboxServer
from deskpulse.sync.engine import run_sync
from deskpulse.sync.warehouse import Warehouse

SEED = 20261101


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _sync(sandbox: SandboxServer, db: str, plan: str, scale: float) -> tuple[Any, float, Any]:
    """(report, real seconds, the sandbox's request counts) of one sync."""
    host = sandbox.host_of("freshdesk")
    env = host.dialect.env()
    connector = FreshdeskConnector(
        "freshdesk",
        domain=env["FRESHDESK_DOMAIN"],
        api_key=env["FRESHDESK_API_KEY"],
        plan=plan,
        rate_window=60.0 / scale,
    )
    warehouse = Warehouse(db)
    host.stats.clear()
    started = time.perf_counter()
    try:
        report = run_sync(warehouse, connector)
    finally:
        connector.close()
        warehouse.dispose()
    return report, time.perf_counter() - started, host.stats.snapshot()


def run() -> None:
    scale = env_number("DESKPULSE_BENCH_TIME_SCALE", 20)
    tickets = int(env_number("DESKPULSE_BENCH_FRESHDESK_TICKETS", 1_000))
    name = os.environ.get("DESKPULSE_BENCH_FRESHDESK_PLAN") or "growth"
    plan = PLANS.get(name)
    if plan is None:
        print(f"  unknown plan {name!r} (one of {', '.join(PLANS)})")
        return
    budget, list_cap = plan[DEFAULT_BUCKET], plan["tickets_list"]
    options = {"freshdesk": {"plan": name}}
    with SandboxServer(
        seed=SEED, tickets=tickets, dialects=["freshdesk"], options=options, time_scale=scale
    ) as sandbox:
        db = fresh_db(f"freshdesk-{tickets}.db")
        report, elapsed, stats = _sync(sandbox, db, name, scale)
        requests = stats["total"]
        listed = sum(stats["requests"].get("GET /api/v2/tickets", {}).values())
        throttled = stats["by_status"].get("429", 0)
        minutes = elapsed * scale / 60
        floor = max(requests / budget, listed / list_cap)
        pace = max(requests / int(budget * HEADROOM), listed / int(list_cap * HEADROOM))
        print(
            f"  full sync of {tickets:,} tickets through Freshdesk ({name}: {budget}/min, ticket "
            f"list {list_cap}/min): {report.status}, {report.written:,} rows, {requests:,} "
            f"requests ({listed} ticket-list), {throttled} answered 429"
        )
        print(f"  time: {elapsed:.1f} s real at time scale {scale:g} = {minutes:.2f} budget min")
        print(
            f"  floor at the plan's budgets: {floor:.2f} min ({minutes / floor:.2f}x); at the "
            f"connector's pace (90%): {pace:.2f} min ({minutes / pace:.2f}x)"
        )
        print(f"  {_verdict(report.status == 'ok')} the sync finished ({report.status})")
        print(f"  {_verdict(throttled == 0)} zero 429s under the real budgets ({throttled} seen)")
        print(f"  {_verdict(minutes <= pace * 1.1 + 60 / scale / 60)} within 10% of the pace floor")
        time.sleep(60 / scale)  # a fresh minute of budget
        again, _, stats = _sync(sandbox, db, name, scale)
        throttled = stats["by_status"].get("429", 0)
        print(
            f"  incremental sync, nothing changed: {again.status}, {again.written} rows written, "
            f"{stats['total']} requests, {throttled} answered 429"
        )
        print(f"  {_verdict(again.status == 'ok' and throttled == 0)} no 429 on the next sync")
