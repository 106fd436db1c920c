"""Zendesk backfill under a plan's real budgets: the planned backfill against the incremental
exports alone (`python -m bench backfill`).

A sandbox child process with DESKPULSE_BENCH_BACKFILL_TICKETS tickets (default 20,000) under
`--plan DESKPULSE_BENCH_PLAN` (default professional: 400 requests a minute account-wide) and
`--time-scale DESKPULSE_BENCH_BACKFILL_SCALE` (default 6: a rate-limit minute lasts 10 s).
DESKPULSE_BENCH_BACKFILL_PLANS (default `auto,incremental`) picks the runs. Every answer takes
DESKPULSE_BENCH_BACKFILL_LATENCY seconds of account time (default 0.25, about what Zendesk's API
answers in; the sandbox waits that divided by the scale), so a reader that waits on each answer
before the next request is as slow against the budget as against Zendesk. Two first syncs of
what the core KPIs need (users, tickets, ticket events) into fresh warehouses, paced by
the connector's own limiter (its window set to the sandbox's): the connector's planned backfill
(`history="auto"`, zendesk.backfill), then the incremental exports alone
(`history="incremental"`). For each it prints the backfill time in account time (wall time x
scale), the floor the budgets allow for the same data, the share of each budget used while it
ran, and the 429s; then the gain, and the goals (at least 3x faster, within 10% of the floor,
no 429) as PASS/FAIL lines.

A floor is the least time in which a client that keeps at most a budget's requests in any
minute can send them all: a minute's worth at once, then one more minute per minute's worth
(`least_minutes`: 80 export requests at 10 a minute need 7 minutes, not 8). The floor of the
planned backfill is worked out from the sandbox's generated account (the same seed): every
split between the event export (oldest first) and the audits (newest first, live tickets 100 a
request, archived ones a request each) is tried, and the fastest that both budgets allow is the
floor. The incremental path's floor is that of the requests it made. The sandbox reads the
incremental exports as one shared budget of 10 a minute (the conservative reading of Zendesk's
documentation); the users export has its own 20 (its own header).
"""

from __future__ import annotations

import bisect
import os
import time
from typing import Any

import httpx

from bench.common import env_number, fresh_db
from deskpulse.sandbox.command import start_subprocess
from deskpulse.sandbox.options import SandboxOptions

SEED = 20261101
CORE = ("users", "tickets", "ticket_events")
ACCOUNT = "account"
INCREMENTAL = "incremental-exports"


def _buckets(method_path: str) -> list[str]:
    """The sandbox's budgets a request spent (stats key -> the route's buckets)."""
    from deskpulse.sandbox.dialect import match_route
    from deskpulse.sandbox.zendesk import ROUTES

    method, _, path = method_path.partition(" ")
    found, _, _ = match_route(ROUTES, method, path.replace("{id}", "1"))
    buckets = [ACCOUNT]
    if found is not None and found.bucket:
        buckets.append(found.bucket)
    return buckets


def spent(stats: dict[str, Any]) -> tuple[dict[str, int], int]:
    """Requests answered (not 429) per budget, and the 429s."""
    per: dict[str, int] = {}
    throttled = 0
    for key, by_status in stats["requests"].items():
        ok = sum(n for status, n in by_status.items() if status != "429")
        throttled += by_status.get("429", 0)
        for bucket in _buckets(key):
            per[bucket] = per.get(bucket, 0) + ok
    return per, throttled


