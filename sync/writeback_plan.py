"""Write-back planning: what the help desk should hold now, against the write-back ledger.

Step 1 of a push (sync.writeback sends): for each action (sync.actions) the values it should
write now are compared with the ledger's latest row for the same (action, record, field):
unchanged and sent -> nothing to do; new or changed -> a new `pending` row (version + 1) whose
reason says what changed; a row still pending, failed and due, or in doubt (and due) is carried
over. `commit_plan` records the plan in one transaction (`--dry-run` shows it and stops there).
The idempotency key is unique in the ledger, so two pushes at once cannot both plan a write.

What each kind of action wants:

* `plan_ticket_field`: per-ticket KPI values (kpi_core.per_ticket) into a ticket field, on the
  tickets of the last `days`; a vendor whose closed tickets are final (the connector says so)
  gets none on its closed tickets.
* `plan_profile_fields`: for each person (kpi_core.identity), the values support knows (ticket
  count, open tickets, last CSAT, first-response experience) and their customer values
  (lifetime CSAT, last NPS, lifetime value) go to their record in the action's source, a
  marketing profile or a help desk's user, as `deskpulse_<value>` (record = the profile or
  user id).
* `plan_subscriptions`: the requesters of tickets that carry the opt-in rule (a tag, or a
  custom field's value) are subscribed to the list (record = the normalised e-mail). Nobody
  else is: consent comes from the ticket. People whose profile already shows email consent
  `SUBSCRIBED` (from the last sync) count as unchanged, not written.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from deskpulse.connectors.base import Connector, closed_is_final
from deskpulse.connectors.errors import DeskpulseError
from deskpulse.kpi_core.config import KpiConfig
from deskpulse.kpi_core.identity import (
    CUSTOMER_VALUES,
    SUPPORT_VALUES,
    customer_values,
    normalise_email,
    people,
    support_values,
)
from deskpulse.kpi_core.per_ticket import ticket_values
from deskpulse.kpi_core.tables import TICKETS
from deskpulse.sync.actions import (
    PROPERTY_PREFIX,
    Actions,
    ProfileFieldsAction,
    SubscribeAction,
    TicketFieldAction,
)
from deskpulse.sync.warehouse import Warehouse, table

MAX_ATTEMPTS = 8
"""A row that failed this many times stays failed until its value changes."""

PENDING, SENDING, SENT, FAILED, SUPERSEDED = "pending", "sending", "sent", "failed", "superseded"
IN_DOUBT = "in doubt"
"""An item's outcome when its write's answer never came (its ledger row stays `sending`)."""
TICKET_FIELD, POST = "ticket_field", "post"
USER_FIELD, SUBSCRIPTION = "user_field", "subscription"


@dataclass
class Item:
    """One value to write (a ledger row, planned or carried over), and what became of it."""

    target: str
    source: str
    kind: str
    record_id: str
    field: str
    value: Any
    reason: str
    version: int = 1
    row_id: int | None = None
    status: str = PENDING  # the ledger status when planned
    attempts: int = 0
    # sent | failed | verified (found in the help desk) | in doubt (read back next time) | None
    outcome: str | None = None
    error: str | None = None

    @property
    def key(self) -> str:
        if self.kind == POST:
            return f"{self.target}|{self.record_id}"
        return f"{self.target}|{self.record_id}|{self.field}|v{self.version}"


class WriteBackError(DeskpulseError):
    pass


@dataclass(frozen=True)
class Context:
    """What values are computed with: business-hours schedules, the KPI config (SLA policies,
    targets) and the reporting time zone (digest periods)."""

    schedules: Any = None
    config: KpiConfig | None = None
    tz: ZoneInfo = dataclass_field(default_factory=lambda: ZoneInfo("UTC"))


Extra = Callable[[Connection, datetime], Iterable[Item]]
"""More items to plan (the digests), from a connection and the push's `now`."""


def ledger() -> Any:
    """The write-back ledger table (sync.state.WriteBack)."""
    return table("write_back_log")


def latest_rows(conn: Connection, target: str) -> dict[tuple[str, str], Any]:
    """(record, field) -> the latest non-superseded ledger row of `target`."""
    wb = ledger()
    top = (
        select(wb.c.record_id, wb.c.field, func.max(wb.c.version).label("version"))
        .where(wb.c.target == target, wb.c.status != SUPERSEDED)
        .group_by(wb.c.record_id, wb.c.field)
        .subquery()
    )
    stmt = (
        select(wb)
        .join(
            top,
            and_(
                wb.c.record_id == top.c.record_id,
                wb.c.field == top.c.field,
                wb.c.version == top.c.version,
            ),
        )
        .where(wb.c.target == target, wb.c.status != SUPERSEDED)
    )
    return {(r.record_id, r.field): r for r in conn.execute(stmt)}


def due(row: Any, now: datetime) -> bool:
    if row.status == PENDING:
        return True
    if row.status == SENDING:  # in doubt: read back now, or once a running job has had time
        return row.next_attempt_at is None or row.next_attempt_at <= now
    if row.status == FAILED:
        return row.next_attempt_at is not None and row.next_attempt_at <= now
    return False


