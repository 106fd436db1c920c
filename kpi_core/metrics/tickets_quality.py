"""Ticket quality metrics over solved tickets: first contact, one touch, reopens.

Each counts tickets now solved or closed whose final solve falls in the period (the anchor), from
per-ticket facts: only public messages by agents and customers count (bot/system messages and
internal notes never do).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import Connection

from deskpulse.kpi_core.facts import SOLVED, TICKET_FACTS, TicketFacts
from deskpulse.kpi_core.metrics.tickets_common import facts, key_function
from deskpulse.kpi_core.registry import KpiQuery, KpiValue, Metric, metric
from deskpulse.kpi_core.toolkit import CellKey, emit, group_names, ratio_cell, window


def solved_share(
    conn: Connection, query: KpiQuery, m: Metric, test: Callable[[TicketFacts], bool]
) -> list[KpiValue]:
    """Share of tickets solved in each period (final solve) for which `test` holds."""
    p = window(query)
    names = group_names(query)
    key = key_function(names)
    hits: dict[CellKey, int] = defaultdict(int)
    total: dict[CellKey, int] = defaultdict(int)
    rows = facts(conn, query)
    if len(p) == 1 and not names:
        # A whole window without groups: comprehensions, no per-ticket keys.
        lo, hi = p.start_ms, p.end_ms
        solved = [
            f
            for f in rows
            if f.status in SOLVED and f.last_solve_ms is not None and lo <= f.last_solve_ms < hi
        ]
        if solved:
            total[(0, ())] = len(solved)
            hits[(0, ())] = sum(map(test, solved))
        rows = []
    for f in rows:
        if not f.solved:
            continue
        b = p.index_ms(f.last_solve_ms)
        if b is None:
            continue
        ck = (b, key(f))
        total[ck] += 1
        if test(f):
            hits[ck] += 1
    cells = {k: ratio_cell(hits[k], n, {"tickets": hits[k]}) for k, n in total.items()}
    return emit(m, query, cells)


@metric(
    "first_contact_resolution",
    shares=TICKET_FACTS,
    title="First contact resolution",
    description=(
        "Solved tickets in which the customer wrote at most once (no public customer message "
        "after their first; however many agent messages) / solved tickets. A ticket an agent "
        "opened and solved without any customer message counts as resolved on first contact."
    ),
    unit="ratio",
    direction="higher",
    anchor="the last solve",
)
def first_contact_resolution(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    return solved_share(conn, query, m, lambda f: f.customer_messages <= 1)


@metric(
    "one_touch_resolution",
    shares=TICKET_FACTS,
    title="One-touch resolution",
    description="Solved tickets with exactly one public agent message / solved tickets.",
    unit="ratio",
    direction="higher",
    anchor="the last solve",
)
def one_touch_resolution(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    return solved_share(conn, query, m, lambda f: f.agent_messages == 1)


@metric(
    "reopen_rate",
    shares=TICKET_FACTS,
    title="Reopen rate",
    description=(
        "Solved tickets that were reopened at least once (a status change from solved/closed "
        "back to new, open, pending or hold) / solved tickets."
    ),
    unit="ratio",
    direction="lower",
    anchor="the last solve",
)
def reopen_rate(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    return solved_share(conn, query, m, lambda f: f.reopens > 0)
