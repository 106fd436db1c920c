"""Ticket speed metrics: reply and resolution times, time in status, service level, SLA.

All durations come from per-ticket facts (kpi_core.facts) and are measured with the query's
clock: calendar time, or business time through the ticket's schedule
(`ScheduleSet.seconds_between(ticket, start, end)`) when `--business-hours` is set. Values are
minutes (exact seconds / 60), with mean (= value), median and nearest-rank p90, n = items.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, and_, select

from deskpulse.kpi_core.config import KpiConfig, SlaPolicy
from deskpulse.kpi_core.facts import SOLVED, TICKET_FACTS, TicketFacts, tag_list
from deskpulse.kpi_core.metrics.tickets_common import (
    DAY_MS,
    TICKET_COLUMNS,
    Calendar,
    Measure,
    due_bucket,
    duration_metric,
    duration_metric_many,
    facts,
    key_function,
    not_deleted,
    now_ms,
)
from deskpulse.kpi_core.registry import KpiError, KpiQuery, KpiValue, Metric, Param, metric
from deskpulse.kpi_core.tables import SLA_EVENTS, TICKETS
from deskpulse.kpi_core.toolkit import (
    Cell,
    CellKey,
    Clock,
    clock,
    emit,
    group_names,
    in_window,
    ratio_cell,
    source_filter,
    window,
)

_CLOCK_NOTE = " In calendar or business time (--business-hours)."


@metric(
    "first_response_time",
    shares=TICKET_FACTS,
    title="First response time",
    description=(
        "Per ticket: the first public agent message minus created_at. When an agent opened the "
        "ticket (its first public agent/customer message is an agent's), the clock stops at the "
        "first public agent message after the first customer message (it still starts at "
        "created_at, as help desks count it). Bot/system messages and internal notes never stop the "
        "clock. Mean, median and p90 over tickets whose first response falls in the period."
        + _CLOCK_NOTE
    ),
    unit="minutes",
    direction="lower",
    anchor="the first response",
)
def first_response_time(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    return duration_metric(conn, query, m, _first_response, calendar=Calendar("first_reply_ms"))


def _first_response(f: TicketFacts, clk: Clock) -> tuple[float, float] | None:
    at = f.first_reply_ms
    return None if at is None else (at, clk.seconds(f, f.created_ms, at))


@metric(
    "response_time",
    shares=TICKET_FACTS,
    title="Response time",
    description=(
        "Average reply time: for each run of public customer messages not yet answered, the next "
        "public agent message minus the first unanswered customer message. Runs still unanswered "
        "are not measured; bot/system messages and internal notes are ignored." + _CLOCK_NOTE
    ),
    unit="minutes",
    direction="lower",
    anchor="the reply",
)
def response_time(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    def pick(f: TicketFacts, clk: Clock) -> Iterable[tuple[float, float]]:
        for asked, answered in f.reply_gaps:
            yield answered, clk.seconds(f, asked, answered)

    return duration_metric_many(conn, query, m, pick, gaps="reply_gaps")


@metric(
    "first_resolution_time",
    shares=TICKET_FACTS,
    title="First resolution time",
    description=(
        "The first time the ticket became solved (or closed, if never solved first) minus "
        "created_at, from status events (without status events: solved_at, else closed_at)."
        + _CLOCK_NOTE
    ),
    unit="minutes",
    direction="lower",
    anchor="the first solve",
)
def first_resolution_time(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    def measure(f: TicketFacts, clk: Clock) -> tuple[float, float] | None:
        at = f.first_solve_ms
        return None if at is None else (at, clk.seconds(f, f.created_ms, at))

    return duration_metric(conn, query, m, measure, calendar=Calendar("first_solve_ms"))


_FULL = Calendar("last_solve_ms", solved=True)


def _in_status(amount: str) -> Calendar:
    return Calendar("last_solve_ms", amount=amount, solved=True, spans=True)


def _full_resolution(f: TicketFacts, clk: Clock) -> tuple[float, float] | None:
    at = f.last_solve_ms
    if at is None or f.status not in SOLVED:
        return None
    return at, clk.seconds(f, f.created_ms, at)


@metric(
    "resolution_time",
    shares=TICKET_FACTS,
    title="Full resolution time",
    description=(
        "For tickets now solved or closed: the last solve minus created_at (a reopened ticket "
        "counts its whole life up to its final solve)." + _CLOCK_NOTE
    ),
    unit="minutes",
    direction="lower",
    anchor="the last solve",
)
def resolution_time(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    return duration_metric(conn, query, m, _full_resolution, calendar=_FULL)


@metric(
    "complaint_resolution_time",
    shares=TICKET_FACTS,
    title="Complaint resolution time",
    description=(
        "resolution_time over complaint tickets: type `complaint`, or any tag in complaint_tags "
        "(case-insensitive)." + _CLOCK_NOTE
    ),
    unit="minutes",
    direction="lower",
    anchor="the last solve",
    params=(
        Param(
            "complaint_tags",
            ["complaint", "escalated"],
            "tags that mark a ticket as a complaint (besides type complaint)",
        ),
    ),
)
def complaint_resolution_time(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    tags = {str(t).strip().lower() for t in m.param(query, "complaint_tags")}

    tagged: dict[str | None, bool] = {}  # tag strings repeat: test each distinct one once

    def keep(f: TicketFacts) -> bool:
        if f.type is not None and f.type.strip().lower() == "complaint":
            return True
        hit = tagged.get(f.tags)
        if hit is None:
            hit = tagged[f.tags] = any(t in tags for t in tag_list(f.tags))
        return hit

    return duration_metric(conn, query, m, _full_resolution, keep=keep, calendar=_FULL)


def _time_in(statuses: frozenset[str], calendar_ms: str) -> Measure:
    """Measure of the time spent in `statuses` (calendar: the facts' precomputed sum)."""

    def measure(f: TicketFacts, clk: Clock) -> tuple[float, float] | None:
        end = f.last_solve_ms
        if end is None or f.status_spans is None or f.status not in SOLVED:
            return None
        if not clk.business:
            return end, getattr(f, calendar_ms) / 1000.0
        total = 0.0
        for status, lo, hi in f.status_spans:
            if status in statuses:
                total += clk.seconds(f, lo, hi)
        return end, total

    return measure


_STATUS_NOTE = (
    " Per ticket now solved or closed, from its status events (from created_at, status `new`, "
    "to its last solve); tickets without status events are not measured." + _CLOCK_NOTE
)


@metric(
    "requester_wait_time",
    shares=TICKET_FACTS,
    title="Requester wait time",
    description="Time the ticket spent in statuses new, open and hold." + _STATUS_NOTE,
    unit="minutes",
    direction="lower",
    anchor="the last solve",
)
def requester_wait_time(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    return duration_metric(
        conn,
        query,
        m,
        _time_in(frozenset({"new", "open", "hold"}), "wait_ms"),
        calendar=_in_status("wait_ms"),
    )


@metric(
    "agent_work_time",
    shares=TICKET_FACTS,
    title="Agent work time",
    description="Time the ticket spent in statuses new and open." + _STATUS_NOTE,
    unit="minutes",
    direction="lower",
    anchor="the last solve",
)
def agent_work_time(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    return duration_metric(
        conn,
        query,
        m,
        _time_in(frozenset({"new", "open"}), "work_ms"),
        calendar=_in_status("work_ms"),
    )


@metric(
    "on_hold_time",
    shares=TICKET_FACTS,
    title="On-hold time",
    description="Time the ticket spent in status hold." + _STATUS_NOTE,
    unit="minutes",
    direction="lower",
    anchor="the last solve",
)
def on_hold_time(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    return duration_metric(
        conn,
        query,
        m,
        _time_in(frozenset({"hold"}), "hold_ms"),
        calendar=_in_status("hold_ms"),
    )


# --- first-response service level and SLA targets ---------------------------------------------


def first_response_outcome(
    f: TicketFacts, clk: Clock, limit_s: float, now: int
) -> tuple[bool, float] | tuple[None, None]:
    """(met, settled_at_ms) for a first-response target of `limit_s`, or (None, None) while
    still running or when nothing awaits a response.

    Met: the first response came within the limit (settled at the response). Breached: no
    response within the limit (settled when the limit ran out; computed by the caller's bucket
    search, so here `settled_at_ms` is the limit's start). A ticket solved before the limit ran
    out without any response, or agent-opened with no customer message, awaits nothing.
    """
    if f.first_reply_ms is not None:
        took = clk.seconds(f, f.created_ms, f.first_reply_ms)
        if took <= limit_s:
            return True, float(f.first_reply_ms)
        return False, float(f.created_ms)
    if f.customer_messages == 0 and f.agent_messages > 0:
        return None, None  # agent-opened, nobody to answer yet
    stop = now
    if f.first_solve_ms is not None:
        stop = min(stop, f.first_solve_ms)
    if clk.seconds(f, f.created_ms, stop) > limit_s:
        return False, float(f.created_ms)
    return None, None


@metric(
    "ticket_service_level",
    shares=TICKET_FACTS,
    title="Ticket service level",
    description=(
        "Tickets whose first response (as in first_response_time) came within T minutes / "
        "tickets that got a first response or have waited longer than T without one. Each "
        "ticket counts once: when answered within T, at the response; otherwise at the moment T "
        "ran out. Tickets solved before T ran out without a response, and agent-opened tickets "
        "with no customer message, are left out." + _CLOCK_NOTE
    ),
    unit="ratio",
    direction="higher",
    anchor="the first response, or the moment T ran out",
    params=(Param("threshold_minutes", 60, "T: the first-response target, in minutes"),),
)
def ticket_service_level(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    limit_s = float(m.param(query, "threshold_minutes")) * 60
    needed_ms = limit_s * 1000 * (4.2 if query.business_hours else 1)
    p = window(query)
    key = key_function(group_names(query))
    clk = clock(query)
    now = now_ms()
    met: dict[CellKey, int] = defaultdict(int)
    total: dict[CellKey, int] = defaultdict(int)
    for f in facts(conn, query, needed_ms):
        ok, at = first_response_outcome(f, clk, limit_s, now)
        if ok is None or at is None:
            continue
        b = p.index_ms(at) if ok else due_bucket(clk, f, p, f.created_ms, limit_s)
        if b is None:
            continue
        ck = (b, key(f))
        total[ck] += 1
        met[ck] += ok
    cells = {
        k: Cell(met[k] / n, n, details={"met": met[k], "missed": n - met[k]})
        for k, n in total.items()
    }
    return emit(m, query, cells)


def resolution_outcome(f: TicketFacts, clk: Clock, limit_s: float, now: int) -> bool | None:
    """Whether a resolution target of `limit_s` was met (the final solve within it), breached
    (not solved now, and the limit has run out), or None while it still runs."""
    if f.solved and f.last_solve_ms is not None:
        return clk.seconds(f, f.created_ms, f.last_solve_ms) <= limit_s
    return False if clk.seconds(f, f.created_ms, now) > limit_s else None


def policy_clock(policy: SlaPolicy, schedules: Any, fallback: Clock) -> Clock | None:
    """The clock an SLA policy is measured with: pinned to business hours (None when there
    are no schedules to measure them with) or to calendar time, else `fallback`."""
    if policy.business_hours is True:
        return Clock(schedules) if schedules is not None else None
    if policy.business_hours is False:
        return Clock(None)
    return fallback


def _policy_name(policy: SlaPolicy) -> str:
    return f"priority {policy.priority!r}" if policy.priority else "every other priority"


def _policies(query: KpiQuery) -> KpiConfig:
    config = query.config
    return config if isinstance(config, KpiConfig) else KpiConfig()


def _helpdesk_sla(conn: Connection, query: KpiQuery) -> dict[CellKey, Cell] | None:
    """SLA attainment from the help desk's SLA events; None when no source reports any.

    One item per applied target (ticket, metric, instance): breached at the earliest breach that
    is not marked deleted, when it precedes the fulfilment; else met at the fulfilment; else
    still running and left out. Reads only the neutral vocabulary (models.SlaEvent).
    """
    events = SLA_EVENTS
    if conn.execute(select(events.c.id).where(events.c.type == "applied").limit(1)).first() is None:
        return None
    decided = (
        select(events.c.source, events.c.ticket_id)
        .where(
            events.c.type.in_(("fulfilled", "breached")),
            in_window(events.c.time, query),
            source_filter(events.c.source, query),
        )
        .distinct()
        .subquery()
    )
    names = group_names(query)
    rows = conn.execute(
        select(
            events.c.source, events.c.ticket_id, events.c.metric, events.c.type, events.c.time,
            events.c.extra, *(TICKET_COLUMNS[n] for n in names),
        )
        .join(decided, and_(decided.c.source == events.c.source,
                            decided.c.ticket_id == events.c.ticket_id))
        .join(TICKETS, and_(TICKETS.c.source == events.c.source, TICKETS.c.id == events.c.ticket_id))
        .where(events.c.type.in_(("applied", "fulfilled", "breached")), not_deleted())
    )  # fmt: skip
    targets: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        extra = row.extra or {}
        item = targets.setdefault(
            (row.source, row.ticket_id, row.metric, extra.get("instance_id")),
            {"applied": False, "fulfilled": None, "breached": None, "group": tuple(row[6:])},
        )
        if row.type == "applied":
            item["applied"] = True
        elif (row.type == "fulfilled" or not extra.get("deleted")) and (
            item[row.type] is None or row.time < item[row.type]
        ):
            item[row.type] = row.time
    p = window(query)
    counts: dict[CellKey, list[int]] = defaultdict(lambda: [0, 0])
    for item in targets.values():
        if not item["applied"]:
            continue
        breach, fulfil = item["breached"], item["fulfilled"]
        if breach is not None and (fulfil is None or breach < fulfil):
            met, at = 0, breach
        elif fulfil is not None:
            met, at = 1, fulfil
        else:
            continue
        bucket = p.index(at)
        if bucket is not None:
            count = counts[(bucket, item["group"])]
            count[0] += met
            count[1] += 1
    basis = {"basis": "SLA events reported by the help desk"}
    return {k: ratio_cell(met, n, details=basis) for k, (met, n) in counts.items()}


@metric(
    "sla_attainment",
    shares=TICKET_FACTS,
    title="SLA attainment",
    description=(
        "Share of SLA targets met. Targets come from the configured SLA policies ([[sla]] in the "
        "KPI config): per ticket priority, a first-response target (first_response_time within "
        "N minutes) and a resolution target (resolution_time: final solve within N minutes), "
        "each in calendar or business time: a policy with business_hours = true is always "
        "measured in business hours, on each ticket's own schedule (changes included), even in "
        "a calendar-time query; false pins calendar time; unset follows the query. "
        "Each ticket x target counts once: met at the fulfilling event, breached when the "
        "target ran out; targets still running are excluded. A solved-then-reopened ticket's "
        "resolution target runs until its final solve. Without a configured policy, the help "
        "desk's own SLA verdicts are used where it reports them (sla_events: each applied SLA "
        "target counts as met at its fulfilled event, or as breached at its breached event "
        "when that came first); otherwise null, with a note in details."
    ),
    unit="ratio",
    direction="higher",
    anchor="the fulfilling response / solve, or the moment the target ran out",
)
def sla_attainment(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    config = _policies(query)
    if not config.sla:
        reported = _helpdesk_sla(conn, query)
        if reported is not None:
            return emit(m, query, reported)
        note = {"note": "no SLA policy configured: add [[sla]] entries to the KPI config"}
        return emit(m, query, {}, fill=Cell(None, 0, details=note))
    pinned = [pol for pol in config.sla if pol.business_hours is True]
    if pinned and query.schedules is None:
        # Measuring them on the calendar instead would give other numbers than the policy's.
        raise KpiError(
            f"the SLA policy for {_policy_name(pinned[0])} is pinned to business hours "
            "(business_hours = true in [[sla]]), but no business-hours schedule is configured: "
            "set DESKPULSE_SCHEDULES to a schedules file or sync a help desk that provides "
            "schedules"
        )
    longest = max(max(p.first_response_minutes or 0, p.resolution_minutes or 0) for p in config.sla)
    p = window(query)
    key = key_function(group_names(query))
    fallback = clock(query)
    schedules = query.schedules
    now = now_ms()
    counts: dict[CellKey, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # fr met/all, res met/all
    # Business-time targets stretch over nights, weekends and holidays (a 40-hour week is 4.2x
    # shorter than a calendar week), so their tickets are looked for further back.
    in_business = query.business_hours or any(pol.business_hours for pol in config.sla)
    needed_ms = longest * 60_000 * (4.2 if in_business else 1) + (14 if in_business else 1) * DAY_MS
    for f in facts(conn, query, needed_ms):
        policy = config.sla_policy(f.priority)
        if policy is None:
            continue
        clk = policy_clock(policy, schedules, fallback)
        assert clk is not None  # pinned policies without schedules were refused above
        key_tail = key(f)
        if policy.first_response_minutes is not None:
            limit_s = policy.first_response_minutes * 60
            ok, at = first_response_outcome(f, clk, limit_s, now)
            if ok is not None and at is not None:
                b = p.index_ms(at) if ok else due_bucket(clk, f, p, f.created_ms, limit_s)
                if b is not None:
                    c = counts[(b, key_tail)]
                    c[0] += ok
                    c[1] += 1
        if policy.resolution_minutes is not None:
            limit_s = policy.resolution_minutes * 60
            res_ok = resolution_outcome(f, clk, limit_s, now)
            if res_ok is not None:
                if res_ok:
                    b = p.index_ms(f.last_solve_ms)
                else:
                    b = due_bucket(clk, f, p, f.created_ms, limit_s)
                if b is not None:
                    c = counts[(b, key_tail)]
                    c[2] += res_ok
                    c[3] += 1
    cells = {}
    for k, (fr_met, fr_all, res_met, res_all) in counts.items():
        n = fr_all + res_all
        if n:
            cells[k] = Cell(
                (fr_met + res_met) / n,
                n,
                details={
                    "first_response": {"met": fr_met, "measured": fr_all},
                    "resolution": {"met": res_met, "measured": res_all},
                },
            )
    return emit(m, query, cells)


MEASURES: dict[str, Measure] = {
    "first_response_time": _first_response,
    "resolution_time": _full_resolution,
}
"""Per-ticket measures of the duration metrics: (anchor epoch-ms, seconds) for one ticket."""


def ticket_durations(conn: Connection, query: KpiQuery, metric_id: str) -> list[float]:
    """The per-ticket seconds behind a duration metric over the query's whole window (ungrouped):
    the same tickets and clock as the metric, so their mean, median and p90 are the metric's."""
    measure, clk, p = MEASURES[metric_id], clock(query), window(query)
    durations = []
    for f in facts(conn, query):
        item = measure(f, clk)
        if item is not None and p.start_ms <= item[0] < p.end_ms:
            durations.append(item[1])
    return durations