def least_minutes(requests: int, per_minute: int) -> int:
    """Minutes before the last of `requests` may go when at most `per_minute` go in any minute:
    the first minute's go at once, the next minute's a minute later, and so on."""
    return max(0, -(-requests // per_minute) - 1)


def planned_floor(tickets: int, account: int, incremental: int, users_pages: int) -> float:
    """Minutes the budgets allow, at best, for the planned backfill of this sandbox's account:
    the best split of the history between the export and the audits (see the docstring)."""
    from deskpulse.sandbox import streams
    from deskpulse.sandbox.data import Account
    from deskpulse.sandbox.zendesk.history import archived

    acc = Account(seed=SEED, tickets=tickets)
    stamps: list[int] = []
    per_ticket: list[tuple[list[int], bool]] = []
    for j in range(acc.n_tickets):
        recs = list(streams.audits_of(acc, j))
        times = [r[0] for r in recs]
        stamps += times
        per_ticket.append((times, archived(acc, recs)))
    stamps.sort()
    ticket_pages = -(-acc.n_tickets // 1000)
    live = sorted(t for times, arch in per_ticket if not arch for t in times)
    archived_last = sorted(times[-1] for times, arch in per_ticket if arch and times)
    best = float("inf")
    for step in range(0, 201):
        split = stamps[min(len(stamps) - 1, len(stamps) * step // 200)] if step < 200 else None
        before = len(stamps) if split is None else bisect.bisect_left(stamps, split)
        export_pages = -(-before // 1000)  # the changes after T0 come with the next sync
        live_after = 0 if split is None else len(live) - bisect.bisect_left(live, split)
        arch_after = (
            0 if split is None else len(archived_last) - bisect.bisect_left(archived_last, split)
        )
        account_requests = (
            -(-live_after // 100) + arch_after + ticket_pages + export_pages + users_pages
        )
        minutes = max(
            least_minutes(ticket_pages + export_pages, incremental),
            least_minutes(account_requests, account),
        )
        best = min(best, minutes)
    return best


def _sync(sb: Any, history: str, window: float, name: str) -> tuple[Any, float]:
    from deskpulse.connectors.zendesk import ZendeskConnector
    from deskpulse.sync.engine import run_sync
    from deskpulse.sync.warehouse import Warehouse

    warehouse = Warehouse(fresh_db(name))
    warehouse.ensure_schema()
    env = sb.env
    connector = ZendeskConnector(
        base_url=env["ZENDESK_BASE_URL"],
        subdomain=env["ZENDESK_SUBDOMAIN"],
        email=env["ZENDESK_EMAIL"],
        api_token=env["ZENDESK_API_TOKEN"],
        rate_window=window,
        history=history,
    )
    started = time.perf_counter()
    try:
        report = run_sync(warehouse, connector, streams=CORE)
    finally:
        connector.close()
    elapsed = time.perf_counter() - started
    warehouse.dispose()
    return report, elapsed


def run() -> None:
    tickets = int(env_number("DESKPULSE_BENCH_BACKFILL_TICKETS", 20_000))
    scale = env_number("DESKPULSE_BENCH_BACKFILL_SCALE", 6)
    plan = os.environ.get("DESKPULSE_BENCH_PLAN", "professional")
    latency = env_number("DESKPULSE_BENCH_BACKFILL_LATENCY", 0.25)
    print(
        f"sandbox: {tickets:,} tickets, seed {SEED}, --plan {plan} --time-scale {scale:g}, "
        f"{latency:g} s an answer in account time"
    )
    options = SandboxOptions(port=0, seed=SEED, tickets=tickets, oauth=False, plan=plan)
    options = options.with_(time_scale=scale, latency=round(latency / scale, 4))
    with start_subprocess(options) as sb:
        info = httpx.get(f"{sb.base_url}/__sandbox/info", timeout=10).json()
        budgets, window = info["budgets"], float(info["window_seconds"])
        print(
            f"  budgets a minute: account {budgets[ACCOUNT]}, incremental exports "
            f"{budgets[INCREMENTAL]} (one budget shared by the incremental exports: the "
            f"conservative reading of Zendesk's documentation), users export "
            f"{budgets['incremental-exports-cursor']} (its own header); a minute lasts "
            f"{window:g} s",
            flush=True,
        )
        # The sandbox builds its search table on the first search (a second of its CPU, all
        # other answers waiting): built here, before the clock starts, as Zendesk's index is.
        httpx.get(
            f"{sb.base_url}/api/v2/search.json",
            params={"query": "type:ticket status:closed"},
            auth=(f"{sb.env['ZENDESK_EMAIL']}/token", sb.env["ZENDESK_API_TOKEN"]),
            timeout=60,
        ).raise_for_status()
        results: dict[str, tuple[float, float]] = {}
        plans = [
            (label, history)
            for label, history in (
                ("planned backfill", "auto"),
                ("incremental only", "incremental"),
            )
            if history in os.environ.get("DESKPULSE_BENCH_BACKFILL_PLANS", "auto,incremental")
        ]
        for label, history in plans:
            time.sleep(window)  # a fresh window: the run before spent this one's budget
            httpx.delete(f"{sb.base_url}/__sandbox/stats", timeout=10)
            report, elapsed = _sync(sb, history, window, f"backfill-{history}-{tickets}.db")
            stats = httpx.get(f"{sb.base_url}/__sandbox/stats", timeout=10).json()
            per, throttled = spent(stats)
            minutes = elapsed / window
            events = next((s.records for s in report.streams if s.name == "ticket_events"), 0)
            users_pages = stats["requests"].get("GET /api/v2/incremental/users/cursor", {})
            if history == "auto":
                floor = planned_floor(
                    tickets,
                    budgets[ACCOUNT],
                    budgets[INCREMENTAL],
                    users_pages.get("200", 0),
                )
            else:
                floor = max(least_minutes(per[b], budgets[b]) for b in per)
            shares = ", ".join(
                f"{b} {per[b] / (budgets[b] * minutes):.0%} ({per[b]:,} requests)"
                for b in (ACCOUNT, INCREMENTAL, "incremental-exports-cursor")
                if b in per
            )
            against = f"{minutes / floor:.2f}x the floor" if floor else "within one budget"
            print(
                f"\n  {label}: {report.status}, {events:,} ticket event records read, "
                f"{minutes:.1f} account minutes ({elapsed:.1f} s wall x {scale:g}); "
                f"floor {floor:.1f} minutes ({against})\n"
                f"    budgets used: {shares}\n    429s: {throttled}",
                flush=True,
            )
            results[history] = (minutes, floor)
            for key, by_status in stats["requests"].items():
                if by_status.get("429"):
                    print(f"    429 on {key}: {by_status['429']}")
            print(f"    {'PASS' if throttled == 0 else 'FAIL'} no 429")
            if floor:
                verdict = "PASS" if minutes <= floor * 1.1 else "FAIL"
                print(f"    {verdict} within 10% of the floor")
        if len(results) < 2 or not results["auto"][1]:
            return
        gain = results["incremental"][0] / results["auto"][0]
        print(
            f"\n  the core KPIs' data (users, tickets, ticket events) {gain:.1f}x faster with "
            f"the planned backfill ({results['auto'][0]:.1f} against "
            f"{results['incremental'][0]:.1f} account minutes; floors "
            f"{results['auto'][1]:.1f} and {results['incremental'][1]:.1f})"
        )
        best = results["incremental"][1] / results["auto"][1]
        print(
            f"  {'PASS' if gain >= 3 else 'FAIL'} at least 3x faster (the floors allow at most "
            f"{best:.2f}x on this account: its archived tickets cost a request each)"
        )
