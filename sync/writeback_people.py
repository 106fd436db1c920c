"""Write-back planning for people: support values on marketing profiles, and subscriptions.

Both go through the write-back ledger (sync.writeback) like ticket fields: a value is written
once, again only when it changes, and failures are retried with backoff.

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

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from deskpulse.kpi_core.identity import (
    CUSTOMER_VALUES,
    SUPPORT_VALUES,
    customer_values,
    normalise_email,
    people,
    support_values,
)
from deskpulse.kpi_core.tables import TICKETS
from deskpulse.sync.actions import PROPERTY_PREFIX, ProfileFieldsAction, SubscribeAction

if TYPE_CHECKING:  # the ledger module imports this one
    from deskpulse.sync.writeback import Item

Plan = tuple[list["Item"], list[int], int]


def plan_profile_fields(conn: Connection, action: ProfileFieldsAction, now: datetime) -> Plan:
    from deskpulse.sync.writeback import USER_FIELD, plan_values

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
    from deskpulse.sync.writeback import SUBSCRIPTION, plan_values

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


__all__ = ["plan_profile_fields", "plan_subscriptions"]
