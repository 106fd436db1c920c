"""Per-ticket facts derived from a ticket and its events, and their windowed loading.

The pure part, `ticket_facts(ticket, events)`, reads one ticket's events (time-ordered tuples
`(t_ms, kind, author_kind, public, status)`, times in epoch milliseconds) and derives what the
ticket metrics need, following KPI_CATALOG.md section 2:

- Only public messages by an `agent` (a reply) or a `customer` count as messages. Internal notes
  (public = false) and `bot` / `system` messages are ignored: they never stop or start a clock.
  A message before the ticket's creation (clock skew between sources) counts at creation.
- `first_reply_ms`: the first agent message. When an agent opened the ticket (its first counted
  message is an agent's), the clock stops instead at the first agent message after the first
  customer message; with no customer message it never stops (None). The clock starts at
  `created_at` either way (Zendesk's reading).
- `reply_gaps`: for each run of customer messages not yet answered, (first unanswered customer
  message, next agent message). A run still unanswered is not a gap.
- Solves: each transition from a non-solved status into `solved` or `closed` (a status event) is a
  solve; `first_solve_ms` / `last_solve_ms` are the first and last. Closing an already solved
  ticket is not a new solve. Without status events, the ticket's own solved_at (else closed_at)
  is both, for a ticket solved or closed now. `reopens` counts transitions from solved/closed
  back to any other status.
- `status_spans`: (status, start_ms, end_ms) for `new`, `open`, `pending` and `hold` between
  status events, starting at `created_at` in status `new` (or the status of a status event at
  that instant). Only known when the ticket has status events (else None). The span of the
  current status is open-ended and not listed.
- `customer_messages`, `agent_messages`: counts of counted public messages;
  `last_public_author`: `agent` / `customer` / None.
- `wait_ms`, `work_ms`, `hold_ms`: calendar time in new+open+hold, new+open, hold (the sums of
  the spans, precomputed for the calendar-time fast path).

Internally an event is a token "<code><t_ms>": `c` / `a` for a customer / agent message, the
upper-case initial of a status (see STATUS_CODES); `derive(ticket_row, tokens)` is the core.

The loading part, `load_facts(conn, query, lookback_ms)` (memoised per `compute()` call), reads
the tickets relevant to a window: created in [start - lookback, end), or created before that and
solved or closed in the window or changed in it (`updated_at` >= start, or an event in the
window when `updated_at` is unknown); deleted tickets are left out. One row per ticket: its
columns plus all its counted events folded into one token string by a correlated aggregate
(SQLite group_concat over ix_ticket_events_ticket, PostgreSQL string_agg ... ORDER BY), so a
year crosses the driver as a million rows, not nine million. Rows are streamed (fetchmany /
server-side cursor); memory holds the compact facts, not the events. Timestamps are epoch
milliseconds computed in SQL (`engine.epoch_ms`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

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
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from deskpulse.kpi_core.periods import to_ms
from deskpulse.kpi_core.registry import KpiQuery
from deskpulse.kpi_core.tables import TICKET_EVENTS as EVENTS
from deskpulse.kpi_core.tables import TICKETS
from deskpulse.kpi_core.toolkit import epoch_ms, shared, source_filter

Event = tuple[int, str, str | None, bool | None, str | None]
"""(t_ms, kind, author_kind, public, status)"""

SOLVED = frozenset({"solved", "closed"})
SPAN_STATUSES = frozenset({"new", "open", "pending", "hold"})

TICKET_FACTS = "ticket_facts"
"""The `shares` tag of metrics computed from `load_facts` (see registry.Metric.shares)."""


@dataclass(slots=True)
class TicketFacts:
    # Ticket attributes (dimensions and what schedules / issues need).
    source: str
    id: str
    created_ms: int
    status: str | None
    assignee_id: str | None
    group: str | None
    channel: str | None
    type: str | None
    priority: str | None
    tags: str | None
    subject: str | None
    requester_id: str | None
    extra: Any
    # Derived from events.
    first_reply_ms: int | None
    reply_gaps: list[tuple[int, int]]
    first_solve_ms: int | None
    last_solve_ms: int | None
    reopens: int
    customer_messages: int
    agent_messages: int
    last_public_author: str | None
    status_spans: list[tuple[str, int, int]] | None
    # Calendar milliseconds in new+open+hold, new+open and hold (0 without status events).
    wait_ms: int = 0
    work_ms: int = 0
    hold_ms: int = 0

    @property
    def solved(self) -> bool:
        """Solved or closed now (its last solve is final)."""
        return self.status in SOLVED

    def dim(self, name: str) -> Any:
        """Value of dimension `name` (agent, group, channel, type, priority, source)."""
        return self.assignee_id if name == "agent" else getattr(self, name)


class TicketRow(NamedTuple):
    """The ticket columns `derive` reads (times in epoch ms), in the loader's column order."""

    source: str
    id: str
    created_ms: int
    status: str | None = None
    solved_ms: int | None = None
    closed_ms: int | None = None
    assignee_id: str | None = None
    group: str | None = None
    channel: str | None = None
    type: str | None = None
    priority: str | None = None
    tags: str | None = None
    subject: str | None = None
    requester_id: str | None = None
    extra: Any = None


