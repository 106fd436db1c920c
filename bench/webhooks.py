"""Webhooks against polling: how fast a change reaches the help desk's field, and at what cost
(`python -m bench webhooks`).

A sandbox help desk (DESKPULSE_BENCH_WEBHOOK_TICKETS, default 300) in a child process, with
Zendesk's real budgets (700 requests a minute, 10 a minute for the incremental exports), and a
daemon in this process writing each ticket's resolution minutes into a custom field. Three runs
on one warehouse (synced once first):

1. polling only: a poll every DESKPULSE_BENCH_POLL seconds (default 60), no webhooks;
2. webhooks: the receiver on, `deskpulse webhooks setup` done through the sandbox's API, the
   safety-net poll every DESKPULSE_BENCH_SAFETY_NET seconds (default 120, the bench's stand-in
   for the default 900: a run lasts minutes, not hours);
3. webhooks with 20% of the deliveries dropped by the sandbox.

In each, DESKPULSE_BENCH_WEBHOOK_CHANGES tickets (default 6) are solved through the API,
DESKPULSE_BENCH_SPACING seconds apart (default 11, spread over a polling interval); the figures
are the seconds from each PUT to the ticket solved in the warehouse and to its resolution
minutes received by the help desk (median and p99; with few samples p99 is the worst).
Requests per hour: the sandbox's count of the run's requests split into poll cycles and
per-change reads and writes, then scaled to an hour of DESKPULSE_BENCH_CHANGES_PER_HOUR
changes (default 60) with a poll every 60 s (polling) or 900 s (webhooks' safety net).
Measured on the machine as it is (other processes share the cores).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from bench.common import env_number
from bench.daemon import FIELD, WRITEBACK, _wait
from deskpulse.sandbox.command import start_subprocess
from deskpulse.sync.daemon import Daemon
from deskpulse.sync.hints import setup_webhooks
from deskpulse.sync.settings import load_settings
from deskpulse.sync.warehouse import Warehouse, table

PRODUCTION_SAFETY_NET = 900.0


@dataclass
class Run:
    name: str
    warehouse: list[float]
    field: list[float]
    missed: int
    requests: int
    exports: int  # of them, on the incremental exports' 10 a minute
    polls: int
    changes: int


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(workdir: Path, interval: float) -> Any:
    return load_settings(
        None,
        database_url=f"sqlite:///{workdir / 'bench.db'}",
        writeback=workdir / "wb.toml",
        sources="zendesk",
        sync_interval=interval,
        sync_jitter=0,
        metrics_port=0,
        log_level="WARNING",
    )


class Watcher:
    """Polls the warehouse and the help desk's received writes for the solved tickets."""

    def __init__(self, client: httpx.Client, warehouse: Warehouse) -> None:
        self.client, self.warehouse = client, warehouse
        self.changed: dict[str, float] = {}
        self.in_warehouse: dict[str, float] = {}
        self.in_field: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        tickets = table("tickets")
        while not self.stop.wait(0.1):
            waiting = [t for t in self.changed if t not in self.in_warehouse]
            if waiting:
                with self.warehouse.engine.connect() as conn:
                    rows = conn.execute(
                        select(tickets.c.id, tickets.c.status).where(tickets.c.id.in_(waiting))
                    ).all()
                for tid, status in rows:
                    if status == "solved":
                        self.in_warehouse[tid] = time.monotonic()
            if any(t not in self.in_field for t in self.changed):
                for w in self.client.get("/__sandbox/writes").json()["writes"]:
                    for t in w["body"].get("tickets", []):
                        tid = str(t["id"])
                        if (
                            tid in self.changed
                            and tid not in self.in_field
                            and any(
                                str(f["id"]) == FIELD and f["value"] is not None
                                for f in t.get("custom_fields", [])
                            )
                        ):
                            self.in_field[tid] = time.monotonic()


def _open_tickets(warehouse: Warehouse, n: int) -> list[str]:
    tickets = table("tickets")
    with warehouse.engine.connect() as conn:
        rows = conn.execute(
            select(tickets.c.id).where(tickets.c.status.in_(("open", "pending", "new")))
        ).all()
    return sorted((str(r[0]) for r in rows), key=int)[:n]


def scenario(
    name: str, workdir: Path, client: httpx.Client, interval: float, changes: int, spacing: float
) -> Run:
    settings = _settings(workdir, interval)
    daemon = Daemon(settings)
    thread = threading.Thread(target=daemon.run, kwargs={"signals": False}, daemon=True)
    thread.start()
    _wait(lambda: daemon.cycles >= 1, 600)  # the start's own poll (incremental: small)
    client.delete("/__sandbox/writes")
    client.delete("/__sandbox/stats")
    watcher = Watcher(client, daemon.warehouse)
    watching = threading.Thread(target=watcher.run, daemon=True)
    watching.start()
    polls_before = daemon.cycles
    for tid in _open_tickets(daemon.warehouse, changes):
        watcher.changed[tid] = time.monotonic()
        client.put(f"/api/v2/tickets/{tid}.json", json={"ticket": {"status": "solved"}})
        time.sleep(spacing)
    limit = 2.5 * interval
    _wait(lambda: len(watcher.in_field) == len(watcher.changed), limit)
    stats = client.get("/__sandbox/stats").json()
    requests = int(stats["total"])
    exports = sum(sum(by.values()) for path, by in stats["requests"].items()
                  if "/api/v2/incremental/" in path)  # fmt: skip
    polls = daemon.cycles - polls_before
    watcher.stop.set()
    watching.join(5)
    daemon.stop()
    thread.join(60)
    lags_wh = [watcher.in_warehouse[t] - at for t, at in watcher.changed.items()
               if t in watcher.in_warehouse]  # fmt: skip
    lags_field = [watcher.in_field[t] - at for t, at in watcher.changed.items()
                  if t in watcher.in_field]  # fmt: skip
    missed = len(watcher.changed) - len(lags_field)
    return Run(name, lags_wh, lags_field, missed, requests, exports, polls, len(watcher.changed))


