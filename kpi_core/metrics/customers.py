"""Customers and business: churn, retention, lifetime value, referrals, engagement, cost per ticket.

Shared readings:

- A customer is a person: `customers` rows with one e-mail (trimmed, any case) are one customer
  across sources, a row without an e-mail is one of its own (kpi_core.people). Acquired at the
  earliest `created_at` of their rows (null on any: before any window). Orders, contacts and
  events reference customer rows by `customer_id` within a source, and count for that row's
  person. With `--by source`, each source's people are counted within it.
- A customer is lost at `churned_at`. Where no churned_at is known, at their last order (ever,
  refunded or not) + the inactivity window (parameter `inactivity_days`, default 90); a customer
  with neither is never counted as lost. An inactivity loss is only counted once it has happened:
  a window reaching into the future does not count customers as lost before their time is up.
- Customers at an instant t: acquired before t (or with no created_at) and not lost before t.
  Each period bucket is its own [start, end) for these counts.
- Money: amounts are summed as given; refunded orders are left out of value metrics. An order
  is refunded when its `refunded` is true, or when an `order_adjustments` row of its source
  points at it: a cancellation, or a refund of its whole amount (or of an amount not given);
  a partial refund keeps the order. `currency` appears in details when every amount shares one
  currency.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    case,
    distinct,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from deskpulse.kpi_core.metrics.volume import contact_counts
from deskpulse.kpi_core.people import customer_person, with_person
from deskpulse.kpi_core.periods import edge_index
from deskpulse.kpi_core.registry import KpiError, KpiQuery, KpiValue, Metric, Param, metric
from deskpulse.kpi_core.tables import CALLS, CHATS, COSTS, CUSTOMERS, ORDERS, TICKETS
from deskpulse.kpi_core.tables import ENGAGEMENT_EVENTS as EVENTS
from deskpulse.kpi_core.tables import ORDER_ADJUSTMENTS as ADJUSTMENTS
from deskpulse.kpi_core.toolkit import (
    Cell,
    CellKey,
    bucket_sql,
    emit,
    group_names,
    group_sql,
    in_window,
    ratio_cell,
    row_key,
    source_filter,
    window,
)

INACTIVITY = Param(
    "inactivity_days",
    90,
    "a customer without churned_at is lost this many days after their last order",
)


def not_refunded() -> ColumnElement[bool]:
    """Orders that count for value: not flagged refunded, and no cancellation or full refund
    in `order_adjustments` (see the module docstring)."""
    adjusted = (
        select(literal_column("1"))
        .select_from(ADJUSTMENTS)
        .where(
            ADJUSTMENTS.c.source == ORDERS.c.source,
            ADJUSTMENTS.c.order_id == ORDERS.c.id,
            or_(
                ADJUSTMENTS.c.kind == "cancel",
                ADJUSTMENTS.c.amount.is_(None),
                # a refund of the whole amount, with a cent's tolerance for rounding
                ADJUSTMENTS.c.amount >= ORDERS.c.amount - 0.005,
            ),
        )
        .exists()
    )
    return and_(or_(ORDERS.c.refunded.is_(None), ORDERS.c.refunded.is_(False)), ~adjusted)


# --- customer base ---------------------------------------------------------------------------


def customer_base(
    conn: Connection,
    query: KpiQuery,
    edges: Sequence[datetime],
    inactivity_days: int,
    now: datetime | None = None,
) -> dict[CellKey, dict[str, int]]:
    """Per (bucket, group) of the contiguous buckets [edges[i], edges[i + 1]): customers at the
    start (s), at the end (e), acquired in the bucket (n), and lost in it among those present at
    its start (l).

    SQL returns a histogram of (bucket of acquisition, bucket of loss) per group, so one customer
    is one row scanned, whatever the number of buckets; Python turns it into counts per bucket
    with difference arrays.
    """
    now = now or datetime.now(UTC)
    gap = timedelta(days=inactivity_days)
    buckets = len(edges) - 1
    last = (
        select(
            ORDERS.c.source,
            ORDERS.c.customer_id,
            func.max(ORDERS.c.created_at).label("last_order"),
        )
        .where(source_filter(ORDERS.c.source, query))
        .group_by(ORDERS.c.source, ORDERS.c.customer_id)
        .subquery("last_orders")
    )
    joined = CUSTOMERS.outerjoin(
        last, and_(last.c.source == CUSTOMERS.c.source, last.c.customer_id == CUSTOMERS.c.id)
    )
    # One row per person (per group): acquired at their earliest created_at (unknown on any of
    # their rows: before every window), lost at their latest churned_at, else at their last
    # order in any of their sources + the gap.
    when_type = CUSTOMERS.c.created_at.type
    group_columns = group_sql(query, {"source": CUSTOMERS.c.source})
    names = group_names(query)
    person = (
        select(
            *group_columns,
            _first_created().label("created"),
            type_coerce(func.max(CUSTOMERS.c.churned_at), when_type).label("churned"),
            type_coerce(func.max(last.c.last_order), when_type).label("last_order"),
        )
        .select_from(joined)
        .where(source_filter(CUSTOMERS.c.source, query))
        .group_by(*group_columns, customer_person())
        .subquery("people")
    )
    created, churned, last_order = person.c.created, person.c.churned, person.c.last_order
    # Acquired: -1 before the first edge (or unknown), i in bucket i, `buckets` after the end.
    acquired = func.coalesce(edge_index(created, edges), literal_column("-1")).label("acquired")
    # Lost at churned_at, else at last_order + gap (bucketed against edges shifted back by the
    # gap: no date arithmetic in SQL) once that moment has passed; never lost = after the end.
    lost = case(
        (churned.is_not(None), edge_index(churned, edges)),
        (
            and_(last_order.is_not(None), last_order < now - gap),
            edge_index(last_order, [edge - gap for edge in edges]),
        ),
        else_=literal_column(str(buckets)),
    ).label("lost")
    groups = [person.c[f"g_{n}"].label(f"g_{n}") for n in names]
    stmt = select(*groups, acquired, lost, func.count().label("customers")).group_by(
        *groups, acquired, lost
    )
    # Difference arrays per group: index i adds to buckets i.., index stop removes again.
    diffs: dict[tuple[Any, ...], dict[str, list[int]]] = {}

    def add(series: list[int], first: int, last_: int, count: int) -> None:
        first, last_ = max(first, 0), min(last_, buckets - 1)
        if first <= last_:
            series[first] += count
            series[last_ + 1] -= count

    for row in conn.execute(stmt):
        group = tuple(getattr(row, f"g_{n}") for n in names)
        d = diffs.setdefault(group, {k: [0] * (buckets + 1) for k in "senl"})
        c, l_, count = int(row.acquired), int(row.lost), int(row.customers)
        add(d["s"], c + 1, l_, count)  # acquired before bucket i starts, not lost before it
        add(d["e"], c, l_ - 1, count)  # acquired before bucket i ends, not lost by then
        if 0 <= c < buckets:
            add(d["n"], c, c, count)
        if c < l_ < buckets:
            add(d["l"], l_, l_, count)
    out: dict[CellKey, dict[str, int]] = {}
    for group, d in diffs.items():
        running = dict.fromkeys("senl", 0)
        for i in range(buckets):
            for k in "senl":
                running[k] += d[k][i]
            out[(i, group)] = dict(running)
    return out


def _first_created() -> ColumnElement[Any]:
    """A person's (group's) earliest `created_at` over their customers rows, NULL when any of
    those rows does not know it (the person may be older than every window)."""
    return type_coerce(
        case(
            (func.count(CUSTOMERS.c.created_at) < func.count(), null()),
            else_=func.min(CUSTOMERS.c.created_at),
        ),
        CUSTOMERS.c.created_at.type,
    )


@metric(
    "churn_rate",
    title="Churn rate",
    description=(
        "Customers lost in the window / customers at the start of the window. Lost at "
        "churned_at, else at the last order + inactivity_days (default 90); only customers "
        "present at the start count as lost. A customer is a person: one e-mail across "
        "sources, acquired at their first row, lost at their last order in any source."
    ),
    unit="ratio",
    direction="lower",
    anchor="the moment a customer is lost",
    params=(INACTIVITY,),
    dimensions=("source",),
)
def churn_rate(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    base = customer_base(conn, query, window(query).edges, int(m.param(query, "inactivity_days")))
    cells = {
        key: ratio_cell(c["l"], c["s"], {"lost": c["l"], "at_start": c["s"]})
        for key, c in base.items()
    }
    return emit(m, query, cells)


@metric(
    "retention_rate",
    title="Customer retention rate",
    description=(
        "(E - N) / S: S customers at the start of the window, E at its end, N acquired during "
        "it (created_at in the window). Customers (people) and losses as in churn_rate."
    ),
    unit="ratio",
    direction="higher",
    anchor="window start and end",
    params=(INACTIVITY,),
    dimensions=("source",),
)
def retention_rate(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    base = customer_base(conn, query, window(query).edges, int(m.param(query, "inactivity_days")))
    cells = {
        key: ratio_cell(c["e"] - c["n"], c["s"], {"start": c["s"], "end": c["e"], "new": c["n"]})
        for key, c in base.items()
    }
    return emit(m, query, cells)


# --- lifetime value --------------------------------------------------------------------------


def _add_months(when: datetime, months: int) -> datetime:
    year, month0 = divmod(when.month - 1 + months, 12)
    year += when.year
    day = min(when.day, calendar.monthrange(year, month0 + 1)[1])
    return when.replace(year=year, month=month0 + 1, day=day)


def calendar_months(start: datetime, end: datetime, tz: Any) -> float:
    """Length of [start, end) in calendar months, read in `tz`: whole months, then the rest as a
    fraction of the next month. [Jan 1, Jan 1 next year) is exactly 12, leap year or not."""
    s, e = start.astimezone(tz), end.astimezone(tz)
    months = (e.year - s.year) * 12 + (e.month - s.month)
    while months > 0 and _add_months(s, months) > e:
        months -= 1
    anchor, following = _add_months(s, months), _add_months(s, months + 1)
    rest = (e.astimezone(UTC) - anchor.astimezone(UTC)) / (
        following.astimezone(UTC) - anchor.astimezone(UTC)
    )
    return months + rest


@metric(
    "customer_lifetime_value",
    title="Customer lifetime value",
    description=(
        "Average value of a customer, parameter variant: `simple` (default) = average order "
        "value x orders per customer per year x expected lifetime in years, over the window's "
        "orders; `historical` = sum of amount x margin over each customer's orders up to the "
        "window end, averaged over customers who ordered by then; `predictive` = average "
        "monthly orders per customer x average order value x margin x lifetime in months. "
        "Lifetime: parameter lifetime_years, else 1 / annual churn (churn_rate over the 12 "
        "months ending at the window end), 3 years when that churn is 0 or unknown. Margin: the order's "
        "margin, else parameter margin (default 1). Refunded orders are left out. Years and "
        "months are calendar lengths in the reporting time zone. A customer is a person (one "
        "e-mail across sources, as in churn_rate)."
    ),
    unit="currency",
    direction="higher",
    anchor="orders.created_at",
    params=(
        Param("variant", "simple", "simple, historical or predictive"),
        Param("margin", 1.0, "gross margin (0-1) for orders that give none"),
        Param("lifetime_years", None, "expected customer lifetime; default 1 / annual churn"),
        Param("default_lifetime_years", 3.0, "lifetime when annual churn is 0 or unknown"),
        INACTIVITY,
    ),
    dimensions=("source",),
)
def customer_lifetime_value(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    variant = str(m.param(query, "variant")).lower()
    if variant not in ("simple", "historical", "predictive"):
        raise KpiError(f"customer_lifetime_value: unknown variant {variant!r}")
    margin = float(m.param(query, "margin"))
    names = group_names(query)
    groups = group_sql(query, {"source": ORDERS.c.source})
    order_rows, customer = with_person(ORDERS, ORDERS.c.source, ORDERS.c.customer_id)
    value_sql = ORDERS.c.amount * func.coalesce(ORDERS.c.margin, margin)
    aggregates = [
        func.count().label("orders"),
        func.count(distinct(customer)).label("customers"),
        func.sum(ORDERS.c.amount).label("amount"),
        func.sum(value_sql).label("value"),
        func.min(ORDERS.c.currency).label("cur_min"),
        func.max(ORDERS.c.currency).label("cur_max"),
        func.count(ORDERS.c.currency).label("cur_n"),
    ]
    p = window(query)
    totals: dict[CellKey, dict[str, Any]] = {}
    if variant == "historical":
        totals = _cumulative_orders(conn, query, groups, names, aggregates, order_rows, customer)
    else:
        bucket = bucket_sql(ORDERS.c.created_at, query).label("bucket")
        stmt = (
            select(bucket, *groups, *aggregates)
            .select_from(order_rows)
            .where(
                in_window(ORDERS.c.created_at, query),
                not_refunded(),
                source_filter(ORDERS.c.source, query),
            )
            .group_by(bucket, *groups)
        )
        for row in conn.execute(stmt):
            totals[row_key(row, names)] = dict(row._mapping)
    # One lifetime for the whole query: from the churn of the year ending at the window end.
    years, annual_churn = (0.0, None) if variant == "historical" else _lifetime(conn, query, m)
    cells: dict[CellKey, Cell] = {}
    for key, t in totals.items():
        orders, customers = int(t["orders"]), int(t["customers"])
        if not customers:
            continue
        amount, value = float(t["amount"]), float(t["value"])
        details: dict[str, Any] = {
            "variant": variant,
            "customers": customers,
            "orders": orders,
            "average_order_value": amount / orders,
        }
        if t["cur_n"] == orders and t["cur_min"] == t["cur_max"]:
            details["currency"] = t["cur_min"]
        if variant == "historical":
            clv = value / customers
        else:
            start, end = p.buckets[key[0]]
            per_month = orders / customers / calendar_months(start, end, query.tz)
            details.update(
                lifetime_years=years, annual_churn=annual_churn, orders_per_year=per_month * 12
            )
            if variant == "simple":
                clv = amount / orders * per_month * 12 * years
            else:
                details["margin"] = value / amount if amount else None
                clv = per_month * (value / orders) * years * 12
        cells[key] = Cell(clv, customers, details=details)
    return emit(m, query, cells)


def _cumulative_orders(
    conn: Connection,
    query: KpiQuery,
    groups: list[Any],
    names: tuple[str, ...],
    aggregates: list[Any],
    orders: Any,
    customer: Any,
) -> dict[CellKey, dict[str, Any]]:
    """Order totals from the beginning of history to each bucket's end (historical CLV).

    Orders are bucketed (-1 = before the window) and summed forward; customers are counted at
    the bucket of their first order. Two grouped queries, whatever the number of buckets.
    """
    edges = window(query).edges
    buckets = len(edges) - 1
    base = and_(
        ORDERS.c.created_at < query.end, not_refunded(), source_filter(ORDERS.c.source, query)
    )
    idx = edge_index(ORDERS.c.created_at, edges).label("idx")
    per_bucket: dict[tuple[Any, ...], dict[int, dict[str, Any]]] = {}
    stmt = select(*groups, idx, *aggregates).select_from(orders).where(base).group_by(*groups, idx)
    for row in conn.execute(stmt):
        group = tuple(getattr(row, f"g_{n}") for n in names)
        per_bucket.setdefault(group, {})[int(row.idx)] = dict(row._mapping)
    first = (
        select(*groups, func.min(ORDERS.c.created_at).label("first_order"))
        .select_from(orders)
        .where(base)
        .group_by(*groups, customer)
        .subquery("first_orders")
    )
    first_groups = [first.c[f"g_{n}"].label(f"g_{n}") for n in names]
    first_idx = edge_index(first.c.first_order, edges).label("idx")
    newcomers: dict[tuple[Any, ...], dict[int, int]] = {}
    stmt = select(*first_groups, first_idx, func.count().label("n")).group_by(
        *first_groups, first_idx
    )
    for row in conn.execute(stmt):
        group = tuple(getattr(row, f"g_{n}") for n in names)
        newcomers.setdefault(group, {})[int(row.idx)] = int(row.n)
    out: dict[CellKey, dict[str, Any]] = {}
    for group, by_idx in per_bucket.items():
        running: dict[str, Any] = {
            "orders": 0, "customers": 0, "amount": 0.0, "value": 0.0,
            "cur_min": None, "cur_max": None, "cur_n": 0,
        }  # fmt: skip
        for i in range(-1, buckets):
            got = by_idx.get(i)
            running["customers"] += newcomers.get(group, {}).get(i, 0)
            if got is not None:
                for k in ("orders", "amount", "value", "cur_n"):
                    running[k] += got[k] or 0
                for k, pick in (("cur_min", min), ("cur_max", max)):
                    if got[k] is not None:
                        running[k] = got[k] if running[k] is None else pick(running[k], got[k])
            if i >= 0:
                out[(i, group)] = dict(running)
    return out


def _lifetime(conn: Connection, query: KpiQuery, m: Metric) -> tuple[float, float | None]:
    """(lifetime in years, the annual churn it came from, or None when given as a parameter).

    Annual churn: churn_rate over the 12 calendar months ending at the window end.
    """
    given = m.param(query, "lifetime_years")
    if given is not None and str(given).strip() != "":
        return float(given), None
    end = query.end.astimezone(query.tz)
    edges = [_add_months(end, -12), end]
    base = customer_base(conn, query, edges, int(m.param(query, "inactivity_days")))
    at_start = sum(c["s"] for c in base.values())
    lost = sum(c["l"] for c in base.values())
    churn = lost / at_start if at_start else None
    if not churn:
        return float(m.param(query, "default_lifetime_years")), churn
    return 1.0 / churn, churn


@metric(
    "referral_rate",
    title="Referral rate",
    description=(
        "New customers acquired through referral (acquisition_channel `referral`) / new "
        "customers (created_at in the window). A customer is a person (as in churn_rate): new "
        "at their first row, referred when any of their rows says so."
    ),
    unit="ratio",
    direction="higher",
    anchor="customers.created_at",
    dimensions=("source",),
)
def referral_rate(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    # One row per person (per group): new at their earliest created_at (unknown on any row:
    # never new), referred when any of their rows says referral.
    referral = func.lower(CUSTOMERS.c.acquisition_channel) == "referral"
    group_columns = group_sql(query, {"source": CUSTOMERS.c.source})
    names = group_names(query)
    person = (
        select(
            *group_columns,
            _first_created().label("created"),
            func.max(case((referral, 1), else_=0)).label("referred"),
        )
        .where(source_filter(CUSTOMERS.c.source, query))
        .group_by(*group_columns, customer_person())
        .subquery("people")
    )
    bucket = bucket_sql(person.c.created, query).label("bucket")
    groups = [person.c[f"g_{n}"].label(f"g_{n}") for n in names]
    stmt = (
        select(bucket, *groups, func.count().label("n"), func.sum(person.c.referred).label("hits"))
        .where(in_window(person.c.created, query))
        .group_by(bucket, *groups)
    )
    cells: dict[CellKey, Cell] = {}
    for r in conn.execute(stmt):
        new, referred = int(r.n), int(r.hits or 0)
        cells[row_key(r, names)] = ratio_cell(referred, new, {"referred": referred, "new": new})
    return emit(m, query, cells)


@metric(
    "customer_engagement",
    title="Customer engagement",
    description=(
        "Engagement events in the window / active customers, an active customer having any "
        "order, contact (ticket as requester, chat, call) or engagement event in the window "
        "(a person: one e-mail across sources, as in churn_rate)."
    ),
    unit="score",
    direction="higher",
    anchor="engagement_events.created_at (and the activity's own timestamp)",
    dimensions=("source",),
)
def customer_engagement(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    def part(table: Any, customer: Any, when: Any, *where: Any) -> Any:
        return select(
            table.c.source.label("source"),
            customer.label("customer_id"),
            when.label("at"),
            literal(1 if table is EVENTS else 0).label("event"),
        ).where(
            in_window(when, query),
            source_filter(table.c.source, query),
            customer.is_not(None),
            *where,
        )

    activity = union_all(
        part(EVENTS, EVENTS.c.customer_id, EVENTS.c.created_at),
        part(ORDERS, ORDERS.c.customer_id, ORDERS.c.created_at),
        part(
            TICKETS,
            TICKETS.c.requester_id,
            TICKETS.c.created_at,
            or_(TICKETS.c.status.is_(None), TICKETS.c.status != "deleted"),
        ),
        part(CHATS, CHATS.c.customer_id, CHATS.c.requested_at),
        part(CALLS, CALLS.c.customer_id, CALLS.c.queued_at),
    ).subquery("activity")
    names = group_names(query)
    groups = group_sql(query, {"source": activity.c.source})
    bucket = bucket_sql(activity.c.at, query).label("bucket")
    joined, person = with_person(activity, activity.c.source, activity.c.customer_id)
    stmt = (
        select(
            bucket,
            *groups,
            func.sum(activity.c.event).label("events"),
            func.count(distinct(person)).label("active"),
        )
        .select_from(joined)
        .group_by(bucket, *groups)
    )
    cells: dict[CellKey, Cell] = {}
    for r in conn.execute(stmt):
        events, active = int(r.events or 0), int(r.active)
        cells[row_key(r, names)] = Cell(
            events / active, active, details={"events": events, "active_customers": active}
        )
    return emit(m, query, cells)


# --- cost per ticket -------------------------------------------------------------------------


def cost_span(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The [start, end) a cost row covers.

    Cost files give dates: a `period_end` at midnight is read as that whole day, inclusive
    ("2026-03-01", "2026-03-31" is all of March), except when start and end are both the 1st of a
    month ("2026-03-01", "2026-04-01" is also all of March). An end with a time is exclusive.
    """
    if end.time() == datetime.min.time() and not (start.day == 1 and end.day == 1 and end > start):
        end += timedelta(days=1)
    return start, end