# Each counted event becomes (t_ms, code): "c" a public customer message, "a" a public agent
# message, an upper-case letter a status change. The loader builds the same codes in SQL.
STATUS_CODES = {
    "new": "N",
    "open": "O",
    "pending": "P",
    "hold": "H",
    "solved": "S",
    "closed": "C",
    "deleted": "D",
}
OTHER_STATUS = "X"
STATUS_NAMES = {code: name for name, code in STATUS_CODES.items()} | {OTHER_STATUS: "other"}
_SOLVED_CODES = frozenset({"S", "C"})
_SPAN_CODES = frozenset({"N", "O", "P", "H"})


def event_tokens(events: Iterable[Sequence[Any]]) -> list[str]:
    """`Event` tuples -> "<code><t_ms>" tokens, dropping what never counts (internal notes,
    bot and system messages)."""
    out = []
    for ev in events:
        t, kind, author, public, status = ev[0], ev[1], ev[2], ev[3], ev[4]
        if kind == "message":
            if public is not None and not public:
                continue
            if author == "customer":
                out.append(f"c{t}")
            elif author == "agent":
                out.append(f"a{t}")
        elif kind == "status" and status:
            out.append(f"{STATUS_CODES.get(status, OTHER_STATUS)}{t}")
    return out


def ticket_facts(ticket: TicketRow, events: Iterable[Sequence[Any]]) -> TicketFacts:
    """Derive one ticket's facts from its `Event` tuples (in time order); see the module docstring."""
    return derive(ticket, event_tokens(events))