def _per_hour(total: int, run: Run, poll_cost: float, poll_every: float, per_hour: float) -> float:
    """Requests an hour: polls at `poll_every` plus this run's per-change cost (`total`: the
    run's requests, or its export requests, with `poll_cost` of the same kind)."""
    per_change = max(0.0, total - run.polls * poll_cost) / max(1, run.changes)
    return 3600 / poll_every * poll_cost + per_hour * per_change


def _line(run: Run, per_hour: tuple[float, float]) -> str:
    if not run.field:
        return f"{run.name:<26} no change reached the field ({run.missed} missed)"
    missed = f", {run.missed} not within the run" if run.missed else ""
    return (
        f"{run.name:<26} warehouse median {statistics.median(run.warehouse):5.1f} s "
        f"p99 {_p99(run.warehouse):5.1f} s | field median {statistics.median(run.field):5.1f} s "
        f"p99 {_p99(run.field):5.1f} s | {per_hour[0]:6,.0f} requests/hour, "
        f"{per_hour[1]:4,.0f} of them exports{missed}"
    )


def run() -> None:
    import logging

    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    tickets = int(env_number("DESKPULSE_BENCH_WEBHOOK_TICKETS", 300))
    poll = env_number("DESKPULSE_BENCH_POLL", 60.0)
    safety = env_number("DESKPULSE_BENCH_SAFETY_NET", 120.0)
    changes = int(env_number("DESKPULSE_BENCH_WEBHOOK_CHANGES", 6))
    spacing = env_number("DESKPULSE_BENCH_SPACING", 11.0)
    per_hour = env_number("DESKPULSE_BENCH_CHANGES_PER_HOUR", 60.0)
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_subprocess(seed=8, tickets=tickets, oauth=True) as sandbox,
    ):
        workdir = Path(tmp)
        (workdir / "wb.toml").write_text(WRITEBACK)
        saved = dict(os.environ)
        os.environ.update(sandbox.env)
        try:
            client = httpx.Client(
                base_url=sandbox.env["ZENDESK_BASE_URL"], timeout=30,
                headers={"Authorization": f"Bearer {sandbox.env['ZENDESK_OAUTH_TOKEN']}"},
            )  # fmt: skip
            started = time.monotonic()
            polling = scenario("polling only", workdir, client, poll, changes, spacing)
            print(f"(first sync and polling run: {time.monotonic() - started:.0f} s)", flush=True)
            port = _free_port()
            url = f"http://127.0.0.1:{port}/webhooks/zendesk"
            result, variable = setup_webhooks(_settings(workdir, safety), "zendesk", url)
            os.environ[variable] = result.secret
            os.environ["ZENDESK_WEBHOOK_LISTEN"] = f"127.0.0.1:{port}"
            os.environ["ZENDESK_WEBHOOK_POLL"] = str(safety)
            hooked = scenario("webhooks", workdir, client, safety, changes, spacing / 3)
            client.post("/__sandbox/webhooks/faults", json={"drop": 0.2, "seed": 3})
            dropped = scenario(
                "webhooks, 20% dropped", workdir, client, safety, changes, spacing / 3
            )
        finally:
            os.environ.clear()
            os.environ.update(saved)
    polls = max(1, polling.polls)
    cost, export_cost = polling.requests / polls, polling.exports / polls

    def hourly(r: Run, every: float) -> tuple[float, float]:
        return (
            _per_hour(r.requests, r, cost, every, per_hour),
            _per_hour(r.exports, r, export_cost, every, per_hour),
        )

    print(
        f"Zendesk sandbox, real budgets, {tickets} tickets, {changes} tickets solved per run "
        f"(busy machine: figures as measured)"
    )
    rates = {polling.name: hourly(polling, poll)}
    rates.update({r.name: hourly(r, PRODUCTION_SAFETY_NET) for r in (hooked, dropped)})
    for r in (polling, hooked, dropped):
        print(_line(r, rates[r.name]))
    print(
        f"requests/hour: a poll costs about {cost:.0f} requests, {export_cost:.0f} of them on the "
        f"exports (this run); polling every "
        f"{poll:.0f} s against webhooks with the {PRODUCTION_SAFETY_NET:.0f} s safety net, "
        f"{per_hour:.0f} changes an hour. Dropped deliveries wait for the safety net "
        f"({safety:.0f} s in this run)."
    )
    ok = (
        hooked.field
        and statistics.median(hooked.field) < 5
        and _p99(hooked.field) < 15
        and not hooked.missed
        and rates[hooked.name][0] < rates[polling.name][0]
    )
    print(
        f"{'PASS' if ok else 'FAIL'} webhooks: median under 5 s, p99 under 15 s, fewer requests "
        "an hour than polling every minute"
    )
