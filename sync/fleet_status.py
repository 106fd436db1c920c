"""What the fleet looks like (sync.fleet): for `deskpulse status`, /healthz and /metrics.

Read from the warehouse, so every daemon shows the whole fleet, not only itself: which daemon
holds which account and since when, each account's lag (seconds since its last successful sync)
and how long it has been due, and per daemon its holdings, oldest lease and worst lag.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, func, select

from deskpulse.sync.state import FleetLease, FleetMember
from deskpulse.sync.warehouse import Warehouse, table


def fleet_view(conn: Connection, lease: float = 60.0) -> dict[str, Any]:
    """The fleet as `deskpulse status`, /healthz and /metrics show it: each account's holder,
    lease age, lag (since its last success) and overdue seconds; each daemon's holdings."""
    t, m = table(FleetLease.__tablename__), table(FleetMember.__tablename__)
    now = conn.execute(select(func.now())).scalar_one()
    members = conn.execute(select(m).order_by(m.c.daemon)).all()
    rows = conn.execute(select(t).order_by(t.c.account)).all()
    out_accounts = []
    for r in rows:
        held = r.holder is not None and r.lease_until is not None and r.lease_until >= now
        overdue = max(0.0, (now - r.due_at).total_seconds())
        out_accounts.append({
            "account": r.account, "sources": r.sources or [], "holder": r.holder if held else None,
            "lease_age": (now - r.acquired_at).total_seconds() if held and r.acquired_at else None,
            "lag": (now - r.last_success).total_seconds() if r.last_success else None,
            "overdue": overdue, "behind": not held and overdue > r.interval_seconds,
            "interval": r.interval_seconds, "failures": r.failures, "error": r.last_error,
            "last_holder": r.last_holder, "cycles": r.cycles,
        })  # fmt: skip
    daemons = []
    for mem in members:
        oldest = max(
            (a["lease_age"] or 0.0 for a in out_accounts if a["holder"] == mem.daemon), default=0.0
        )
        lags = [a["lag"] for a in out_accounts if a["last_holder"] == mem.daemon and a["lag"]]
        daemons.append({
            "daemon": mem.daemon, "host": mem.host, "pid": mem.pid,
            "alive": (now - mem.heartbeat_at).total_seconds() < lease,
            "beat_age": (now - mem.heartbeat_at).total_seconds(),
            "concurrency": mem.concurrency,
            "holding": [a["account"] for a in out_accounts if a["holder"] == mem.daemon],
            "oldest_lease": oldest, "max_lag": max(lags, default=None),
        })  # fmt: skip
    return {"now": now, "accounts": out_accounts, "daemons": daemons}


def has_fleet(conn: Connection) -> bool:
    t = table(FleetLease.__tablename__)
    return conn.execute(select(t.c.account).limit(1)).first() is not None


class FleetCollector(Collector):
    """The fleet's gauges, read from the warehouse at each scrape (at most once a second)."""

    def __init__(self, warehouse: Warehouse, lease: float) -> None:
        self.warehouse, self.lease = warehouse, lease
        self._cached: tuple[float, dict[str, Any]] | None = None

    def _view(self) -> dict[str, Any] | None:
        if self._cached is not None and time.monotonic() - self._cached[0] < 1.0:
            return self._cached[1]
        try:
            with self.warehouse.connect() as conn:
                view = fleet_view(conn, self.lease)
        except Exception:  # the scrape shows the daemon's own metrics; /healthz says why
            return None
        self._cached = (time.monotonic(), view)
        return view

    def collect(self) -> Iterator[Metric]:
        view = self._view()
        if view is None:
            return
        age = GaugeMetricFamily(
            "deskpulse_fleet_lease_age_seconds", "Seconds the holder has held the account's lease",
            labels=["account", "holder"],
        )  # fmt: skip
        lag = GaugeMetricFamily(
            "deskpulse_fleet_lag_seconds",
            "Seconds since the account's last successful sync by any daemon (-1: never)",
            labels=["account"],
        )
        overdue = GaugeMetricFamily(
            "deskpulse_fleet_overdue_seconds",
            "Seconds the account has been due",
            labels=["account"],
        )
        for a in view["accounts"]:
            if a["holder"] is not None:
                age.add_metric([a["account"], a["holder"]], a["lease_age"] or 0.0)
            lag.add_metric([a["account"]], -1.0 if a["lag"] is None else a["lag"])
            overdue.add_metric([a["account"]], a["overdue"])
        held = GaugeMetricFamily(
            "deskpulse_fleet_daemon_accounts", "Accounts the daemon holds now", labels=["daemon"]
        )
        worst = GaugeMetricFamily(
            "deskpulse_fleet_daemon_max_lag_seconds",
            "Largest lag of the accounts the daemon synced last", labels=["daemon"],
        )  # fmt: skip
        alive = GaugeMetricFamily("deskpulse_fleet_daemons", "Daemons beating in the fleet")
        for d in view["daemons"]:
            held.add_metric([d["daemon"]], len(d["holding"]))
            worst.add_metric([d["daemon"]], d["max_lag"] or 0.0)
        alive.add_metric([], sum(1 for d in view["daemons"] if d["alive"]))
        yield from (age, lag, overdue, held, worst, alive)


__all__ = ["FleetCollector", "fleet_view", "has_fleet"]
