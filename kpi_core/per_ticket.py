"""Per-ticket KPI values: what the aggregate ticket metrics measure, one ticket at a time.

`ticket_values(conn, tickets | since=...)` returns a `TicketValues` per ticket, computed from the
same per-ticket facts (kpi_core.facts) and the same measures as the metrics, so the aggregates
are exactly the aggregates of these values:

- `first_response_minutes`: as first_response_time (None until the first response).
- `first_resolution_minutes`: as first_resolution_time (the first solve).
- `resolution_minutes`: as resolution_time (the final solve; None unless solved or closed now).
- each also in business time (`*_business_minutes`) when `schedules` are given (else None).
- `sla_first_response_met`, `sla_resolution_met`: the ticket's targets from the configured SLA
  policies (`config.sla`), measured as sla_attainment measures them (the policy's own clock when
  it pins one, else business time when `business_hours`); None when no policy applies, the
  target still runs, or nothing awaits a response. `sla_met` combines them: False when any was
  breached, True when all that were decided were met.
- `requester_tickets_30d`: the requester's tickets (this one included, deleted ones not) created
  in the 30 days up to this ticket's creation. Anchored at creation rather than "now" so that the
  value of a ticket does not change every day (a help-desk field written from it stays put).

Deleted tickets are left out. Values are minutes (exact seconds / 60), as the metrics report.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from deskpulse.kpi_core.config import KpiConfig
from deskpulse.kpi_core.facts import SOLVED, TicketFacts, facts_where
from deskpulse.kpi_core.metrics.tickets_common import DAY_MS, not_deleted, now_ms
from deskpulse.kpi_core.metrics.tickets_speed import (
    first_response_outcome,
    policy_clock,
    resolution_outcome,
)
from deskpulse.kpi_core.periods import to_ms
from deskpulse.kpi_core.tables import TICKETS
from deskpulse.kpi_core.toolkit import Clock, epoch_ms

TicketKey = tuple[str, str]
"""(source, ticket id): ticket ids are unique per source only."""

REQUESTER_WINDOW_MS = 30 * DAY_MS
CALENDAR = Clock(None)
_CHUNK = 500  # keys per IN (...) list: well under every driver's parameter limit


@dataclass(frozen=True, slots=True)
class TicketValues:
    source: str
    id: str
    requester_id: str | None
    first_response_minutes: float | None
    first_response_business_minutes: float | None
    first_resolution_minutes: float | None
    first_resolution_business_minutes: float | None
    resolution_minutes: float | None
    resolution_business_minutes: float | None
    sla_first_response_met: bool | None
    sla_resolution_met: bool | None
    requester_tickets_30d: int

    @property
    def sla_met(self) -> bool | None:
        decided = [
            v for v in (self.sla_first_response_met, self.sla_resolution_met) if v is not None
        ]
        return all(decided) if decided else None

    def get(self, name: str) -> Any:
        """A value by name (the write-back configuration names them), `sla_met` included."""
        if name not in VALUE_NAMES:
            raise KeyError(name)
        return getattr(self, name)


VALUE_NAMES: tuple[str, ...] = (
    "first_response_minutes",
    "first_response_business_minutes",
    "first_resolution_minutes",
    "first_resolution_business_minutes",
    "resolution_minutes",
    "resolution_business_minutes",
    "sla_first_response_met",
    "sla_resolution_met",
    "sla_met",
    "requester_tickets_30d",
)
"""The per-ticket values a caller may ask for by name."""


def ticket_values(
    conn: Connection,
    tickets: Iterable[TicketKey] | None = None,
    *,
    since: datetime | None = None,
    sources: Sequence[str] | None = None,
    schedules: Any = None,
    business_hours: bool = False,
    config: KpiConfig | None = None,
    now: datetime | None = None,
) -> dict[TicketKey, TicketValues]:
    """Per-ticket values of the given tickets, or of those changed since `since` (updated_at,
    else created_at, at or after it), or of every ticket; optionally only of `sources`.

    `schedules` (a business_hours.ScheduleSet) enables the business-time values; `config`
    supplies the SLA policies; `now` (default: the current time) decides running SLA targets.
    """
    now_at = now_ms() if now is None else to_ms(now)
    fallback = Clock(schedules if business_hours else None)
    business = Clock(schedules) if schedules is not None else None
    policies = config or KpiConfig()
    rows = list(_facts(conn, tickets, since, sources, with_extra=schedules is not None))
    counts = _requester_counts(conn, rows)
    out: dict[TicketKey, TicketValues] = {}
    for f in rows:
        fr_met = res_met = None
        policy = policies.sla_policy(f.priority)
        clk = policy_clock(policy, schedules, fallback) if policy is not None else None
        if policy is not None and clk is not None:
            if policy.first_response_minutes is not None:
                fr_met = first_response_outcome(f, clk, policy.first_response_minutes * 60, now_at)[
                    0
                ]
            if policy.resolution_minutes is not None:
                res_met = resolution_outcome(f, clk, policy.resolution_minutes * 60, now_at)
        final = f.last_solve_ms if f.status in SOLVED else None
        out[(f.source, f.id)] = TicketValues(
            source=f.source,
            id=f.id,
            requester_id=f.requester_id,
            first_response_minutes=_minutes(CALENDAR, f, f.first_reply_ms),
            first_response_business_minutes=_minutes(business, f, f.first_reply_ms),
            first_resolution_minutes=_minutes(CALENDAR, f, f.first_solve_ms),
            first_resolution_business_minutes=_minutes(business, f, f.first_solve_ms),
            resolution_minutes=_minutes(CALENDAR, f, final),
            resolution_business_minutes=_minutes(business, f, final),
            sla_first_response_met=fr_met,
            sla_resolution_met=res_met,
            requester_tickets_30d=counts.get((f.source, f.id), 0),
        )
    return out


def _minutes(clk: Clock | None, f: TicketFacts, end_ms: int | None) -> float | None:
    """Minutes from creation to `end_ms` on `clk`; None without an end or a clock."""
    if end_ms is None or clk is None:
        return None
    return clk.seconds(f, f.created_ms, end_ms) / 60


def _facts(
    conn: Connection,
    tickets: Iterable[TicketKey] | None,
    since: datetime | None,
    sources: Sequence[str] | None,
    *,
    with_extra: bool,
) -> Iterator[TicketFacts]:
    t = TICKETS
    where: list[ColumnElement[bool]] = []
    if sources:
        where.append(t.c.source.in_(list(sources)))
    if since is not None:
        where.append(
            or_(t.c.updated_at >= since, and_(t.c.updated_at.is_(None), t.c.created_at >= since))
        )
    if tickets is None:
        yield from facts_where(conn, *where, with_extra=with_extra)
        return
    by_source: dict[str, list[str]] = defaultdict(list)
    for source, ticket_id in tickets:
        by_source[source].append(str(ticket_id))
    for source, ids in by_source.items():
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            yield from facts_where(
                conn, t.c.source == source, t.c.id.in_(chunk), *where, with_extra=with_extra
            )


def _requester_counts(conn: Connection, rows: Sequence[TicketFacts]) -> dict[TicketKey, int]:
    """(source, id) -> the requester's tickets created in (created - 30 days, created]."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for f in rows:
        if f.requester_id is not None:
            wanted[f.source].add(f.requester_id)
    created: dict[tuple[str, str], list[int]] = defaultdict(list)
    t = TICKETS
    for source, requesters in wanted.items():
        ids = sorted(requesters)
        for i in range(0, len(ids), _CHUNK):
            stmt = select(t.c.requester_id, epoch_ms(t.c.created_at)).where(
                t.c.source == source, t.c.requester_id.in_(ids[i : i + _CHUNK]), not_deleted()
            )
            for requester, at in conn.execute(stmt):
                created[(source, requester)].append(int(at))
    for times in created.values():
        times.sort()
    out = {}
    for f in rows:
        times = created.get((f.source, f.requester_id or ""), [])
        lo = bisect_right(times, f.created_ms - REQUESTER_WINDOW_MS)
        hi = bisect_right(times, f.created_ms)
        out[(f.source, f.id)] = hi - lo
    return out


__all__ = ["REQUESTER_WINDOW_MS", "VALUE_NAMES", "TicketKey", "TicketValues", "ticket_values"]
