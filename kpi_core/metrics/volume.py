"""Contact volume and workload across channels: request volume, channel share, repeat contacts,
agent utilization.

A contact is a ticket, a chat, an inbound call (direction inbound or unknown: an outbound call is
not a request) or a social mention, anchored at its own creation time. A chat, call or mention
whose `ticket_id` names a ticket in the warehouse is that ticket, counted once, in the ticket's
channel (a ticket that is `deleted` takes its chats, calls and mentions with it). Channels:
tickets their own `channel` (`other` when empty), calls `phone`, chats `chat`, mentions their
network.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql import Subquery

from deskpulse.kpi_core.people import with_person
from deskpulse.kpi_core.periods import edge_index
from deskpulse.kpi_core.registry import KpiQuery, KpiValue, Metric, metric
from deskpulse.kpi_core.tables import AGENT_SESSIONS as SESSIONS
from deskpulse.kpi_core.tables import CALLS, CHATS, TICKETS
from deskpulse.kpi_core.tables import SOCIAL_MENTIONS as MENTIONS
from deskpulse.kpi_core.toolkit import (
    Cell,
    CellKey,
    bucket_sql,
    count_cell,
    count_where,
    emit,
    epoch_ms,
    group_names,
    group_sql,
    in_window,
    source_filter,
    window,
)


def _no_ticket(table: Any) -> Any:
    """The row has no ticket_id, or one that names no ticket in the warehouse."""
    return or_(
        table.c.ticket_id.is_(None),
        ~exists().where(TICKETS.c.source == table.c.source, TICKETS.c.id == table.c.ticket_id),
    )


def contacts(query: KpiQuery, *, with_mentions: bool = True) -> Subquery:
    """Every contact created in the window, counted once: source, channel, customer_id, at."""
    tickets = select(
        TICKETS.c.source,
        func.coalesce(TICKETS.c.channel, "other").label("channel"),
        TICKETS.c.requester_id.label("customer_id"),
        TICKETS.c.created_at.label("at"),
    ).where(
        in_window(TICKETS.c.created_at, query),
        source_filter(TICKETS.c.source, query),
        or_(TICKETS.c.status.is_(None), TICKETS.c.status != "deleted"),
    )
    chats = select(
        CHATS.c.source,
        literal("chat").label("channel"),
        CHATS.c.customer_id,
        CHATS.c.requested_at.label("at"),
    ).where(
        in_window(CHATS.c.requested_at, query),
        source_filter(CHATS.c.source, query),
        _no_ticket(CHATS),
    )
    calls = select(
        CALLS.c.source,
        literal("phone").label("channel"),
        CALLS.c.customer_id,
        CALLS.c.queued_at.label("at"),
    ).where(
        in_window(CALLS.c.queued_at, query),
        source_filter(CALLS.c.source, query),
        or_(CALLS.c.direction.is_(None), CALLS.c.direction == "inbound"),
        _no_ticket(CALLS),
    )
    parts = [tickets, chats, calls]
    if with_mentions:
        parts.append(
            select(
                MENTIONS.c.source,
                func.coalesce(func.lower(MENTIONS.c.network), "other").label("channel"),
                cast(null(), String).label("customer_id"),
                MENTIONS.c.created_at.label("at"),
            ).where(
                in_window(MENTIONS.c.created_at, query),
                source_filter(MENTIONS.c.source, query),
                _no_ticket(MENTIONS),
            )
        )
    return union_all(*parts).subquery("contacts")


def _counts(conn: Connection, query: KpiQuery, natural: Sequence[str]) -> dict[CellKey, int]:
    c = contacts(query)
    names = group_names(query, natural)
    groups = group_sql(query, {"channel": c.c.channel, "source": c.c.source}, natural)
    bucket = bucket_sql(c.c.at, query).label("bucket")
    stmt = select(bucket, *groups, func.count().label("n")).select_from(c).group_by(bucket, *groups)
    return {
        (int(r.bucket), tuple(getattr(r, f"g_{n}") for n in names)): int(r.n)
        for r in conn.execute(stmt)
    }


def contact_counts(
    conn: Connection, query: KpiQuery, *, by_channel: bool = True
) -> dict[int, dict[str, int]]:
    """{bucket: {channel: contacts}} ({bucket: {"all": n}} without by_channel), ignoring query.by."""
    plain = KpiQuery(
        start=query.start, end=query.end, every=query.every, tz=query.tz, sources=query.sources
    )
    out: dict[int, dict[str, int]] = defaultdict(dict)
    for (i, group), n in _counts(conn, plain, ("channel",) if by_channel else ()).items():
        out[i][str(group[0]) if by_channel else "all"] = n
    return dict(out)


@metric(
    "request_volume",
    title="Request volume",
    description=(
        "Contacts created in the window: tickets + chats + inbound calls + social mentions, "
        "each counted once (a chat, call or mention with a ticket_id is counted as its ticket). "
        "Calls count as channel phone, chats as chat, mentions as their network; `--by channel` "
        "gives volume per channel."
    ),
    unit="count",
    direction="neutral",
    anchor="each contact's creation (tickets created_at, chats requested_at, calls queued_at, "
    "mentions created_at)",
    dimensions=("channel", "source"),
)
def request_volume(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    cells = {key: count_cell(n) for key, n in _counts(conn, query, ()).items()}
    return emit(m, query, cells)


@metric(
    "channel_share",
    title="Channel share",
    description=(
        "Each channel's share of request_volume (channel preference): contacts in the channel / "
        "all contacts of the period (of the same source with `--by source`). One row per channel."
    ),
    unit="ratio",
    direction="neutral",
    anchor="each contact's creation, as request_volume",
    dimensions=("channel", "source"),
)
def channel_share(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    natural = ("channel",)
    counts = _counts(conn, query, natural)
    names = group_names(query, natural)
    rest = [i for i, n in enumerate(names) if n != "channel"]
    totals: dict[tuple[Any, ...], int] = defaultdict(int)
    for (i, group), n in counts.items():
        totals[(i, *(group[j] for j in rest))] += n
    cells: dict[CellKey, Cell] = {}
    for (i, group), n in counts.items():
        total = totals[(i, *(group[j] for j in rest))]
        cells[(i, group)] = Cell(n / total, total, details={"contacts": n, "total": total})
    return emit(m, query, cells, natural=natural)


@metric(
    "repeat_contacts",
    title="Repeat contacts",
    description=(
        "Customers with more than one contact (ticket as requester, chat, inbound call; counted "
        "once as in request_volume) in the window / customers who contacted us in it. A "
        "customer is a person: one e-mail across sources (kpi_core.people). Contacts without a "
        "customer are left out; social mentions carry no customer and do not count."
    ),
    unit="ratio",
    direction="lower",
    anchor="each contact's creation, as request_volume",
    dimensions=("source",),
)
def repeat_contacts(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    c = contacts(query, with_mentions=False)
    bucket = bucket_sql(c.c.at, query)
    names = group_names(query)
    joined, person = with_person(c, c.c.source, c.c.customer_id)
    person_groups = group_sql(query, {"source": c.c.source})
    per_customer = (  # one row per person (one person across sources, see kpi_core.people)
        select(bucket.label("bucket"), *person_groups, func.count().label("n"))
        .select_from(joined)
        .where(c.c.customer_id.is_not(None))
        .group_by(bucket, *person_groups, person)
        .subquery("per_customer")
    )
    groups = [per_customer.c[f"g_{n}"].label(f"g_{n}") for n in names]
    stmt = select(
        per_customer.c.bucket,
        *groups,
        func.count().label("customers"),
        count_where(per_customer.c.n > 1).label("repeat"),
    ).group_by(per_customer.c.bucket, *groups)
    cells: dict[CellKey, Cell] = {}
    for r in conn.execute(stmt):
        customers, repeat = int(r.customers), int(r.repeat)
        cells[(int(r.bucket), tuple(getattr(r, f"g_{n}") for n in names))] = Cell(
            repeat / customers, customers, details={"repeat": repeat, "customers": customers}
        )
    return emit(m, query, cells)


@metric(
    "agent_utilization",
    title="Agent utilization",
    description=(
        "Busy time / logged-in time from agent_sessions (logged in = any session, busy = state "
        "busy), sessions clipped to each period. Without any session in the window: each "
        "agent's share of handled tickets (tickets solved in the period, by assignee), one row "
        "per agent; details.basis says which."
    ),
    unit="ratio",
    direction="higher",
    anchor="session overlap with the period (tickets: solved_at)",
    dimensions=("agent", "source"),
)
def agent_utilization(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    any_session = select(SESSIONS.c.id).where(
        SESSIONS.c.started_at < query.end,
        SESSIONS.c.ended_at > query.start,
        source_filter(SESSIONS.c.source, query),
    )
    if conn.execute(any_session.limit(1)).first() is None:
        return _ticket_shares(conn, query, m)
    p = window(query)
    names = group_names(query)
    groups = group_sql(query, {"agent": SESSIONS.c.agent_id, "source": SESSIONS.c.source})
    overlapping = and_(
        SESSIONS.c.started_at < query.end,
        SESSIONS.c.ended_at > query.start,
        source_filter(SESSIONS.c.source, query),
    )
    first = edge_index(SESSIONS.c.started_at, p.edges)
    last = edge_index(SESSIONS.c.ended_at, p.edges)
    busy = case((SESSIONS.c.state == "busy", 1), else_=0).label("busy")
    # (logged-in ms, busy ms, sessions) per cell.
    sums: dict[CellKey, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])

    def add(key: CellKey, ms: float, is_busy: bool) -> None:
        cell = sums[key]
        cell[0] += ms
        cell[1] += ms if is_busy else 0.0
        cell[2] += 1

    # Sessions within one bucket (nearly all of them) are summed in SQL ...
    inside = first.label("bucket")
    stmt = (
        select(
            inside,
            *groups,
            busy,
            func.sum(epoch_ms(SESSIONS.c.ended_at) - epoch_ms(SESSIONS.c.started_at)).label("ms"),
            func.count().label("n"),
        )
        .where(overlapping, first == last, first >= 0)
        .group_by(inside, *groups, busy)
    )
    for r in conn.execute(stmt):
        cell = sums[(int(r.bucket), tuple(getattr(r, f"g_{n}") for n in names))]
        cell[0] += float(r.ms or 0)
        cell[1] += float(r.ms or 0) if r.busy else 0.0
        cell[2] += int(r.n)
    # ... and the few that cross a bucket edge (or the window's) are clipped here.
    stmt = select(
        *groups,
        busy,
        epoch_ms(SESSIONS.c.started_at).label("from_ms"),
        epoch_ms(SESSIONS.c.ended_at).label("to_ms"),
    ).where(overlapping, or_(first != last, first < 0))
    for r in conn.execute(stmt):
        group = tuple(getattr(r, f"g_{n}") for n in names)
        for i, (a, b) in enumerate(pairwise(p.edges_ms)):
            overlap = min(b, r.to_ms) - max(a, r.from_ms)
            if overlap > 0:
                add((i, group), float(overlap), bool(r.busy))
    cells: dict[CellKey, Cell] = {}
    for key, (on, busy_ms, n) in sums.items():
        if on > 0:
            details = {
                "basis": "sessions",
                "busy_minutes": busy_ms / 60000,
                "logged_in_minutes": on / 60000,
            }
            cells[key] = Cell(busy_ms / on, int(n), details=details)
    return emit(m, query, cells)


def _ticket_shares(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    natural = ("agent",)
    names = group_names(query, natural)
    groups = group_sql(query, {"agent": TICKETS.c.assignee_id, "source": TICKETS.c.source}, natural)
    bucket = bucket_sql(TICKETS.c.solved_at, query).label("bucket")
    stmt = (
        select(bucket, *groups, func.count().label("n"))
        .where(
            in_window(TICKETS.c.solved_at, query),
            source_filter(TICKETS.c.source, query),
            TICKETS.c.assignee_id.is_not(None),
            or_(TICKETS.c.status.is_(None), TICKETS.c.status != "deleted"),
        )
        .group_by(bucket, *groups)
    )
    counts = {
        (int(r.bucket), tuple(getattr(r, f"g_{n}") for n in names)): int(r.n)
        for r in conn.execute(stmt)
    }
    rest = [j for j, n in enumerate(names) if n != "agent"]
    totals: dict[tuple[Any, ...], int] = defaultdict(int)
    for (i, group), n in counts.items():
        totals[(i, *(group[j] for j in rest))] += n
    cells: dict[CellKey, Cell] = {}
    for (i, group), n in counts.items():
        total = totals[(i, *(group[j] for j in rest))]
        details = {"basis": "tickets", "tickets": n, "total": total}
        cells[(i, group)] = Cell(n / total, n, details=details)
    return emit(m, query, cells, natural=natural)
