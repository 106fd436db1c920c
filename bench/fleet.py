"""`python -m bench fleet`: the fleet's scaling table, 1, 2 and 4 daemons (`deskpulse daemon
--fleet` processes) sharing many sandbox accounts (one port, sandbox.accounts) through one
PostgreSQL schema, under the vendors' real rate budgets, time-scaled.

Per daemon count: the share of lag samples within the accounts' interval, the lag p50/p99 (every
account sampled every half second after the first round), CPU (share of one core) and peak RSS
per daemon, and, for 2 and 4 daemons, the takeover time: one daemon killed with SIGKILL while it
holds accounts, until every one of them is held or synced again by another.

Knobs (environment): DESKPULSE_BENCH_FLEET_ACCOUNTS (12; 100 for the full run),
_TICKETS (100 per account), _SCALE (the sandbox's time scale, 30: a vendor minute in 2 s),
_INTERVAL (vendor seconds between syncs of an account, 300), _SECONDS (wall seconds measured
per daemon count, 30), _CONCURRENCY (accounts a daemon syncs at once, 4), _LEASE (10 s),
_DAEMONS ("1,2,4"). PostgreSQL from DESKPULSE_BENCH_POSTGRES_URL or DESKPULSE_TEST_POSTGRES_URL
(its own schema, dropped after); without one the bench says so and is skipped.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import env_number
from bench.fleet_harness import Lab, all_synced, pg_schema
from deskpulse.sandbox.accounts import AccountsServer

TICK = 0.5


def _proc(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MB) of a live process, from /proc (0, 0 when gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        rss = next(
            int(line.split()[1]) / 1024
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
    except (OSError, StopIteration, IndexError):
        return 0.0, 0.0
    return cpu, rss


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _takeover(lab: Lab, victim: str, timeout: float) -> float:
    """Kill `victim` while it holds accounts; seconds until all are someone else's."""
    pid = lab.procs[victim].pid
    deadline = time.monotonic() + timeout
    mine: list[str] = []
    while time.monotonic() < deadline and not mine:
        mine = [a["account"] for a in lab.view()["accounts"]
                if a["holder"] and a["holder"].split(":")[1] == str(pid)]  # fmt: skip
        time.sleep(0.1)
    if not mine:
        return float("nan")
    cycles = {a["account"]: a["cycles"] for a in lab.view()["accounts"]}
    lab.kill9(victim)
    killed = time.monotonic()
    while time.monotonic() < deadline:
        rows = {a["account"]: a for a in lab.view()["accounts"]}
        if all(_taken(rows[a], str(pid), cycles[a]) for a in mine):
            return time.monotonic() - killed
        time.sleep(0.1)
    return float("nan")


def _taken(row: dict[str, Any], pid: str, cycles: int) -> bool:
    """Held by another daemon now, or synced again since the kill."""
    holder = row["holder"]
    return (holder is not None and holder.split(":")[1] != pid) or int(row["cycles"]) > cycles


def measure(url: str, daemons: int, knobs: dict[str, float]) -> dict[str, Any]:
    n, scale = int(knobs["accounts"]), knobs["scale"]
    interval = knobs["interval"] / scale
    with (
        tempfile.TemporaryDirectory() as folder,
        pg_schema(url) as db,
        AccountsServer(n, tickets=int(knobs["tickets"]), dialects=["zendesk"],
                       time_scale=scale) as sb,
    ):  # fmt: skip
        lab = Lab(sb, db, Path(folder), vendor="zendesk", interval=interval, lease=knobs["lease"])
        try:
            names = [f"d{k}" for k in range(daemons)]
            for name in names:
                lab.start(name, concurrency=int(knobs["concurrency"]))
            # Until every account was synced once (start-up, first full sync), then measure.
            lab.wait(all_synced, 600, "the first round")
            before = {name: _proc(lab.procs[name].pid) for name in names}
            lags: list[float] = []
            rss = dict.fromkeys(names, 0.0)
            started = time.monotonic()
            while time.monotonic() - started < knobs["seconds"]:
                lags += [a["lag"] for a in lab.view()["accounts"] if a["lag"] is not None]
                for name in names:
                    rss[name] = max(rss[name], _proc(lab.procs[name].pid)[1])
                time.sleep(TICK)
            wall = time.monotonic() - started
            cpu = [(_proc(lab.procs[m].pid)[0] - before[m][0]) / wall for m in names]
            takeover = _takeover(lab, names[-1], 120) if daemons > 1 else float("nan")
        finally:
            lab.close()
    return {
        "daemons": daemons, "interval": interval,
        "within": sum(1 for x in lags if x <= interval) / max(1, len(lags)),
        "p50": _pct(lags, 0.5), "p99": _pct(lags, 0.99),
        "cpu": statistics.mean(cpu), "rss": statistics.mean(rss.values()), "takeover": takeover,
    }  # fmt: skip


def run() -> None:
    url = os.environ.get("DESKPULSE_BENCH_POSTGRES_URL") or os.environ.get(
        "DESKPULSE_TEST_POSTGRES_URL"
    )
    if not url:
        print("fleet: skipped (set DESKPULSE_TEST_POSTGRES_URL to a PostgreSQL database)")
        return
    knobs = {
        key: env_number(f"DESKPULSE_BENCH_FLEET_{key.upper()}", default)
        for key, default in (("accounts", 12), ("tickets", 100), ("scale", 30), ("interval", 300),
                             ("seconds", 30), ("concurrency", 4), ("lease", 10))
    }  # fmt: skip
    counts = [int(x) for x in os.environ.get("DESKPULSE_BENCH_FLEET_DAEMONS", "1,2,4").split(",")]
    print(
        f"{int(knobs['accounts'])} accounts x {int(knobs['tickets'])} tickets, real budgets at "
        f"time scale {knobs['scale']:g}, interval {knobs['interval']:g} vendor s "
        f"({knobs['interval'] / knobs['scale']:.1f} s wall), {knobs['concurrency']:g} accounts "
        f"at once per daemon, lease {knobs['lease']:g} s, {knobs['seconds']:g} s measured each",
        flush=True,
    )
    print(f"{'daemons':>7} {'within':>7} {'lag p50':>8} {'lag p99':>8} {'CPU/daemon':>10} "
          f"{'RSS/daemon':>10} {'takeover':>9}")  # fmt: skip
    for daemons in counts:
        r = measure(url, daemons, knobs)
        takeover = "-" if r["takeover"] != r["takeover"] else f"{r['takeover']:.1f} s"
        print(
            f"{daemons:>7} {r['within']:>7.0%} {r['p50']:>6.1f} s {r['p99']:>6.1f} s "
            f"{r['cpu']:>10.0%} {r['rss']:>7.0f} MB {takeover:>9}",
            flush=True,
        )
    print("(lags in wall seconds; figures on this machine, shared and busy: see README)")
