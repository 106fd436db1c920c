"""What the sandbox sync tests of every vendor share: a warehouse per test, its dump, and a
sync killed after some committed pages (SIGKILL's stand-in) then run again to its end."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from deskpulse.connectors.base import Connector, Cursor, Page, RequestStats, Stream
from deskpulse.kpi_core.business_hours import schedules_from_dict
from deskpulse.kpi_core.engine import compute
from deskpulse.kpi_core.models import WAREHOUSE_MODELS
from deskpulse.kpi_core.registry import KpiQuery
from deskpulse.sandbox.limits import Faults
from deskpulse.sync import engine
from deskpulse.sync.warehouse import Warehouse, table


def new_warehouse(tmp_path: Any, name: str) -> Warehouse:
    return Warehouse(f"sqlite:///{tmp_path / name}.db")


def dump(warehouse: Any) -> dict[str, list[dict[str, Any]]]:
    """Every warehouse table's rows, ordered by key: what the KPIs will see."""
    out: dict[str, list[dict[str, Any]]] = {}
    with warehouse.connect() as connection:
        for name in WAREHOUSE_MODELS:
            t = table(name)
            rows = connection.execute(select(t).order_by(t.c.source, t.c.id))
            out[name] = [dict(row._mapping) for row in rows]
    return out


def ids(rows: list[dict[str, Any]]) -> set[str]:
    return {row["id"] for row in rows}


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in the engine catches it."""


class KillAfter:
    """Wraps a connector; the run dies after `pages` pages were committed (of the stream `only`
    when given, of any stream otherwise)."""

    def __init__(self, inner: Any, pages: int, only: str | None = None) -> None:
        self.inner = inner
        self.vendor = inner.vendor
        self.source = inner.source
        self.capabilities = inner.capabilities
        self.stats: RequestStats = inner.stats
        self.left = pages
        self.only = only

    def streams(self) -> list[Stream]:
        return [
            _KillStream(self, s) if self.only in (None, s.name) else s for s in self.inner.streams()
        ]

    def close(self) -> None:
        self.inner.close()


class _KillStream:
    def __init__(self, owner: KillAfter, inner: Stream) -> None:
        self.owner = owner
        self.inner = inner
        self.name = inner.name
        self.after = getattr(inner, "after", ())

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        pages = self.inner.pages(cursor)
        try:
            for page in pages:
                yield page  # the engine commits it before asking for the next one
                self.owner.left -= 1
                if self.owner.left <= 0:
                    raise Killed
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    def normalise(self, record: Any) -> Any:
        return self.inner.normalise(record)


def killed_then_resumed(
    warehouse: Warehouse, make_connector: Callable[[], Connector | Any], pages: int
) -> dict[str, list[dict[str, Any]]]:
    """Sync into `warehouse` until `pages` pages are committed and kill it, then sync again to
    the end (that run must succeed). Returns the dump the killed run left."""
    with pytest.raises(Killed):
        engine.run_sync(warehouse, KillAfter(make_connector(), pages))
    partial = dump(warehouse)
    report = engine.run_sync(warehouse, make_connector())
    assert report.status == "ok", report.message
    return partial


SCHEDULES = schedules_from_dict(
    {"schedules": {"eu": {"time_zone": "Europe/Berlin", "hours": {"mon-fri": ["09:00-17:00"]}}}}
)
"""The business hours the cross-vendor KPI comparisons measure in."""


def kpi_values(
    warehouse: Any, source: str, metrics: Sequence[str], **query: Any
) -> dict[tuple[Any, ...], Any]:
    """The sandbox year's KPIs of one source: (metric, period, group) -> (value, n, median)."""
    q = KpiQuery(
        start=datetime(2025, 11, 1, tzinfo=UTC),
        end=datetime(2026, 11, 1, tzinfo=UTC),
        schedules=SCHEDULES,
        sources=(source,),
        **query,
    )
    with warehouse.connect() as conn:
        values = compute(conn, list(metrics), q)
    return {
        (v.metric, v.start, tuple(sorted((v.group or {}).items()))): (v.value, v.n, v.median)
        for v in values
    }


FAULTS = Faults(
    error_rate=0.15,
    timeout_rate=0.02,
    timeout_seconds=2.5,
    truncate_rate=0.05,
    malformed_rate=0.05,
    seed=5,
)
"""The faults a vendor's sync must come through unchanged (errors, stalls, truncated and
malformed bodies); give its connector a timeout well above a loaded machine's answer time and
below the injected stall (2 s), and retries to spare."""


def synced_through_faults(warehouse: Warehouse, connector: Any) -> dict[str, list[dict[str, Any]]]:
    """Sync through FAULTS (the sandbox started with them): it succeeds, having retried; the
    warehouse's dump."""
    report = engine.run_sync(warehouse, connector)
    assert report.status == "ok", report.message
    assert connector.stats.retries > 0
    return dump(warehouse)
