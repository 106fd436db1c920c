"""Helpers shared by the ticket metric modules (tickets_speed, tickets_volume, tickets_quality)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, case, func, or_
from sqlalchemy.sql.elements import ColumnElement

from deskpulse.kpi_core.facts import SOLVED, TicketFacts, load_facts
from deskpulse.kpi_core.periods import Periods
from deskpulse.kpi_core.registry import KpiQuery, KpiValue, Metric
from deskpulse.kpi_core.tables import TICKETS
from deskpulse.kpi_core.toolkit import (
    TICKET_DIMENSIONS,
    CellKey,
    Clock,
    clock,
    dimension_columns,
    duration_cell,
    emit,
    group_names,
    window,
)

DAY_MS = 86_400_000
# Tickets created this long before the window are loaded even without activity in it, for the
# metrics whose items fall due later (ticket_service_level, sla_attainment): one shared load
# covers thresholds up to a week. Business-time deadlines can be pushed out by weekends and
# holidays, hence the longer margin.
CALENDAR_LOOKBACK_MS = 8 * DAY_MS
BUSINESS_LOOKBACK_MS = 22 * DAY_MS

TICKET_COLUMNS = dimension_columns(TICKETS, TICKET_DIMENSIONS)

Measure = Callable[[TicketFacts, Clock], "tuple[float, float] | None"]
"""For one ticket: the (anchor_ms, seconds) item to measure, or None."""
Pick = Callable[[TicketFacts, Clock], Iterable[tuple[float, float]]]
"""For one ticket: every (anchor_ms, seconds) item to measure."""


def now_ms() -> int:
    """Current time in epoch ms (a function so tests can pin it)."""
    return int(time.time() * 1000)


def lookback_ms(query: KpiQuery, needed_ms: float = 0) -> int:
    """The shared lookback, or a longer one (a separate load) for thresholds beyond a week."""
    base = BUSINESS_LOOKBACK_MS if query.business_hours else CALENDAR_LOOKBACK_MS
    if needed_ms <= base - DAY_MS:
        return base
    return int(needed_ms) + base


def facts(conn: Connection, query: KpiQuery, needed_ms: float = 0) -> list[TicketFacts]:
    return load_facts(conn, query, lookback_ms(query, needed_ms))


def key_of(f: TicketFacts, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(f.assignee_id if n == "agent" else getattr(f, n) for n in names)


def key_function(names: tuple[str, ...]) -> Callable[[TicketFacts], tuple[Any, ...]]:
    """A fast `key_of(f, names)` for one metric run (called once per ticket)."""
    attrs = ["assignee_id" if n == "agent" else n for n in names]
    if not attrs:
        return lambda f: ()
    if len(attrs) == 1:
        attr = attrs[0]
        return lambda f: (getattr(f, attr),)
    getter = attrgetter(*attrs)
    return lambda f: getter(f)


def solve_time_sql() -> ColumnElement[Any]:
    """A ticket's final solve: solved_at (else closed_at) when it is solved/closed now."""
    t = TICKETS
    return case(
        (t.c.status.in_(tuple(SOLVED)), func.coalesce(t.c.solved_at, t.c.closed_at)), else_=None
    )


def not_deleted() -> ColumnElement[bool]:
    t = TICKETS
    return or_(t.c.status.is_(None), t.c.status != "deleted")


@dataclass(frozen=True)
class Calendar:
    """A calendar-time measure as plain attribute arithmetic, for the flat fast path.

    The item is (`anchor`, `anchor - start`) or (`anchor`, `amount`), in ms, for tickets whose
    anchor is set; `solved` keeps only tickets solved or closed now, `spans` only those with
    status events.
    """

    anchor: str
    start: str | None = None
    amount: str | None = None
    solved: bool = False
    spans: bool = False


