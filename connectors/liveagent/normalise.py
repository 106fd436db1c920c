"""LiveAgent records -> canonical rows (KPI_CATALOG.md section 1).

Plain functions over the JSON LiveAgent sends (a sync is bounded by 180 requests a minute, not by
decoding, so no typed decoding here). Dates are local wall times in the account's time zone
(`LIVEAGENT_TIMEZONE`) and come out as aware UTC. Codes map through the tables of
`connectors.liveagent.mapping`; an unknown code keeps its raw value in `extra` and warns once per
sync. A record that cannot map at all (no id, no creation date, a date that is not one) raises
RecordError: the engine quarantines it with the reason and goes on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from deskpulse.connectors.base import Row
from deskpulse.connectors.errors import RecordError
from deskpulse.connectors.fields import record_object, required_id, text, text_id
from deskpulse.connectors.liveagent.mapping import (
    AGENT_ROLES,
    AGENT_STATUSES,
    CALL_DIRECTIONS,
    CHANNEL_TYPES,
    GROUP_TYPES,
    MESSAGE_TYPES,
    RATINGS,
    SOCIAL_NETWORKS,
    TICKET_STATUSES,
    parse_when,
    seconds,
)

if TYPE_CHECKING:
    from deskpulse.connectors.liveagent.streams import Context


# --- people ------------------------------------------------------------------------------------


def agent_rows(record: Any, ctx: Context) -> list[Row]:
    agent = record_object(record, "agent")
    aid = required_id(agent)
    raw_role = agent.get("role")
    role = ctx.codes.lookup(AGENT_ROLES, "agent role", raw_role, "agent")
    raw_status = agent.get("status")
    active = (
        None
        if raw_status in (None, "")
        else ctx.codes.lookup(AGENT_STATUSES, "agent status", raw_status, None)
    )
    return [
        Row(
            "agents",
            {
                "id": aid,
                "name": text(agent.get("name")),
                "email": text(agent.get("email")),
                "role": role,
                "group": ctx.directory.agent_department.get(aid),
                "active": active,
                "created_at": None,
                "extra": {
                    "role": raw_role,
                    "status": raw_status,
                    "online_status": agent.get("online_status"),
                },
            },
        )
    ]


def contact_rows(record: Any, ctx: Context) -> list[Row]:
    contact = record_object(record, "contact")
    cid = required_id(contact)
    names = [text(contact.get(k)) for k in ("firstname", "lastname")]
    name = " ".join(n for n in names if n) or text(contact.get("system_name"))
    emails = contact.get("emails")
    if emails is not None and not isinstance(emails, list):
        raise RecordError(f"emails: expected a list, got {type(emails).__name__}")
    email = text(emails[0]) if emails else text(contact.get("registration_email"))
    return [
        Row(
            "customers",
            {
                "id": cid,
                "name": name,
                "email": email,
                "organization": text_id(contact.get("company_id"), "company_id"),
                "created_at": parse_when(contact.get("date_created"), ctx.tz, "date_created"),
                "churned_at": None,
                "acquisition_channel": None,
                "extra": {
                    "type": contact.get("type"),
                    "date_changed": contact.get("date_changed"),
                },
            },
        )
    ]


# --- tickets -----------------------------------------------------------------------------------


def _tags(raw: Any, ctx: Context) -> str | None:
    if raw in (None, "", []):
        return None
    if isinstance(raw, str):  # TicketInformation sends them comma-separated
        raw = [t for t in raw.split(",") if t.strip()]
    if not isinstance(raw, list):
        raise RecordError(f"tags: expected a list, got {type(raw).__name__}")
    return ";".join(ctx.directory.tag(t) for t in raw) or None


def custom_fields(raw: Any) -> dict[str, Any] | None:
    """`[{code, value}]` -> `{code: value}` (values are text in LiveAgent)."""
    if not raw:
        return None
    if not isinstance(raw, list):
        raise RecordError(f"custom_fields: expected a list, got {type(raw).__name__}")
    out: dict[str, Any] = {}
    for item in raw:
        if not isinstance(item, Mapping) or not isinstance(item.get("code"), str):
            raise RecordError(f"custom_fields: not a {{code, value}} object: {item!r}")
        out[item["code"]] = item.get("value")
    return out


def ticket_rows(record: Any, context: Mapping[str, Any], ctx: Context) -> list[Row]:
    """A ticket -> a `tickets` row, plus a `social_mentions` row for a Facebook or Twitter
    conversation (its first reply is the conversation's first public agent message)."""
    ticket = record_object(record, "ticket")
    tid = required_id(ticket)
    created = parse_when(ticket.get("date_created"), ctx.tz, "date_created")
    if created is None:
        raise RecordError("missing date_created")
    raw_status = ticket.get("status")
    status = ctx.codes.lookup(TICKET_STATUSES, "ticket status", raw_status, "open")
    raw_channel = ticket.get("channel_type")
    channel = (
        None
        if raw_channel in (None, "")
        else ctx.codes.lookup(CHANNEL_TYPES, "channel_type", raw_channel, "other")
    )
    changed = parse_when(ticket.get("date_changed"), ctx.tz, "date_changed")
    resolved = parse_when(ticket.get("date_resolved"), ctx.tz, "date_resolved")
    extra: dict[str, Any] = {"status_code": raw_status, "channel_type": raw_channel}
    for key in ("code", "date_due", "date_deleted", "public_access_urlcode"):
        if ticket.get(key) not in (None, ""):
            extra[key] = ticket[key]
    fields = custom_fields(ticket.get("custom_fields"))
    if fields:
        extra["custom_fields"] = fields
    subject = text(ticket.get("subject"))
    requester = text_id(ticket.get("owner_contactid"), "owner_contactid")
    row = {
        "id": tid,
        "created_at": created,
        "subject": subject,
        "type": None,
        "priority": None,
        "channel": channel,
        "status": status,
        "requester_id": requester,
        "assignee_id": text_id(ticket.get("agentid"), "agentid"),
        "group": ctx.directory.department(ticket.get("departmentid")),
        "tags": _tags(ticket.get("tags"), ctx),
        "updated_at": changed,
        "solved_at": resolved if status in ("solved", "closed") else None,
        # A closed ticket is frozen: the change that closed it is its last one.
        "closed_at": changed if status == "closed" else None,
        "extra": extra,
    }
    rows = [Row("tickets", row)]
    network = SOCIAL_NETWORKS.get(raw_channel) if isinstance(raw_channel, str) else None
    if network is not None and status != "deleted":
        rows.append(
            Row(
                "social_mentions",
                {
                    "id": tid,
                    "created_at": created,
                    "network": network,
                    "author": requester,
                    "text": subject,
                    "first_reply_at": context.get("first_reply_at"),
                    "sentiment": None,
                    "is_question": ("?" in subject) if subject else None,
                    "ticket_id": tid,
                    "extra": None,
                },
            )
        )
    return rows


# --- conversations -----------------------------------------------------------------------------


class Message(NamedTuple):
    id: str
    at: datetime
    author_id: str | None
    author_kind: str
    public: bool
    kind: str  # text | note | rating | system (skip parts are left out)
    raw: Mapping[str, Any]


def messages(group: Any, ctx: Context) -> Iterator[Message]:
    """The messages of one message group that matter: texts, notes, ratings, system messages."""
    group = record_object(group, "message group")
    group_kind = ctx.codes.lookup(GROUP_TYPES, "message group type", group.get("type"), "reply")
    group_at = parse_when(group.get("datecreated"), ctx.tz, "datecreated")
    group_user = text_id(group.get("userid"), "userid")
    items = group.get("messages") or []
    if not isinstance(items, list):
        raise RecordError(f"messages: expected a list, got {type(items).__name__}")
    for item in items:
        message = record_object(item, "message")
        kind = ctx.codes.lookup(MESSAGE_TYPES, "message type", message.get("type"), "skip")
        if kind == "skip":
            continue
        mid = required_id(message)
        at = parse_when(message.get("datecreated"), ctx.tz, "datecreated") or group_at
        if at is None:
            raise RecordError(f"message {mid}: missing datecreated")
        author = text_id(message.get("userid"), "userid") or group_user
        if kind == "system" or group_kind == "system":
            author_kind = "system"
        else:
            author_kind = ctx.directory.author_kind(author)
        public = group_kind != "internal" and kind != "note"
        yield Message(mid, at, author, author_kind, public, kind, message)


def first_agent_reply(groups: list[Any], ctx: Context) -> datetime | None:
    """The first public agent message of a conversation (for social mentions)."""
    first: datetime | None = None
    for group in groups:
        try:
            for m in messages(group, ctx):
                if m.kind == "text" and m.public and m.author_kind == "agent":
                    first = m.at if first is None else min(first, m.at)
        except RecordError:
            continue  # that group is quarantined by its own normalise
    return first


def message_group_rows(group: Any, context: Mapping[str, Any], ctx: Context) -> list[Row]:
    """One message group of a ticket's conversation -> message `ticket_events` (replies, notes,
    system messages) and, for a customer's rating, a `survey_responses` row."""
    ticket_id = context["ticket_id"]
    rows: list[Row] = []
    for m in messages(group, ctx):
        if m.kind == "rating":
            survey = _rating_row(m, ticket_id, context.get("agent_id"), ctx)
            if survey is not None:
                rows.append(survey)
            continue
        rows.append(
            Row(
                "ticket_events",
                {
                    "id": m.id,
                    "ticket_id": ticket_id,
                    "created_at": m.at,
                    "kind": "message",
                    "author_id": m.author_id,
                    "author_kind": m.author_kind,
                    "public": m.public,
                    "status": None,
                    "assignee_id": None,
                    "extra": {"type": m.raw.get("type")},
                },
            )
        )
    return rows


def _rating_row(m: Message, ticket_id: str, agent_id: Any, ctx: Context) -> Row | None:
    """A ranking message: its text is the rating (`R`/`N`/`P`, or `reward`/`neutral`/
    `punishment`), plain or as JSON `{"rating": ..., "comment": ...}`."""
    message = m.raw.get("message")
    value: Any = message
    comment: str | None = None
    if isinstance(message, str) and message.lstrip().startswith("{"):
        try:
            body = orjson.loads(message)
        except orjson.JSONDecodeError:
            raise RecordError(f"rating {m.id}: not JSON: {message[:60]!r}") from None
        if isinstance(body, Mapping):
            value = body.get("rating", body.get("type"))
            comment = text(body.get("comment"))
    score = ctx.codes.lookup(RATINGS, "rating", value, None)
    if score is None:
        return None
    return Row(
        "survey_responses",
        {
            "id": m.id,
            "survey": "csat",
            "score": score,
            "created_at": m.at,
            "scale_min": 1.0,
            "scale_max": 5.0,
            "ticket_id": ticket_id,
            "customer_id": m.author_id,
            "agent_id": text_id(agent_id, "agentid"),
            "comment": comment,
            "extra": {"rating": value},
        },
    )


# --- history -----------------------------------------------------------------------------------


def history_rows(record: Any, ctx: Context) -> list[Row]:
    """A history row -> a status event at `date_from`, and an assignment event naming its agent
    when it has one (streams.HistoryStream says why on every row). Ids are prefixed
    (`history-<id>`): history ids and message ids are separate series."""
    row = record_object(record, "history row")
    hid = required_id(row)
    ticket_id = text_id(row.get("conversation_id"), "conversation_id")
    if ticket_id is None:
        raise RecordError("missing conversation_id")
    at = parse_when(row.get("date_from"), ctx.tz, "date_from")
    if at is None:
        raise RecordError("missing date_from")
    raw_status = row.get("status")
    status = ctx.codes.lookup(TICKET_STATUSES, "ticket status", raw_status, "open")
    agent = text_id(row.get("agent_id"), "agent_id")
    base = {
        "ticket_id": ticket_id,
        "created_at": at,
        "author_id": None,
        "author_kind": None,
        "public": True,
        "extra": {"status_code": raw_status, "department_id": row.get("department_id")},
    }
    rows = [
        Row(
            "ticket_events",
            {
                **base,
                "id": f"history-{hid}",
                "kind": "status",
                "status": status,
                "assignee_id": None,
            },
        )
    ]
    if agent is not None:
        rows.append(
            Row(
                "ticket_events",
                {
                    **base,
                    "id": f"history-{hid}-agent",
                    "kind": "assignment",
                    "status": None,
                    "assignee_id": agent,
                },
            )
        )
    return rows


# --- live contacts -----------------------------------------------------------------------------


def call_rows(record: Any, ctx: Context) -> list[Row]:
    """A call -> a `calls` row. Internal calls (agent to agent) are not customer contacts."""
    call = record_object(record, "call")
    cid = required_id(call)
    raw_type = call.get("type")
    direction = ctx.codes.lookup(CALL_DIRECTIONS, "call type", raw_type, "inbound")
    if direction is None:
        return []
    queued = parse_when(call.get("dateCreated"), ctx.tz, "dateCreated")
    if queued is None:
        raise RecordError("missing dateCreated")
    answered = parse_when(call.get("dateAnswered"), ctx.tz, "dateAnswered")
    ended = parse_when(call.get("dateFinished"), ctx.tz, "dateFinished")
    duration = seconds(call.get("callDuration"), "callDuration")
    # The list has no outcome: a call nobody answered is an abandoned one (the caller hung up
    # or the queue gave up), an answered one talked from answer to hang-up.
    return [
        Row(
            "calls",
            {
                "id": cid,
                "queued_at": queued,
                "direction": direction,
                "customer_id": None,
                "agent_id": None,
                "answered_at": answered,
                "ended_at": ended,
                "talk_seconds": duration if answered is not None else None,
                "hold_seconds": None,
                "wrap_seconds": None,
                "outcome": "answered" if answered is not None else "abandoned",
                "ticket_id": text_id(call.get("ticketId"), "ticketId"),
                "extra": {
                    "type": raw_type,
                    "from_number": call.get("fromNumber"),
                    "to_number": call.get("toNumber"),
                },
            },
        )
    ]


def chat_rows(record: Any, ctx: Context) -> list[Row]:
    """A chat -> a `chats` row. A chat is a conversation in LiveAgent: its id is the ticket's."""
    chat = record_object(record, "chat")
    cid = required_id(chat)
    requested = parse_when(chat.get("date_created"), ctx.tz, "date_created")
    if requested is None:
        raise RecordError("missing date_created")
    status = chat.get("status")
    agent = text_id(chat.get("agentId"), "agentId")
    finished = status == "T"
    ended = parse_when(chat.get("status_date_started"), ctx.tz, "status_date_started")
    # A chat nobody took is missed once it ended; one still ringing has no outcome yet.
    outcome = "answered" if agent is not None else ("missed" if finished else None)
    return [
        Row(
            "chats",
            {
                "id": cid,
                "requested_at": requested,
                "customer_id": None,
                "agent_id": agent,
                "answered_at": None,
                "ended_at": ended if finished else None,
                "outcome": outcome,
                "messages": None,
                "ticket_id": cid,
                "extra": {"status": status, "rstatus": chat.get("rstatus")},
            },
        )
    ]
