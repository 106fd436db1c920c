"""Ticket volume and workload metrics: counts per type and agent, backlog, open cases, rates.

Counts are aggregated in SQL (GROUP BY bucket and group columns); backlog and open cases, which
are states at the end of each period, are computed from compact per-ticket rows in Python.
A ticket's final solve is `solved_at` (else `closed_at`) while its status is solved/closed; a
ticket not solved/closed now counts as unsolved since its creation.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import replace
from itertools import chain
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from deskpulse.kpi_core.canonical import DEFAULT_SCALES
from deskpulse.kpi_core.facts import (
    SOLVED,
    TICKET_FACTS,
    concat_events,
    parse_codes,
    raw_rows,
    tag_list,
)
from deskpulse.kpi_core.metrics.tickets_common import (
    DAY_MS,
    TICKET_COLUMNS,
    facts,
    key_function,
    not_deleted,
    solve_time_sql,
)
from deskpulse.kpi_core.registry import KpiQuery, KpiValue, Metric, Param, metric
from deskpulse.kpi_core.stats import median
from deskpulse.kpi_core.tables import SURVEY_RESPONSES as SURVEYS
from deskpulse.kpi_core.tables import TICKET_EVENTS as EVENTS
from deskpulse.kpi_core.tables import TICKETS
from deskpulse.kpi_core.toolkit import (
    Cell,
    CellKey,
    GroupKey,
    bucket_sql,
    clock,
    count_cell,
    emit,
    epoch_ms,
    group_names,
    group_sql,
    in_window,
    ratio_cell,
    shared,
    source_filter,
    window,
)


def _ticket_filter(query: KpiQuery) -> ColumnElement[bool]:
    return and_(not_deleted(), source_filter(TICKETS.c.source, query))


def _solved_in_window(query: KpiQuery) -> ColumnElement[bool]:
    """Now solved/closed with the final solve in the window (index-friendly on solved_at)."""
    t = TICKETS
    return and_(
        t.c.status.in_(tuple(SOLVED)),
        or_(
            in_window(t.c.solved_at, query),
            and_(t.c.solved_at.is_(None), in_window(t.c.closed_at, query)),
        ),
    )


def _grouped_counts(
    conn: Connection,
    query: KpiQuery,
    anchor: Any,
    where: ColumnElement[bool],
    natural: tuple[str, ...] = (),
) -> dict[CellKey, int]:
    """COUNT(*) of tickets per (bucket of `anchor`, group columns)."""
    groups = group_sql(query, TICKET_COLUMNS, natural)
    bucket = bucket_sql(anchor, query).label("b")
    stmt = (
        select(bucket, *groups, func.count())
        .select_from(TICKETS)
        .where(where, _ticket_filter(query))
        .group_by(bucket, *groups)
    )
    return {(int(r[0]), tuple(r[1:-1])): int(r[-1]) for r in conn.execute(stmt)}


@metric(
    "tickets_by_type",
    title="Tickets by type",
    description="Tickets created in the period, counted per ticket type (rows grouped by type).",
    unit="count",
    direction="neutral",
    anchor="created_at",
)
def tickets_by_type(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    t = TICKETS
    counts = _grouped_counts(
        conn, query, t.c.created_at, in_window(t.c.created_at, query), ("type",)
    )
    cells = {k: count_cell(n) for k, n in counts.items()}
    return emit(m, query, cells, natural=("type",))


@metric(
    "tickets_per_agent",
    title="Tickets per agent",
    description=(
        "Tickets created in the period, counted per assignee (unassigned tickets left out); "
        "rows ordered most active first."
    ),
    unit="count",
    direction="neutral",
    anchor="created_at",
)
def tickets_per_agent(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    t = TICKETS
    where = and_(in_window(t.c.created_at, query), t.c.assignee_id.is_not(None))
    counts = _grouped_counts(conn, query, t.c.created_at, where, ("agent",))
    cells = {k: count_cell(n) for k, n in counts.items()}
    return emit(m, query, cells, natural=("agent",), order=_best_first, all_groups=False)


def _best_first(group: GroupKey, cell: Cell) -> tuple[float, tuple[Any, ...]]:
    return (-(cell.value or 0.0), tuple(str(v) for v in group))


@metric(
    "resolution_rate",
    title="Resolution rate",
    description=(
        "Tickets solved in the period (final solve) / tickets created in the period; by agent "
        "that is solved / assigned (created in the period with that assignee). Can exceed 1 when "
        "a period solves more than it receives. Null when no ticket was created."
    ),
    unit="ratio",
    direction="higher",
    anchor="created_at (denominator) and the final solve (numerator)",
)
def resolution_rate(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    t = TICKETS
    created = _grouped_counts(conn, query, t.c.created_at, in_window(t.c.created_at, query))
    solved = _grouped_counts(
        conn, query, func.coalesce(t.c.solved_at, t.c.closed_at), _solved_in_window(query)
    )
    cells = {}
    for k in created.keys() | solved.keys():
        s, c = solved.get(k, 0), created.get(k, 0)
        cells[k] = ratio_cell(s, c, {"solved": s, "created": c})
    return emit(m, query, cells)


# --- recurring incidents -----------------------------------------------------------------------

_STRIP = re.compile(r"\S*\d\S*|[^\w\s]+")  # tokens holding a digit (ids, numbers), punctuation
_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg)\s*:\s*)+")


def normalize_subject(subject: str | None) -> str:
    """Lower-case, reply prefixes, tokens with digits (ids, numbers) and punctuation stripped."""
    if not subject:
        return ""
    text = subject.lower()
    if ":" in text:
        text = _PREFIX.sub("", text)
    return " ".join(_STRIP.sub(" ", text).split())


@metric(
    "recurring_incidents",
    title="Recurring incidents",
    description=(
        "Issues seen at least min_occurrences times among the tickets created in the period. An "
        "issue is the ticket type plus its normalised subject (lower-case, reply prefixes, "
        "digits/ids and punctuation stripped), or a tag shared by tickets ('tag:NAME'). "
        "Value = the number of such issues; details.top lists the 10 most frequent. "
        "n = tickets examined."
    ),
    unit="count",
    direction="lower",
    anchor="created_at",
    params=(Param("min_occurrences", 3, "occurrences that make an issue recurring"),),
)
def recurring_incidents(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    t = TICKETS
    threshold = max(1, int(m.param(query, "min_occurrences")))
    groups = group_sql(query, TICKET_COLUMNS)
    stmt = select(
        bucket_sql(t.c.created_at, query), t.c.type, t.c.subject, t.c.tags, *groups
    ).where(in_window(t.c.created_at, query), _ticket_filter(query))
    issues: dict[CellKey, Counter[str]] = defaultdict(Counter)
    tickets: Counter[CellKey] = Counter()
    # Subjects and tag sets repeat a lot: normalise each distinct value once.
    subjects: dict[tuple[str | None, str | None], tuple[str, ...]] = {}
    tag_sets: dict[str | None, tuple[str, ...]] = {}

    def issues_of(row: Sequence[Any]) -> tuple[str, ...]:
        pair = (row[1], row[2])
        found = subjects.get(pair)
        if found is None:
            subject = normalize_subject(row[2])
            kind = (row[1] or "").strip().lower() or "untyped"
            found = subjects[pair] = (f"{kind}: {subject}",) if subject else ()
        tags = tag_sets.get(row[3])
        if tags is None:
            tags = tag_sets[row[3]] = tuple(f"tag:{t}" for t in dict.fromkeys(tag_list(row[3])))
        return found + tags

    if len(window(query)) == 1 and not groups:
        # A whole window without groups: one counter fed by an iterator chain.
        rows = list(raw_rows(conn, stmt))
        if rows:
            tickets[(0, ())] = len(rows)
            issues[(0, ())] = Counter(chain.from_iterable(map(issues_of, rows)))
    else:
        for row in raw_rows(conn, stmt):
            key = (row[0], tuple(row[4:]))
            tickets[key] += 1
            found = issues_of(row)
            if found:
                issues[key].update(found)
    cells = {}
    for key, n in tickets.items():
        counted = issues.get(key, Counter())
        recurring = [(issue, c) for issue, c in counted.items() if c >= threshold]
        recurring.sort(key=lambda item: (-item[1], item[0]))
        top = [{"issue": issue, "count": c} for issue, c in recurring[:10]]
        cells[key] = Cell(float(len(recurring)), n, details={"top": top})
    return emit(m, query, cells)


# --- top agents --------------------------------------------------------------------------------


def _csat_positive(score: float, lo: float | None, hi: float | None) -> bool:
    low, high = DEFAULT_SCALES["csat"]
    lo = low if lo is None else lo
    hi = high if hi is None else hi
    if (lo, hi) == (1, 5):
        return score >= 4
    return hi > lo and (score - lo) / (hi - lo) >= 0.75


@metric(
    "top_agents",
    shares=TICKET_FACTS,
    title="Top agents",
    description=(
        "Agents ranked by tickets solved in the period (final solve, by assignee); value = "
        "solved count, rows best first. details: median first_response_time (minutes, calendar "
        "or business time as asked) of the agent's tickets first answered in the period, and "
        "csat (positive / responses, as in csat) of csat responses in the period credited to "
        "the agent (the response's agent_id, else its ticket's assignee)."
    ),
    unit="count",
    direction="higher",
    anchor="the final solve",
)
def top_agents(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    t = TICKETS
    natural = ("agent",)
    solved = _grouped_counts(
        conn,
        query,
        func.coalesce(t.c.solved_at, t.c.closed_at),
        and_(_solved_in_window(query), t.c.assignee_id.is_not(None)),
        natural,
    )
    if not solved:
        return emit(m, query, {}, natural=natural)
    p = window(query)
    key = key_function(group_names(query, natural))
    frt: dict[CellKey, list[float]] = defaultdict(list)
    clk = clock(query)
    for f in facts(conn, query):
        if f.first_reply_ms is None or f.assignee_id is None:
            continue
        b = p.index_ms(f.first_reply_ms)
        if b is not None:
            frt[(b, key(f))].append(clk.seconds(f, f.created_ms, f.first_reply_ms))
    csat = _csat_by_agent(conn, query)
    cells = {}
    for ck, n in solved.items():
        b, group = ck
        agent = group[0]
        pos, total = csat.get((b, agent), (0, 0))
        med = median(frt.get(ck, []))
        cells[ck] = Cell(
            float(n),
            n,
            details={
                "first_response_time_median": None if med is None else med / 60,
                "csat": pos / total if total else None,
                "csat_responses": total,
            },
        )
    return emit(m, query, cells, natural=natural, order=_best_first, all_groups=False)


def _csat_by_agent(conn: Connection, query: KpiQuery) -> dict[tuple[int, Any], tuple[int, int]]:
    s, t = SURVEYS, TICKETS
    agent = func.coalesce(s.c.agent_id, t.c.assignee_id)
    stmt = (
        select(bucket_sql(s.c.created_at, query), agent, s.c.score, s.c.scale_min, s.c.scale_max)
        .select_from(s.outerjoin(t, and_(t.c.source == s.c.source, t.c.id == s.c.ticket_id)))
        .where(
            s.c.survey == "csat",
            s.c.score.is_not(None),
            in_window(s.c.created_at, query),
            source_filter(s.c.source, query),
        )
    )
    out: dict[tuple[int, Any], list[int]] = defaultdict(lambda: [0, 0])
    for b, who, score, lo, hi in conn.execute(stmt):
        if who is None:
            continue
        c = out[(int(b), who)]
        c[0] += _csat_positive(float(score), lo, hi)
        c[1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


# --- backlog and open cases ------------------------------------------------------------------


def _series_query(query: KpiQuery) -> KpiQuery:
    """Backlog is a daily series when no period is asked."""
    return query if query.every is not None else replace(query, every="day")


def _backlog_rows(conn: Connection, query: KpiQuery) -> list[tuple[Any, ...]]:
    """(created_ms, final_solve_ms or None, *group) of tickets possibly unsolved at a bucket end."""
    t = TICKETS
    p = window(query)
    solve = solve_time_sql()
    stmt = select(
        epoch_ms(t.c.created_at), epoch_ms(solve), *group_sql(query, TICKET_COLUMNS)
    ).where(
        t.c.created_at < query.end,
        _ticket_filter(query),
        or_(solve.is_(None), solve >= p.edges[1]),
    )
    return [tuple(r) for r in raw_rows(conn, stmt)]


def _backlog(conn: Connection, query: KpiQuery, m: Metric, aged_ms: int) -> list[KpiValue]:
    """Tickets unsolved at each bucket end E (and created before E - aged_ms)."""
    t = TICKETS
    p = window(query)
    ends = p.edges_ms[1:]
    key = (
        "backlog",
        query.start,
        query.end,
        query.every,
        query.tz,
        query.by,
        tuple(query.sources or ()),
    )
    rows = shared(key, lambda: _backlog_rows(conn, query))
    # Difference array over bucket ends: +1 from the first end the ticket is open (and aged) at,
    # -1 from the first end it is solved by.
    delta: dict[GroupKey, list[int]] = {}
    for row in rows:
        created, solved = row[0], row[1]
        first = bisect_right(ends, created + aged_ms)  # first end E with E > created + aged
        last = len(ends) if solved is None else bisect_right(ends, solved)  # ends E <= solved
        if first >= last:
            continue
        d = delta.setdefault(tuple(row[2:]), [0] * (len(ends) + 1))
        d[first] += 1
        d[last] -= 1
    if not rows:
        any_ticket = conn.execute(
            select(literal(1)).where(
                exists().where(t.c.created_at < query.end, _ticket_filter(query))
            )
        ).first()
        if any_ticket is None:
            return emit(m, query, {})
    cells: dict[CellKey, Cell] = {}
    for group, d in delta.items():
        running = 0
        for i in range(len(ends)):
            running += d[i]
            cells[(i, group)] = Cell(float(running), running)
    return emit(m, query, cells, fill=Cell(0.0, 0))


@metric(
    "ticket_backlog",
    title="Ticket backlog",
    description=(
        "Tickets not solved/closed at the end of each period (created before it, final solve "
        "not before it): a daily series when no period is asked. Deleted tickets never count. "
        "Variant ticket_backlog_aged counts only those older than N days."
    ),
    unit="count",
    direction="lower",
    anchor="the end of each period",
)
def ticket_backlog(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    return _backlog(conn, _series_query(query), m, 0)


@metric(
    "ticket_backlog_aged",
    title="Aged ticket backlog",
    description=(
        "ticket_backlog counting only tickets older than `days` days at the end of each "
        "period (created more than days x 24 h before it)."
    ),
    unit="count",
    direction="lower",
    anchor="the end of each period",
    params=(Param("days", 7, "age in days above which an unsolved ticket is aged"),),
)
def ticket_backlog_aged(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    days = float(m.param(query, "days"))
    return _backlog(conn, _series_query(query), m, int(days * DAY_MS))


@metric(
    "open_cases",
    title="Open cases (waiting for us)",
    description=(
        "Tickets not solved/closed at the end of the period whose last public agent/customer "
        "message before then is the customer's (bot/system messages and internal notes "
        "ignored). With --every, evaluated at the end of each bucket."
    ),
    unit="count",
    direction="lower",
    anchor="the end of each period",
)
def open_cases(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    t, e = TICKETS, EVENTS
    p = window(query)
    ends = p.edges_ms[1:]
    solve = solve_time_sql()
    # Each candidate's public agent/customer messages before the window's end, folded into one
    # "<c|a><epoch ms>,..." string by a correlated aggregate (see kpi_core.facts).
    author = case((e.c.author_kind == "customer", literal("c")), else_=literal("a"))
    messages = (
        select(
            concat_events(
                author.concat(cast(epoch_ms(e.c.created_at), String)), e.c.created_at, e.c.id
            )
        )
        .where(
            e.c.source == t.c.source,
            e.c.ticket_id == t.c.id,
            e.c.kind == "message",
            e.c.author_kind.in_(("agent", "customer")),
            or_(e.c.public.is_(None), e.c.public != false()),
            e.c.created_at < query.end,
        )
        .correlate(t)
        .scalar_subquery()
    )
    stmt = select(
        epoch_ms(t.c.created_at), epoch_ms(solve), messages, *group_sql(query, TICKET_COLUMNS)
    ).where(
        t.c.created_at < query.end,
        _ticket_filter(query),
        or_(solve.is_(None), solve >= p.edges[1]),
    )
    counts: Counter[CellKey] = Counter()
    seen = False
    for row in raw_rows(conn, stmt):
        seen = True
        created, solved, text = row[0], row[1], row[2]
        if not text:
            continue
        timeline = parse_codes(text)
        times = [at for at, _ in timeline]
        first = bisect_right(ends, created)  # ends E > created
        last = len(ends) if solved is None else bisect_right(ends, solved)  # ends E <= solved
        group = tuple(row[3:])
        for i in range(first, last):
            j = bisect_left(times, ends[i]) - 1  # last message strictly before the end
            if j >= 0 and timeline[j][1] == "c":
                counts[(i, group)] += 1
    if not seen:
        return emit(m, query, {})
    cells = {k: Cell(float(n), n) for k, n in counts.items()}
    return emit(m, query, cells, fill=Cell(0.0, 0))