def derive(ticket: Sequence[Any], tokens: Sequence[str], keep_spans: bool = True) -> TicketFacts:
    """The facts of one ticket (a `TicketRow`, or a loader row in that column order) from its
    "<code><t_ms>" event tokens in time order (re-sorted, stably, if they are not).

    Without `keep_spans`, `status_spans` stays [] (None without status events): the calendar
    sums are all the metrics need outside business time.
    """
    created = ticket[2]
    first_author: str | None = None
    first_customer: int | None = None
    first_reply: int | None = None
    unanswered: int | None = None
    gaps: list[tuple[int, int]] = []
    n_customer = n_agent = 0
    last_author: str | None = None

    state = "N"
    span_start = created
    spans: list[tuple[str, int, int]] | None = None
    wait = work = hold = 0
    first_solve: int | None = None
    last_solve: int | None = None
    reopens = 0

    previous = 0
    for token in tokens:
        t = int(token[1:])
        if t < previous:
            return derive(ticket, sorted(tokens, key=_token_time), keep_spans)
        previous = t
        code = token[0]
        if t < created:
            t = created
        if code == "c":
            n_customer += 1
            last_author = "customer"
            if first_author is None:
                first_author = "customer"
            if first_customer is None:
                first_customer = t
            if unanswered is None:
                unanswered = t
        elif code == "a":
            n_agent += 1
            last_author = "agent"
            if first_author is None:
                first_author = "agent"
            if first_reply is None and (first_author == "customer" or first_customer is not None):
                first_reply = t
            if unanswered is not None:
                gaps.append((unanswered, t))
                unanswered = None
        else:
            if spans is None:
                spans = []
            if code == state:
                continue
            if t > span_start and state in _SPAN_CODES:
                if keep_spans:
                    spans.append((STATUS_NAMES[state], span_start, t))
                took = t - span_start
                if state == "H":
                    wait += took
                    hold += took
                elif state != "P":
                    wait += took
                    work += took
            if code in _SOLVED_CODES:
                if state not in _SOLVED_CODES:
                    if first_solve is None:
                        first_solve = t
                    last_solve = t
            elif state in _SOLVED_CODES:
                reopens += 1
            state = code
            span_start = t

    status = ticket[3]
    if first_solve is None and status in SOLVED:
        fallback = ticket[4] if ticket[4] is not None else ticket[5]
        if fallback is not None:
            first_solve = last_solve = max(fallback, created)

    return TicketFacts(
        ticket[0],
        ticket[1],
        created,
        status,
        ticket[6],
        ticket[7],
        ticket[8],
        ticket[9],
        ticket[10],
        ticket[11],
        ticket[12],
        ticket[13],
        ticket[14],
        first_reply,
        gaps,
        first_solve,
        last_solve,
        reopens,
        n_customer,
        n_agent,
        last_author,
        spans,
        wait,
        work,
        hold,
    )


def parse_codes(text: str | None) -> list[tuple[int, str]]:
    """The loader's "c1767261600000,a1767261900000,S..." string -> time-ordered (t_ms, code)."""
    if not text:
        return []
    seq = [(int(tok[1:]), tok[0]) for tok in text.split(",")]
    previous = seq[0][0]
    for t, _ in seq:
        if t < previous:
            seq.sort(key=_time)  # stable: ties keep the database's order
            break
        previous = t
    return seq


def _time(item: tuple[int, str]) -> int:
    return item[0]


def _token_time(token: str) -> int:
    return int(token[1:])


def tag_list(tags: str | None) -> list[str]:
    """`;`-separated tags, trimmed and lower-cased (commas and spaces accepted too)."""
    if not tags:
        return []
    out = []
    for part in tags.replace(",", ";").split(";"):
        for word in part.split():
            if word:
                out.append(word.strip().lower())
    return out


# --- loading ---------------------------------------------------------------------------------


def _not_deleted() -> ColumnElement[bool]:
    return or_(TICKETS.c.status.is_(None), TICKETS.c.status != "deleted")


def _older_keys(query: KpiQuery, lo: datetime) -> Any:
    """(source, id) of tickets created before `lo` that may matter to the window.

    Those solved or closed in the window, and those with events in it. For the latter, a ticket's
    `updated_at` (the vendor's last-change time, never before its latest event) stands in for
    an event search: one pass over the older tickets instead of a probe per event in the window.
    Tickets without `updated_at` are searched through their events.
    """
    t, e = TICKETS, EVENTS
    start, end = query.start, query.end
    has_event = (
        exists()
        .where(
            e.c.source == t.c.source,
            e.c.ticket_id == t.c.id,
            e.c.created_at >= start,
            e.c.created_at < end,
        )
        .correlate(t)
    )
    return (
        select(t.c.source, t.c.id)
        .where(
            t.c.created_at < lo,
            _not_deleted(),
            source_filter(t.c.source, query),
            or_(
                and_(t.c.solved_at >= start, t.c.solved_at < end),
                and_(t.c.solved_at.is_(None), t.c.closed_at >= start, t.c.closed_at < end),
                t.c.updated_at >= start,
                and_(t.c.updated_at.is_(None), has_event),
            ),
        )
        .subquery("older")
    )