def duration_metric(
    conn: Connection,
    query: KpiQuery,
    m: Metric,
    measure: Measure,
    *,
    needed_ms: float = 0,
    keep: Callable[[TicketFacts], bool] | None = None,
    calendar: Calendar | None = None,
) -> list[KpiValue]:
    """Bucket each ticket's `measure` item by anchor and group; duration stats in minutes.

    `calendar`, when given, must describe the same item as `measure` in calendar time: a whole
    window without groups then takes a comprehension instead of a call per ticket.
    """
    p = window(query)
    names = group_names(query)
    clk = clock(query)
    rows = facts(conn, query, needed_ms)
    if keep is not None:
        rows = [f for f in rows if keep(f)]
    lists: dict[CellKey, list[float]] = defaultdict(list)
    if len(p) == 1 and not names:
        lo, hi = p.start_ms, p.end_ms
        if calendar is not None and not clk.business:
            if calendar.solved:
                rows = [f for f in rows if f.status in SOLVED]
            if calendar.spans:
                rows = [f for f in rows if f.status_spans is not None]
            if calendar.amount is not None:
                pairs = map(attrgetter(calendar.anchor, calendar.amount), rows)
                values = [v / 1000 for a, v in pairs if a is not None and lo <= a < hi]
            else:
                pairs = map(attrgetter(calendar.anchor, calendar.start or "created_ms"), rows)
                values = [(a - s) / 1000 for a, s in pairs if a is not None and lo <= a < hi]
        else:
            items = [it for it in map(measure, rows, repeat(clk)) if it is not None]
            values = [seconds for at, seconds in items if lo <= at < hi]
        if values:
            lists[(0, ())] = values
    else:
        index = p.index_ms
        key = key_function(names)
        for f in rows:
            item = measure(f, clk)
            if item is not None:
                b = index(item[0])
                if b is not None:
                    lists[(b, key(f))].append(item[1])
    cells = {k: duration_cell(v, unit=m.unit) for k, v in lists.items()}
    return emit(m, query, cells)


def duration_metric_many(
    conn: Connection, query: KpiQuery, m: Metric, pick: Pick, *, gaps: str | None = None
) -> list[KpiValue]:
    """`duration_metric` for metrics with several items per ticket (response_time).

    `gaps`, when given, names a facts attribute holding (start_ms, anchor_ms) pairs that `pick`
    measures: in calendar time over a whole window without groups, a comprehension does it.
    """
    p = window(query)
    names = group_names(query)
    index = p.index_ms
    key = key_function(names)
    clk = clock(query)
    lists: dict[CellKey, list[float]] = defaultdict(list)
    rows = facts(conn, query)
    if gaps is not None and len(p) == 1 and not names and not clk.business:
        lo, hi = p.start_ms, p.end_ms
        get = attrgetter(gaps)
        values = [(b - a) / 1000 for f in rows for a, b in get(f) if lo <= b < hi]
        if values:
            lists[(0, ())] = values
        rows = []
    for f in rows:
        for anchor, seconds in pick(f, clk):
            b = index(anchor)
            if b is not None:
                lists[(b, key(f))].append(seconds)
    cells = {k: duration_cell(v, unit=m.unit) for k, v in lists.items()}
    return emit(m, query, cells)


def due_bucket(clk: Clock, f: TicketFacts, p: Periods, start_ms: int, limit_s: float) -> int | None:
    """Bucket holding the instant at which `limit_s` clock-seconds from `start_ms` have passed.

    Calendar time is arithmetic. Business time bisects the bucket edges with `clk.seconds`
    (monotone in its end), so it costs O(log buckets) schedule evaluations, not a search to the
    second. A deadline exactly on a bucket edge in business time lands in the earlier bucket.
    """
    if not clk.business:
        return p.index_ms(start_ms + limit_s * 1000)
    edges = p.edges_ms
    if clk.seconds(f, start_ms, edges[0]) >= limit_s:
        return None  # due before the window
    if clk.seconds(f, start_ms, edges[-1]) < limit_s:
        return None  # due after the window
    lo, hi = 0, len(edges) - 1  # seconds(edges[lo]) < limit <= seconds(edges[hi])
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if clk.seconds(f, start_ms, edges[mid]) >= limit_s:
            hi = mid
        else:
            lo = mid
    return lo


__all__ = [
    "DAY_MS",
    "TICKET_COLUMNS",
    "Calendar",
    "Pick",
    "due_bucket",
    "duration_metric",
    "duration_metric_many",
    "facts",
    "key_function",
    "key_of",
    "lookback_ms",
    "not_deleted",
    "now_ms",
    "solve_time_sql",
]
