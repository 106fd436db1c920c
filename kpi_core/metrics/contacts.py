"""Live contacts (calls and chats): speed of answer, handle time, service level, abandonment.

Shared readings, stated once:

- A live contact is a call or a chat. Calls count as channel `phone`, chats as `chat`.
- Queue metrics (average_speed_of_answer, service_level, abandonment_rate, blocked_calls) look at
  inbound contacts only: chats, and calls whose direction is `inbound` or unknown. An outbound call
  never waited in our queue.
- Every live-contact metric is anchored at the contact's arrival (calls `queued_at`, chats
  `requested_at`), so a period's answered, abandoned and blocked contacts add up to what arrived.
- Answered = `answered_at` is set. Abandoned = not answered, outcome not `blocked`, and it waited
  at least S seconds (ended_at - arrival >= S; no ended_at counts as having waited).
- Dimensions: agent (the contact's agent), group (that agent's group in `agents`), channel, source.
- Durations are exact seconds; with `--business-hours` a contact's waits and handle times are
  counted in business time (schedule chosen by `ScheduleSet` from the contact's source, its
  channel and its agent's group). Service level and abandonment compare waits with T and S in
  calendar seconds: they describe the queue as the caller lived it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql import Subquery

from deskpulse.kpi_core.periods import Periods
from deskpulse.kpi_core.registry import KpiQuery, KpiValue, Metric, Param, metric
from deskpulse.kpi_core.tables import AGENTS, CALLS, CHATS
from deskpulse.kpi_core.toolkit import (
    Cell,
    CellKey,
    bucket_sql,
    clock,
    count_where,
    duration_cell,
    emit,
    epoch_ms,
    group_names,
    group_sql,
    in_window,
    ratio_cell,
    row_key,
    source_filter,
    window,
)

LIVE_DIMENSIONS = ("agent", "group", "channel", "source")


def live_contacts(query: KpiQuery, *, inbound_only: bool) -> Subquery:
    """Calls and chats that arrived in the window, one shape: source, id, channel, agent_id,
    arrived_at, answered_at, ended_at, outcome, handle_seconds (calls only), direction."""
    calls = select(
        CALLS.c.source,
        CALLS.c.id,
        literal("phone").label("channel"),
        CALLS.c.agent_id,
        CALLS.c.queued_at.label("arrived_at"),
        CALLS.c.answered_at,
        CALLS.c.ended_at,
        CALLS.c.outcome,
        case(
            (
                or_(
                    CALLS.c.talk_seconds.is_not(None),
                    CALLS.c.hold_seconds.is_not(None),
                    CALLS.c.wrap_seconds.is_not(None),
                ),
                func.coalesce(CALLS.c.talk_seconds, 0.0)
                + func.coalesce(CALLS.c.hold_seconds, 0.0)
                + func.coalesce(CALLS.c.wrap_seconds, 0.0),
            ),
            else_=null(),
        ).label("handle_seconds"),
    ).where(in_window(CALLS.c.queued_at, query), source_filter(CALLS.c.source, query))
    if inbound_only:
        calls = calls.where(or_(CALLS.c.direction.is_(None), CALLS.c.direction == "inbound"))
    chats = select(
        CHATS.c.source,
        CHATS.c.id,
        literal("chat").label("channel"),
        CHATS.c.agent_id,
        CHATS.c.requested_at.label("arrived_at"),
        CHATS.c.answered_at,
        CHATS.c.ended_at,
        CHATS.c.outcome,
        cast(null(), Float).label("handle_seconds"),
    ).where(in_window(CHATS.c.requested_at, query), source_filter(CHATS.c.source, query))
    return union_all(calls, chats).subquery("live")


def _rows(
    conn: Connection,
    query: KpiQuery,
    *,
    inbound_only: bool,
    where: Callable[[Subquery], Any],
    columns: Callable[[Subquery], list[Any]],
) -> Iterable[Any]:
    """Per-contact rows: arrived_ms, source, id, channel, agent_group, g_<dimension>..., columns.

    Rows are bucketed in Python (`_row_key`) from arrived_ms: they are fetched one by one anyway.

    `agents` is joined only when a group is needed (`--by group`, or business hours where the
    group may pick the schedule).
    """
    live = live_contacts(query, inbound_only=inbound_only)
    dims: dict[str, Any] = {
        "agent": live.c.agent_id,
        "channel": live.c.channel,
        "source": live.c.source,
    }
    from_: Any = live
    agent_group: Any = null()
    if query.by == "group" or query.business_hours:
        from_ = live.outerjoin(
            AGENTS, and_(AGENTS.c.source == live.c.source, AGENTS.c.id == live.c.agent_id)
        )
        agent_group = AGENTS.c.group
    dims["group"] = agent_group
    stmt = (
        select(
            epoch_ms(live.c.arrived_at).label("arrived_ms"),
            live.c.source,
            live.c.id,
            live.c.channel,
            agent_group.label("agent_group"),
            *group_sql(query, dims),
            *columns(live),
        )
        .select_from(from_)
        .where(where(live))
    )
    return conn.execute(stmt)


def _row_key(row: Any, names: tuple[str, ...], p: Periods) -> CellKey:
    return (p.index_ms(row.arrived_ms) or 0, tuple(getattr(row, f"g_{n}") for n in names))


def _item(row: Any) -> dict[str, Any]:
    """What the schedule assignment (kpi_core.business_hours.ScheduleSet) sees of a contact."""
    return {
        "source": row.source,
        "id": row.id,
        "channel": row.channel,
        "group": row.agent_group,
        "priority": None,
    }


@metric(
    "average_speed_of_answer",
    title="Average speed of answer",
    description=(
        "Also called average wait time. Over answered inbound live contacts (calls and chats): "
        "answered_at - arrival (calls queued_at, chats requested_at); mean, median and p90 in "
        "minutes. `--by channel` splits phone and chat."
    ),
    unit="minutes",
    direction="lower",
    anchor="arrival (calls queued_at, chats requested_at)",
    dimensions=LIVE_DIMENSIONS,
)
def average_speed_of_answer(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    names, p = group_names(query), window(query)
    clk = clock(query)
    seconds: dict[CellKey, list[float]] = defaultdict(list)
    rows = _rows(
        conn,
        query,
        inbound_only=True,
        where=lambda live: live.c.answered_at.is_not(None),
        columns=lambda live: [
            epoch_ms(live.c.arrived_at).label("from_ms"),
            epoch_ms(live.c.answered_at).label("to_ms"),
        ],
    )
    for row in rows:
        seconds[_row_key(row, names, p)].append(clk.seconds(_item(row), row.from_ms, row.to_ms))
    return emit(m, query, {k: duration_cell(v) for k, v in seconds.items()})


@metric(
    "average_handle_time",
    title="Average handle time",
    description=(
        "Over answered live contacts (inbound and outbound calls, chats): a call's talk + hold + "
        "wrap seconds (ended_at - answered_at when the call reports none of them), a chat's "
        "ended_at - answered_at; contacts with neither are left out. Mean, median and p90 in "
        "minutes. In business time a call's handle time is the business time of "
        "[answered_at, answered_at + handle seconds)."
    ),
    unit="minutes",
    direction="lower",
    anchor="arrival (calls queued_at, chats requested_at)",
    dimensions=LIVE_DIMENSIONS,
)
def average_handle_time(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    names, p = group_names(query), window(query)
    clk = clock(query)
    seconds: dict[CellKey, list[float]] = defaultdict(list)
    rows = _rows(
        conn,
        query,
        inbound_only=False,
        where=lambda live: and_(
            live.c.answered_at.is_not(None),
            or_(live.c.handle_seconds.is_not(None), live.c.ended_at.is_not(None)),
        ),
        columns=lambda live: [
            epoch_ms(live.c.answered_at).label("from_ms"),
            epoch_ms(live.c.ended_at).label("to_ms"),
            live.c.handle_seconds,
        ],
    )
    for row in rows:
        if row.handle_seconds is not None:
            to_ms = row.from_ms + max(0.0, float(row.handle_seconds)) * 1000.0
        else:
            to_ms = row.to_ms
        seconds[_row_key(row, names, p)].append(clk.seconds(_item(row), row.from_ms, to_ms))
    return emit(m, query, {k: duration_cell(v) for k, v in seconds.items()})


def _queue_counts(
    conn: Connection, query: KpiQuery, threshold_seconds: float, short_abandon_seconds: float
) -> dict[CellKey, tuple[int, int, int]]:
    """(answered within T, answered, abandoned) per bucket and group, aggregated in SQL."""
    names = group_names(query)
    live = live_contacts(query, inbound_only=True)
    dims: dict[str, Any] = {
        "agent": live.c.agent_id,
        "channel": live.c.channel,
        "source": live.c.source,
    }
    from_: Any = live
    if query.by == "group":
        from_ = live.outerjoin(
            AGENTS, and_(AGENTS.c.source == live.c.source, AGENTS.c.id == live.c.agent_id)
        )
        dims["group"] = AGENTS.c.group
    answered = live.c.answered_at.is_not(None)
    waited_ms = epoch_ms(live.c.answered_at) - epoch_ms(live.c.arrived_at)
    abandoned = and_(
        live.c.answered_at.is_(None),
        or_(live.c.outcome.is_(None), live.c.outcome != "blocked"),
        or_(
            live.c.ended_at.is_(None),
            epoch_ms(live.c.ended_at) - epoch_ms(live.c.arrived_at)
            >= short_abandon_seconds * 1000.0,
        ),
    )
    groups = group_sql(query, dims)
    bucket = bucket_sql(live.c.arrived_at, query).label("bucket")
    stmt = (
        select(
            bucket,
            *groups,
            func.sum(
                case((and_(answered, waited_ms <= threshold_seconds * 1000.0), 1), else_=0)
            ).label("within"),
            count_where(answered).label("answered"),
            count_where(abandoned).label("abandoned"),
        )
        .select_from(from_)
        .group_by(bucket, *groups)
    )
    out: dict[CellKey, tuple[int, int, int]] = {}
    for row in conn.execute(stmt):
        key = row_key(row, names)
        out[key] = (int(row.within or 0), int(row.answered or 0), int(row.abandoned or 0))
    return out


SHORT_ABANDON = Param(
    "short_abandon_seconds",
    5,
    "S: an unanswered contact that waited less than S seconds is a short abandon, not counted",
)


@metric(
    "service_level",
    title="Service level",
    description=(
        "Inbound live contacts answered within T seconds / (answered + abandoned). Answered: "
        "answered_at is set (wait = answered_at - arrival, <= T counts). Abandoned: not "
        "answered, outcome not blocked, waited at least S seconds (no ended_at counts as "
        "waited). Blocked calls never reached the queue and are left out, as are short "
        "abandons. Waits are compared with T in calendar seconds."
    ),
    unit="ratio",
    direction="higher",
    anchor="arrival (calls queued_at, chats requested_at)",
    params=(
        Param("threshold_seconds", 20, "T: answered within this many seconds counts as met"),
        SHORT_ABANDON,
    ),
    dimensions=LIVE_DIMENSIONS,
)
def service_level(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    threshold = float(m.param(query, "threshold_seconds"))
    counts = _queue_counts(conn, query, threshold, float(m.param(query, "short_abandon_seconds")))
    cells: dict[CellKey, Cell] = {}
    for key, (within, answered, abandoned) in counts.items():
        details = {
            "answered_within": within,
            "answered": answered,
            "abandoned": abandoned,
            "threshold_seconds": threshold,
        }
        cells[key] = ratio_cell(within, answered + abandoned, details)
    return emit(m, query, cells)


@metric(
    "abandonment_rate",
    title="Abandonment rate",
    description=(
        "Abandoned inbound live contacts / (answered + abandoned), answered and abandoned as in "
        "service_level: unanswered contacts that waited less than S seconds and blocked calls "
        "are in neither."
    ),
    unit="ratio",
    direction="lower",
    anchor="arrival (calls queued_at, chats requested_at)",
    params=(SHORT_ABANDON,),
    dimensions=LIVE_DIMENSIONS,
)
def abandonment_rate(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    counts = _queue_counts(conn, query, 0.0, float(m.param(query, "short_abandon_seconds")))
    cells = {
        key: ratio_cell(
            abandoned, answered + abandoned, {"answered": answered, "abandoned": abandoned}
        )
        for key, (_, answered, abandoned) in counts.items()
    }
    return emit(m, query, cells)


@metric(
    "blocked_calls",
    title="Blocked calls",
    description=(
        "Inbound calls (direction inbound or unknown) with outcome blocked or missed (no agent "
        "reached them) / inbound calls."
    ),
    unit="ratio",
    direction="lower",
    anchor="queued_at",
    dimensions=("source",),
)
def blocked_calls(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    names = group_names(query)
    groups = group_sql(query, {"source": CALLS.c.source})
    bucket = bucket_sql(CALLS.c.queued_at, query).label("bucket")
    blocked = CALLS.c.outcome.in_(["blocked", "missed"])
    stmt = (
        select(
            bucket,
            *groups,
            func.count().label("calls"),
            count_where(blocked).label("blocked"),
            count_where(CALLS.c.outcome == "blocked").label("only_blocked"),
        )
        .where(
            in_window(CALLS.c.queued_at, query),
            source_filter(CALLS.c.source, query),
            or_(CALLS.c.direction.is_(None), CALLS.c.direction == "inbound"),
        )
        .group_by(bucket, *groups)
    )
    cells: dict[CellKey, Cell] = {}
    for row in conn.execute(stmt):
        blocked_n, only_blocked = int(row.blocked or 0), int(row.only_blocked or 0)
        details = {"blocked": only_blocked, "missed": blocked_n - only_blocked, "calls": row.calls}
        cells[row_key(row, names)] = ratio_cell(blocked_n, int(row.calls), details)
    return emit(m, query, cells)
