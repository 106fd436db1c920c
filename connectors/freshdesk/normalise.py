"""Freshdesk records -> canonical rows (KPI_CATALOG.md section 1).

Plain functions over Freshdesk's JSON (a sync is bounded by the plan's requests a minute, not by
decoding). Codes map through `connectors.freshdesk.mapping`; a record that cannot map at all (no
id, no creation time, a time that is not one) raises RecordError and is quarantined.

What Freshdesk says differently from the canonical model, and how it is read:

* A ticket's first message is its `description`, not a conversation: it becomes the message
  event `d<ticket id>` at the ticket's creation, by the requester (an outbound ticket, source
  10: by an agent, the responder when one is set).
* Conversations: a reply or note by an agent (its id is in `GET /agents`) is an agent's; one
  marked `incoming` or written by the requester is the customer's; anyone else (automations,
  bots) is the system's. A note (source 2) is never a public reply, even a public one: Freshdesk
  does not send it to the customer.
* There is no status history in the API. The ticket row carries `stats.resolved_at` (the last
  solve) and `stats.closed_at`; the KPIs take the solve from them (kpi_core.facts: without
  status events, solved_at is the first and the last solve). So a reopened ticket's first
  resolution, reopens, and time per status (requester wait, on hold) are not known for
  Freshdesk; `stats.reopened_at` and `pending_since` are kept in `extra`.
* `stats.first_responded_at` is kept in `extra.first_responded_at`, not used: first response
  time is measured like every vendor's, from the first public agent message after the
  customer's first (for an outbound ticket Freshdesk counts the agent's own opening message).
* SLA: each ticket's `fr_due_by` and `due_by` become `sla_events` (applied at creation with the
  default policy's target for the ticket's priority; fulfilled at the first response or the
  solve when in time, else breached at the due time; `fr_escalated` / `is_escalated` breach a
  target still running).
* Satisfaction ratings: the default question's answer on -103..103 -> CSAT 1-5
  (`mapping.RATINGS`); other questions stay in `extra.ratings`.
* Time entries are agents' logged work: `agent_sessions` rows in state `busy` (the API has no
  presence, so an agent's logged-in time is not known).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from deskpulse.connectors.base import Row
from deskpulse.connectors.errors import RecordError
from deskpulse.connectors.fields import record_object, required_id, text, text_id
from deskpulse.connectors.freshdesk.mapping import (
    OUTBOUND_EMAIL,
    PRIORITIES,
    RATINGS,
    SOCIAL,
    SOURCES,
    UNKNOWN_STATUS,
    code,
    parse_time,
)

if TYPE_CHECKING:
    from deskpulse.connectors.freshdesk.context import Context

NOTE = 2
"""A conversation's `source` for a note."""
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*([ap]m)\s*$", re.IGNORECASE)
DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