def prorated_costs(conn: Connection, query: KpiQuery) -> tuple[dict[int, float], set[str | None]]:
    """Operating costs per bucket, each cost spread evenly over its span; and the currencies."""
    p = window(query)
    stmt = select(COSTS.c.period_start, COSTS.c.period_end, COSTS.c.amount, COSTS.c.currency).where(
        COSTS.c.period_start < query.end,
        COSTS.c.period_end >= query.start - timedelta(days=1),
    )
    totals: dict[int, float] = {}
    currencies: set[str | None] = set()
    for row in conn.execute(stmt):
        start, end = cost_span(row.period_start, row.period_end)
        length = (end - start).total_seconds()
        if length <= 0:
            continue
        for i, (a, b) in enumerate(p.buckets):
            overlap = (min(end, b) - max(start, a)).total_seconds()
            if overlap > 0:
                totals[i] = totals.get(i, 0.0) + float(row.amount) * overlap / length
                currencies.add(row.currency)
    return totals, currencies


@metric(
    "cost_per_ticket",
    title="Cost per ticket",
    description=(
        "Operating costs of the window / tickets created in it. Each cost row is spread evenly "
        "over its period (a period_end at midnight is that whole day, unless both ends are the "
        "1st of a month) and counted by its overlap with the window. Parameter per: `ticket` "
        "(tickets created, default), `resolved` (tickets solved in the window, by solved_at) "
        "or `contact` (request_volume: tickets, chats, calls and mentions, each counted once)."
    ),
    unit="currency",
    direction="lower",
    anchor="tickets.created_at (solved_at for per resolved); costs by overlap",
    params=(Param("per", "ticket", "ticket, resolved or contact"),),
    dimensions=(),
)
def cost_per_ticket(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    per = str(m.param(query, "per")).lower()
    if per not in ("ticket", "resolved", "contact"):
        raise KpiError(f"cost_per_ticket: unknown per {per!r} (ticket, resolved or contact)")
    costs, currencies = prorated_costs(conn, query)
    if per == "contact":
        counts = {
            i: sum(by.values()) for i, by in contact_counts(conn, query, by_channel=False).items()
        }
    else:
        anchor = TICKETS.c.created_at if per == "ticket" else TICKETS.c.solved_at
        bucket = bucket_sql(anchor, query).label("bucket")
        stmt = (
            select(bucket, func.count().label("n"))
            .where(
                in_window(anchor, query),
                source_filter(TICKETS.c.source, query),
                or_(TICKETS.c.status.is_(None), TICKETS.c.status != "deleted"),
            )
            .group_by(bucket)
        )
        counts = {int(r.bucket): int(r.n) for r in conn.execute(stmt)}
    cells: dict[CellKey, Cell] = {}
    for i in set(costs) | set(counts):
        cost, n = costs.get(i), counts.get(i, 0)
        if cost is None or not n:
            continue  # no costs or nothing to divide by: no data
        details: dict[str, Any] = {"costs": cost, "per": per, "count": n}
        if len(currencies) == 1:
            details["currency"] = next(iter(currencies))
        cells[(i, ())] = Cell(cost / n, n, details=details)
    return emit(m, query, cells)