def _counted_events() -> ColumnElement[bool]:
    """Events `derive` can use: status changes and public agent/customer messages."""
    e = EVENTS
    return or_(
        and_(e.c.kind == "status", e.c.status.is_not(None), e.c.status != ""),
        and_(
            e.c.kind == "message",
            e.c.author_kind.in_(("agent", "customer")),
            or_(e.c.public.is_(None), e.c.public != false()),
        ),
    )


def _event_token() -> ColumnElement[Any]:
    """SQL for one counted event's "<code><epoch ms>" token (see STATUS_CODES).

    Messages are "c"/"a" (author_kind's initial); status changes their status's initial, upper
    case, which is exact because ticket_events.status only holds the catalog's statuses
    (kpi_core.canonical validates it on the way in) and their initials differ.
    """
    e = EVENTS
    code = case(
        (e.c.kind == "message", func.substr(e.c.author_kind, 1, 1)),
        else_=func.upper(func.substr(e.c.status, 1, 1)),
    )
    return code.concat(cast(epoch_ms(e.c.created_at), String))


class concat_events(FunctionElement[str]):
    """Aggregate: the tokens of a ticket's events joined by ",", in time order.

    PostgreSQL orders inside the aggregate. SQLite 3.40 has no ORDER BY in aggregates; its
    group_concat sees the rows in the order of the (source, ticket_id, created_at) index it
    walks, and `parse_codes` re-sorts (stably) in the rare case that order does not hold.
    """

    type = String()
    inherit_cache = True
    name = "concat_events"


@compiles(concat_events, "postgresql")
def _concat_events_pg(element: concat_events, compiler: SQLCompiler, **kw: Any) -> str:
    token, at, key = (compiler.process(c, **kw) for c in element.clauses)
    return f"string_agg({token}, ',' ORDER BY {at}, {key})"


@compiles(concat_events)
def _concat_events_default(element: concat_events, compiler: SQLCompiler, **kw: Any) -> str:
    token = compiler.process(next(iter(element.clauses)), **kw)
    return f"group_concat({token}, ',')"


def raw_rows(conn: Connection, stmt: Any, size: int = 20_000) -> Iterator[Sequence[Any]]:
    """Rows of `stmt` fetched in chunks, as cheaply as the dialect allows.

    SQLite: plain DBAPI tuples straight from the cursor (no per-row result processing; only for
    columns that need none: text, numbers, epoch_ms; booleans come back as 0/1). PostgreSQL: a
    server-side cursor read in partitions, so a year of tickets never sits in client memory.
    """
    if conn.dialect.name == "sqlite":
        result = conn.execute(stmt)
        cursor = result.cursor
        try:
            while rows := cursor.fetchmany(size):
                yield from rows
        finally:
            result.close()
        return
    result = conn.execution_options(stream_results=True, yield_per=size).execute(stmt)
    try:
        for part in result.partitions():
            yield from part
    finally:
        result.close()


def _columns(with_extra: bool) -> list[Any]:
    """The loader's columns: a `TicketRow`'s, then the ticket's event tokens (see derive)."""
    t, e = TICKETS, EVENTS
    events = (
        select(concat_events(_event_token(), e.c.created_at, e.c.id))
        .where(e.c.source == t.c.source, e.c.ticket_id == t.c.id, _counted_events())
        .correlate(t)
        .scalar_subquery()
    )
    return [
        t.c.source,
        t.c.id,
        epoch_ms(t.c.created_at),
        t.c.status,
        epoch_ms(t.c.solved_at),
        epoch_ms(t.c.closed_at),
        t.c.assignee_id,
        t.c.group,
        t.c.channel,
        t.c.type,
        t.c.priority,
        t.c.tags,
        t.c.subject,
        t.c.requester_id,
        t.c.extra if with_extra else literal(None),
        events,
    ]