def _sub(record: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A nested object, or an empty one when absent or not an object."""
    value = record.get(key)
    return value if isinstance(value, Mapping) else {}


def _required_time(record: Mapping[str, Any], key: str) -> datetime:
    moment = parse_time(record.get(key), key)
    if moment is None:
        raise RecordError(f"missing {key}")
    return moment


# --- people ------------------------------------------------------------------------------------


def agent_rows(record: Any, ctx: Context) -> list[Row]:
    agent = record_object(record, "agent")
    aid = required_id(agent)
    contact = _sub(agent, "contact")
    groups: list[Any] = agent["group_ids"] if isinstance(agent.get("group_ids"), list) else []
    active = contact.get("active")
    if agent.get("deactivated") is True:
        active = False
    return [
        Row(
            "agents",
            {
                "id": aid,
                "name": text(contact.get("name")),
                "email": text(contact.get("email")),
                "role": "agent",
                "group": next((ctx.directory.group(g) for g in groups), None),
                "active": active if isinstance(active, bool) else None,
                "created_at": parse_time(agent.get("created_at"), "created_at"),
                "extra": {
                    "type": agent.get("type"),
                    "occasional": agent.get("occasional"),
                    "role_ids": agent.get("role_ids"),
                    "group_ids": groups,
                },
            },
        )
    ]


def contact_rows(record: Any, ctx: Context) -> list[Row]:
    contact = record_object(record, "contact")
    company = text_id(contact.get("company_id"), "company_id")
    extra: dict[str, Any] = {"updated_at": contact.get("updated_at")}
    if company is not None:
        extra["company_id"] = company
    if contact.get("custom_fields"):
        extra["custom_fields"] = contact["custom_fields"]
    return [
        Row(
            "customers",
            {
                "id": required_id(contact),
                "name": text(contact.get("name")),
                "email": text(contact.get("email")),
                "organization": ctx.directory.company(company),
                "created_at": parse_time(contact.get("created_at"), "created_at"),
                "churned_at": None,
                "acquisition_channel": None,
                "extra": extra,
            },
        )
    ]


# --- tickets -----------------------------------------------------------------------------------


def _tags(raw: Any) -> str | None:
    if raw in (None, []):
        return None
    if not isinstance(raw, list):
        raise RecordError(f"tags: expected a list, got {type(raw).__name__}")
    return ";".join(str(t) for t in raw) or None


def ticket_rows(record: Any, conversations: Sequence[Any], ctx: Context) -> list[Row]:
    """A ticket and its conversations -> the `tickets` row, its message `ticket_events` (the
    description first), its `sla_events`, and for a Twitter or Facebook ticket a
    `social_mentions` row."""
    ticket = record_object(record, "ticket")
    tid = required_id(ticket)
    created = _required_time(ticket, "created_at")
    stats = _sub(ticket, "stats")
    status_code, source_code = (
        code(ticket.get("status"), "status"),
        code(ticket.get("source"), "source"),
    )
    priority_code = code(ticket.get("priority"), "priority")
    deleted = ticket.get("deleted") is True or ticket.get("spam") is True
    status = (
        "deleted"
        if deleted
        else ctx.codes.map(ctx.statuses, "ticket status", status_code, UNKNOWN_STATUS)
    )
    channel = ctx.codes.map(SOURCES, "ticket source", source_code, "other")
    resolved = parse_time(stats.get("resolved_at"), "stats.resolved_at")
    closed = parse_time(stats.get("closed_at"), "stats.closed_at")
    extra: dict[str, Any] = {"status_code": status_code, "source_code": source_code}
    if priority_code is not None and priority_code not in PRIORITIES:
        extra["priority_code"] = priority_code
    for key in ("spam", "deleted"):
        if ticket.get(key) is True:
            extra[key] = True
    for key in ("first_responded_at", "reopened_at", "pending_since", "agent_responded_at"):
        if stats.get(key):
            extra[key] = stats[key]
    for key in ("company_id", "fr_due_by", "due_by", "custom_fields"):
        if ticket.get(key) not in (None, {}, ""):
            extra[key] = ticket[key]
    requester = text_id(ticket.get("requester_id"), "requester_id")
    responder = text_id(ticket.get("responder_id"), "responder_id")
    subject = text(ticket.get("subject"))
    kind = text(ticket.get("type"))
    rows = [
        Row(
            "tickets",
            {
                "id": tid,
                "created_at": created,
                "subject": subject,
                "type": kind.lower() if kind else None,
                "priority": ctx.codes.map(PRIORITIES, "ticket priority", priority_code, None),
                "channel": channel,
                "status": status,
                "requester_id": requester,
                "assignee_id": responder,
                "group": ctx.directory.group(ticket.get("group_id")),
                "tags": _tags(ticket.get("tags")),
                "updated_at": parse_time(ticket.get("updated_at"), "updated_at"),
                "solved_at": resolved if status in ("solved", "closed") else None,
                "closed_at": closed if status == "closed" else None,
                "extra": extra,
            },
        )
    ]
    outbound = source_code == OUTBOUND_EMAIL
    rows.append(
        Row(
            "ticket_events",
            {
                "id": f"d{tid}",
                "ticket_id": tid,
                "created_at": created,
                "kind": "message",
                "author_id": responder if outbound else requester,
                "author_kind": "agent" if outbound else "customer",
                "public": True,
                "status": None,
                "assignee_id": None,
                "extra": {"description": True},
            },
        )
    )
    first_reply: datetime | None = None
    for conversation in conversations:
        row = conversation_row(conversation, tid, requester, ctx)
        rows.append(row)
        values = row.values
        if values["author_kind"] == "agent" and values["public"] and first_reply is None:
            first_reply = values["created_at"]
    if not deleted:
        rows += sla_rows(ticket, tid, created, stats, ctx)
    network = SOCIAL.get(source_code) if source_code is not None else None
    if network is not None and not deleted:
        rows.append(
            Row(
                "social_mentions",
                {
                    "id": tid,
                    "created_at": created,
                    "network": network,
                    "author": requester,
                    "text": subject,
                    "first_reply_at": first_reply,
                    "sentiment": None,
                    "is_question": ("?" in subject) if subject else None,
                    "ticket_id": tid,
                    "extra": None,
                },
            )
        )
    return rows


def conversation_row(record: Any, ticket_id: str, requester: str | None, ctx: Context) -> Row:
    conversation = record_object(record, "conversation")
    cid = required_id(conversation)
    author = text_id(conversation.get("user_id"), "user_id")
    source = code(conversation.get("source"), "conversation source")
    if author is not None and author in ctx.directory.agent_ids:
        kind = "agent"
    elif conversation.get("incoming") is True or (author is not None and author == requester):
        kind = "customer"
    else:
        kind = "system"
    private = conversation.get("private") is True
    return Row(
        "ticket_events",
        {
            "id": cid,
            "ticket_id": ticket_id,
            "created_at": _required_time(conversation, "created_at"),
            "kind": "message",
            "author_id": author,
            "author_kind": kind,
            "public": not private and source != NOTE,
            "status": None,
            "assignee_id": None,
            "extra": {
                "source": source,
                "private": private,
                "incoming": conversation.get("incoming"),
            },
        },
    )


def sla_rows(
    ticket: Mapping[str, Any],
    tid: str,
    created: datetime,
    stats: Mapping[str, Any],
    ctx: Context,
) -> list[Row]:
    """The first-response and resolution targets Freshdesk set on the ticket, with verdicts."""
    policy = ctx.directory.policy
    priority = code(ticket.get("priority"), "priority")
    target = policy.get("targets", {}).get(priority, {}) if policy else {}
    rows: list[Row] = []
    clocks = (
        ("reply_time", "fr_due_by", "first_responded_at", "fr_escalated", "respond_within"),
        ("resolution_time", "due_by", "resolved_at", "is_escalated", "resolve_within"),
    )
    for metric, due_key, done_key, escalated_key, within in clocks:
        due = parse_time(ticket.get(due_key), due_key)
        if due is None:
            continue
        seconds = target.get(within)
        minutes = (
            seconds / 60
            if isinstance(seconds, int | float)
            else (due - created).total_seconds() / 60
        )
        extra = {"due_at": ticket.get(due_key)}
        if policy:
            extra |= {"policy": policy.get("name"), "policy_id": policy.get("id")}
        base = {"ticket_id": tid, "metric": metric, "business_hours": target.get("business_hours")}
        rows.append(Row("sla_events", {**base, "id": f"{tid}-{metric}-applied", "type": "applied",
                                       "raw_type": due_key, "time": created,
                                       "target_minutes": minutes, "extra": extra}))  # fmt: skip
        done = parse_time(stats.get(done_key), f"stats.{done_key}")
        if done is not None and done <= due:
            verdict, at = "fulfilled", done
        elif done is not None or ticket.get(escalated_key) is True:
            verdict, at = "breached", due
        else:
            continue
        rows.append(Row("sla_events", {**base, "id": f"{tid}-{metric}-verdict", "type": verdict,
                                       "raw_type": escalated_key, "time": at,
                                       "target_minutes": minutes, "extra": extra}))  # fmt: skip
    return rows


# --- surveys and work ----------------------------------------------------------------------------


def rating_rows(record: Any, ctx: Context) -> list[Row]:
    rating = record_object(record, "satisfaction rating")
    answers = rating.get("ratings")
    if not isinstance(answers, Mapping) or "default_question" not in answers:
        raise RecordError("ratings: no default_question answer")
    answer = code(answers["default_question"], "ratings.default_question")
    if answer not in RATINGS:
        raise RecordError(f"ratings.default_question: unknown answer {answer!r} (-103..103)")
    return [
        Row(
            "survey_responses",
            {
                "id": required_id(rating),
                "survey": "csat",
                "score": RATINGS[answer],
                "created_at": _required_time(rating, "created_at"),
                "scale_min": 1.0,
                "scale_max": 5.0,
                "ticket_id": text_id(rating.get("ticket_id"), "ticket_id"),
                "customer_id": text_id(rating.get("user_id"), "user_id"),
                "agent_id": text_id(rating.get("agent_id"), "agent_id"),
                "comment": text(rating.get("feedback")),
                "extra": {"ratings": dict(answers), "survey_id": rating.get("survey_id")},
            },
        )
    ]


def _spent(value: Any) -> timedelta:
    """`hh:mm` -> a duration."""
    hours, sep, minutes = str(value).partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit():
        raise RecordError(f"time_spent: expected hh:mm, got {value!r}")
    return timedelta(hours=int(hours), minutes=int(minutes))


def time_entry_rows(record: Any, ctx: Context) -> list[Row]:
    entry = record_object(record, "time entry")
    agent = text_id(entry.get("agent_id"), "agent_id")
    if agent is None:
        raise RecordError("missing agent_id")
    spent = _spent(entry.get("time_spent"))
    executed = _required_time(entry, "executed_at")
    start = parse_time(entry.get("start_time"), "start_time") or executed - spent
    return [
        Row(
            "agent_sessions",
            {
                "id": required_id(entry),
                "agent_id": agent,
                "started_at": start,
                "ended_at": start + spent,
                "state": "busy",
                "extra": {
                    "time_entry": True,
                    "ticket_id": text_id(entry.get("ticket_id"), "ticket_id"),
                    "billable": entry.get("billable"),
                    "time_spent": entry.get("time_spent"),
                },
            },
        )
    ]


# --- settings ------------------------------------------------------------------------------------


def _minute(text: Any, field: str) -> int:
    """`"9:00 am"` -> minutes after midnight."""
    found = _CLOCK.match(str(text))
    if not found:
        raise RecordError(f"{field}: expected a time like 9:00 am, got {text!r}")
    hours, minutes, half = int(found.group(1)) % 12, int(found.group(2)), found.group(3).lower()
    return (hours + (12 if half == "pm" else 0)) * 60 + minutes


def schedule_rows(record: Any, ctx: Context) -> list[Row]:
    """Business hours -> a `schedules` row (weekly windows from Sunday 00:00, an IANA zone)."""
    hours = record_object(record, "business hours")
    zone = ctx.zone(text(hours.get("time_zone")) or "UTC")
    week = hours.get("business_hours")
    intervals = []
    if week is None:  # 24x7
        intervals = [{"start_minute": 0, "end_minute": 7 * 1440}]
    elif isinstance(week, Mapping):
        for n, day in enumerate(DAYS):
            span = week.get(day)
            if not isinstance(span, Mapping):
                continue
            start = _minute(span.get("start_time"), f"{day}.start_time")
            end = _minute(span.get("end_time"), f"{day}.end_time") or 1440
            intervals.append({"start_minute": n * 1440 + start, "end_minute": n * 1440 + end})
    else:
        raise RecordError(f"business_hours: expected an object, got {type(week).__name__}")
    return [
        Row(
            "schedules",
            {
                "id": required_id(hours),
                "name": text(hours.get("name")),
                "time_zone": zone,
                "intervals": intervals,
                "holidays": None,
                "extra": {
                    "time_zone": hours.get("time_zone"),
                    "is_default": hours.get("is_default"),
                },
            },
        )
    ]