def _carry(row: Any, action_kind: str, reason: str) -> Item:
    return Item(
        row.target, row.source, action_kind, row.record_id, row.field, row.value, reason,
        row.version, row.id, row.status, row.attempts,
    )  # fmt: skip


def _carried_reason(row: Any) -> str:
    if row.status == SENDING:
        why = f": {row.error}" if row.error else " (a push stopped while sending it)"
        return f"in doubt{why}; read back, then write if missing"
    if row.status == FAILED:
        return f"retry {row.attempts + 1} (failed: {row.error})"
    return row.reason or "pending"


def plan_ticket_field(
    conn: Connection,
    action: TicketFieldAction,
    ctx: Context,
    now: datetime,
    *,
    closed_final: bool = False,
    only: Collection[str] | None = None,
) -> tuple[list[Item], list[int], int]:
    """(items to write, ids of rows they supersede, unchanged count) for one action;
    `closed_final`: the target's closed tickets are final (left out, their rows superseded);
    `only`: for these tickets alone (a webhook's, sync.hints), whatever their age."""
    values = ticket_values(
        conn,
        None if only is None else [(action.source, t) for t in only],
        since=None if only is not None else now - timedelta(days=action.days),
        sources=[action.source],
        schedules=ctx.schedules,
        config=ctx.config,
        now=now,
    )
    closed = _closed_tickets(conn, action.source) if closed_final else set()
    wanted = (
        (ticket_id, action.field, action.render(tv.get(action.value)), action.value)
        for (_, ticket_id), tv in sorted(values.items())
        if ticket_id not in closed
    )
    return plan_values(
        conn, action.name, action.source, TICKET_FIELD, wanted, now, skip=closed, only=only
    )


def _closed_tickets(conn: Connection, source: str) -> set[str]:
    """Tickets closed in the help desk (as of the last sync). For a vendor whose closed tickets
    are final (it refuses any update of them: connectors.base.closed_is_final) their fields are
    never written (nor retried)."""
    tickets = table("tickets")
    stmt = select(tickets.c.id).where(tickets.c.source == source, tickets.c.status == "closed")
    return {str(i) for (i,) in conn.execute(stmt)}


Wanted = Iterable[tuple[str, str, Any, str]]
"""(record id, field, value, what the value is) to have in the help desk now."""


def plan_values(
    conn: Connection,
    target: str,
    source: str,
    kind: str,
    wanted: Wanted,
    now: datetime,
    *,
    skip: set[str] | frozenset[str] = frozenset(),
    only: Collection[str] | None = None,
) -> tuple[list[Item], list[int], int]:
    """Compare the values a target should hold now with its ledger: (items to write, ids of
    rows they supersede, unchanged count). New values are written; changed ones get a new
    version; unchanged and sent ones are not written again; failed ones are retried when due.
    Unsent rows of the records in `skip` (e.g. closed tickets) are superseded, not retried.
    `only`: the other records' rows are left for the next full plan."""
    latest = latest_rows(conn, target)
    items: list[Item] = []
    superseded: list[int] = []
    unchanged = 0
    seen: set[str] = set()
    for record_id, fld, value, label in wanted:
        seen.add(record_id)
        row = latest.get((record_id, fld))
        if row is None:
            if value is not None:
                items.append(
                    Item(target, source, kind, record_id, fld, value, f"new: {label} = {value!r}")
                )
            continue
        if row.value == value:
            if row.status == SENT or not due(row, now):
                unchanged += row.status == SENT
                continue
            items.append(_carry(row, kind, _carried_reason(row)))
            continue
        if value is None and row.status != SENT:
            superseded.append(row.id)  # never written: nothing to clear
            continue
        if row.status != SENT:
            superseded.append(row.id)
        items.append(
            Item(target, source, kind, record_id, fld, value,
                 f"changed: {label} {row.value!r} -> {value!r}", row.version + 1)
        )  # fmt: skip
    # Retries of records outside the window (e.g. tickets older than `days`) are not forgotten.
    for (record, _), row in latest.items():
        if only is not None and record not in only:
            continue
        if record in skip and row.status in (PENDING, FAILED):
            superseded.append(row.id)  # an in-doubt (`sending`) row is still settled below
        elif record not in seen and row.status != SENT and due(row, now):
            items.append(_carry(row, kind, _carried_reason(row)))
    return items, superseded, unchanged