def facts_where(
    conn: Connection, *where: ColumnElement[bool], with_extra: bool = True
) -> Iterator[TicketFacts]:
    """The facts of every non-deleted ticket matching `where` (conditions on the tickets table),
    with status spans, and `extra` when `with_extra` (business hours read schedules from it)."""
    stmt = select(*_columns(with_extra)).where(_not_deleted(), *where)
    return _derive_rows(conn, stmt, keep_spans=True)


def _statements(
    conn: Connection, query: KpiQuery, lookback_ms: int, with_extra: bool
) -> tuple[Callable[[datetime, datetime], Any], datetime, list[Any]]:
    """(recent(lo, hi) -> statement for tickets created in [lo, hi), lo, [older statement])."""
    t = TICKETS
    lo = query.start if not lookback_ms else _shift(query.start, -lookback_ms)
    keep = and_(_not_deleted(), source_filter(t.c.source, query))
    columns = _columns(with_extra)

    def recent(since: datetime, until: datetime) -> Any:
        return select(*columns).where(t.c.created_at >= since, t.c.created_at < until, keep)

    older: list[Any] = []
    any_older = (
        conn.execute(select(literal(1)).where(exists().where(t.c.created_at < lo, keep))).first()
        is not None
    )
    if any_older:
        keys = _older_keys(query, lo)
        on_older = and_(t.c.source == keys.c.source, t.c.id == keys.c.id)
        older.append(select(*columns).select_from(t.join(keys, on_older)))
    return recent, lo, older


def _derive_rows(conn: Connection, stmt: Any, keep_spans: bool = True) -> Iterator[TicketFacts]:
    for r in raw_rows(conn, stmt):
        yield derive(r, r[15].split(",") if r[15] else (), keep_spans)


def iter_facts(
    conn: Connection, query: KpiQuery, lookback_ms: int = 0, *, with_extra: bool = False
) -> Iterator[TicketFacts]:
    """Stream the facts of every ticket relevant to the query's window (see module docstring).

    One row per ticket: its columns plus its counted events folded into one string by a
    correlated aggregate over ix_ticket_events_ticket, so a year of events crosses the driver
    as a million strings rather than nine million rows. Tickets created before the window (less
    the lookback) come in through a second statement (see `_older_keys`).
    """
    recent, lo, older = _statements(conn, query, lookback_ms, with_extra)
    for stmt in [recent(lo, query.end), *older]:
        yield from _derive_rows(conn, stmt)


def _load(
    conn: Connection, query: KpiQuery, lookback_ms: int, with_extra: bool
) -> list[TicketFacts]:
    # One thread on purpose: a second connection in a worker thread was measured slower (SQLite's
    # serialized mutexes and the GIL make two readers in one process contend).
    recent, lo, older = _statements(conn, query, lookback_ms, with_extra)
    keep_spans = with_extra
    return [
        f for stmt in [recent(lo, query.end), *older] for f in _derive_rows(conn, stmt, keep_spans)
    ]


def _shift(when: datetime, delta_ms: int) -> datetime:
    return when + timedelta(milliseconds=delta_ms)


def load_facts(conn: Connection, query: KpiQuery, lookback_ms: int = 0) -> list[TicketFacts]:
    """The facts of the window's tickets as a list, shared by every metric of one `compute()`.

    Status spans and `extra` are kept only when the query carries schedules (business-time
    queries, and calendar ones whose SLA policies pin business hours): calendar time uses the
    facts' precomputed sums, so `status_spans` is otherwise [] for tickets with status events.
    A ticket's schedule comes from `extra` (`schedule`, `schedule_changes`).
    """
    with_extra = query.schedules is not None
    key = (
        TICKET_FACTS,
        query.start,
        query.end,
        lookback_ms,
        tuple(query.sources or ()),
        with_extra,
    )
    return shared(key, lambda: _load(conn, query, lookback_ms, with_extra))


__all__ = [
    "SOLVED",
    "TICKET_FACTS",
    "Event",
    "TicketFacts",
    "TicketRow",
    "facts_where",
    "iter_facts",
    "load_facts",
    "tag_list",
    "ticket_facts",
    "to_ms",
]