def plan(
    warehouse: Warehouse,
    actions: Actions,
    ctx: Context,
    now: datetime,
    *,
    extra: Extra | None = None,
    connectors: Mapping[str, Connector] | None = None,
    only: Collection[str] | None = None,
) -> tuple[list[Item], list[int], int]:
    """Every action's items (see plan_ticket_field); `extra` adds items (the digests).
    `connectors` (by source) say whose closed tickets are final; `only`: ticket fields of these
    tickets alone."""
    final = {s for s, c in (connectors or {}).items() if closed_is_final(c)}
    items: list[Item] = []
    superseded: list[int] = []
    unchanged = 0
    with warehouse.connect() as conn:
        planned = [
            plan_ticket_field(
                conn, action, ctx, now, closed_final=action.source in final, only=only
            )
            for action in actions.ticket_fields
        ]
        planned += [plan_profile_fields(conn, action, now) for action in actions.profile_fields]
        planned += [plan_subscriptions(conn, action, now) for action in actions.subscriptions]
        for i, s, u in planned:
            items += i
            superseded += s
            unchanged += u
        if extra is not None:
            items += extra(conn, now)
    return items, superseded, unchanged


def commit_plan(
    warehouse: Warehouse, items: list[Item], superseded: list[int], now: datetime
) -> None:
    """Record the plan: new rows pending, replaced rows superseded (one transaction)."""
    wb = ledger()
    rows = [
        {
            "key": i.key, "target": i.target, "source": i.source, "kind": i.kind,
            "record_id": i.record_id, "field": i.field, "version": i.version, "value": i.value,
            "reason": i.reason, "status": PENDING, "attempts": 0, "created_at": now,
        }
        for i in items
        if i.row_id is None
    ]  # fmt: skip
    try:
        with warehouse.begin() as conn:
            for chunk in chunks(superseded, 500):
                conn.execute(update(wb).where(wb.c.id.in_(chunk)).values(status=SUPERSEDED))
            for chunk in chunks(rows, 500):
                conn.execute(insert(wb), chunk)
    except IntegrityError:
        raise WriteBackError(
            "another push planned the same writes at the same time (is the daemon running?); "
            "nothing was written: try again"
        ) from None
    # Learn the new rows' ids (one query per target).
    with warehouse.connect() as conn:
        by_key = {i.key: i for i in items if i.row_id is None}
        for chunk in chunks(list(by_key), 500):
            for row_id, key in conn.execute(select(wb.c.id, wb.c.key).where(wb.c.key.in_(chunk))):
                by_key[key].row_id = row_id


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


Plan = tuple[list[Item], list[int], int]
"""(items to write, ids of the ledger rows they supersede, unchanged count)."""


def plan_profile_fields(conn: Connection, action: ProfileFieldsAction, now: datetime) -> Plan:
    everyone = people(conn)
    rows: dict[str, dict[str, Any]] = {}
    if any(name in SUPPORT_VALUES for name in action.values):
        support = support_values(
            conn,
            everyone=everyone,
            target_minutes=action.target_minutes,
            since=now - timedelta(days=action.days),
            now=now,
        )
        for key, found in support.items():
            rows.setdefault(key, {}).update(found.values())
    if any(name in CUSTOMER_VALUES for name in action.values):
        for key, values in customer_values(conn, everyone=everyone, now=now).items():
            rows.setdefault(key, {}).update(values)
    wanted: list[tuple[str, str, Any, str]] = []
    for key, row in sorted(rows.items()):
        person = everyone.get(key)
        if person is None:
            continue
        for source, record_id in sorted(person.rows):
            if source != action.source:
                continue
            for name in action.values:
                wanted.append((record_id, PROPERTY_PREFIX + name, row.get(name), name))
    return plan_values(conn, action.name, action.source, USER_FIELD, wanted, now)


def plan_subscriptions(conn: Connection, action: SubscribeAction, now: datetime) -> Plan:
    everyone = people(conn)
    owner = {row: p for p in everyone.values() for row in p.rows}
    consented: set[str] = set()
    stmt = select(TICKETS.c.source, TICKETS.c.requester_id, TICKETS.c.tags, TICKETS.c.extra)
    for source, requester, tags, extra in conn.execute(stmt.where(TICKETS.c.status != "deleted")):
        if requester is None or not _opted_in(action, tags, extra):
            continue
        person = owner.get((source, requester))
        email = normalise_email(person.key) if person is not None else None
        if email is not None and "@" in email:
            consented.add(email)
    already = {
        p.key
        for p in everyone.values()
        for (source, _), extra in p.extra.items()
        if source == action.source and isinstance(extra, dict)
        and extra.get("email_consent") == "SUBSCRIBED"
    }  # fmt: skip
    wanted = [
        (email, action.list_id, True, f"opted in on a ticket ({_rule(action)})")
        for email in sorted(consented - already)
    ]
    items, superseded, unchanged = plan_values(
        conn, action.name, action.source, SUBSCRIPTION, wanted, now
    )
    return items, superseded, unchanged + len(consented & already)


def _opted_in(action: SubscribeAction, tags: Any, extra: Any) -> bool:
    if action.tag is not None:
        return isinstance(tags, str) and action.tag in tags.split(";")
    fields = extra.get("custom_fields") if isinstance(extra, dict) else None
    if not isinstance(fields, dict):
        return False
    value = fields.get(str(action.field))
    return value == action.value or str(value).lower() == str(action.value).lower()


def _rule(action: SubscribeAction) -> str:
    return f"tag {action.tag}" if action.tag else f"field {action.field} = {action.value!r}"
