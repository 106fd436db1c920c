"""The generated help desk (sandbox.data.Account) seen through LiveAgent's shapes.

Pure functions from the account's tickets, people and live contacts to LiveAgent API v3 JSON
(shared/specs/liveagent: Ticket, MessageGroup/Message, TicketHistory, Agent, ContactListItem,
Department, Tag, CallListItem, ChatInformation). The same tickets, conversations and times as the
Zendesk dialect serves, so a sync through either gives the same KPIs; what LiveAgent cannot say
differently is recorded here:

* Ids are LiveAgent-style text: tickets `t` + base36 of the ticket number (8 characters), agents
  `a...`, contacts `c...`, departments `d...`, tags `g...`; message ids are the Zendesk dialect's
  child event ids (as text), history ids `ticket id * 64 + n` (numeric text, in ticket order).
* Status codes: new N, open C, pending A (answered), hold W (postponed), solved R, closed L,
  deleted X. Channels: email and api E (LiveAgent has no API channel), web M (contact form),
  chat B (chat button), voice C (call), twitter T, facebook and instagram_dm A (Facebook / Meta
  message; LiveAgent has no Instagram code in its documents). There is no priority or type.
* `date_changed` is the ticket's `generated_timestamp` (its last change of any kind).
* A conversation is one message group per ticket update with comments: public comments as groups
  of their channel's type (e-mail groups start with a header message, type H, that is not a
  message), internal notes as `I` groups with `N` messages, the call recording as a `V` message,
  the bot's replies as `S` (system) messages, and a customer's CSAT answer as a `W` (ranking)
  message whose text is `{"rating": "R" | "P", "comment": ...}`.
* History: one row per change of status or agent, `date_to` = the next row's `date_from`.
* The bot is not an agent (LiveAgent lists people only); its user id appears in its messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo
from typing import Any

import orjson

from deskpulse.sandbox.data import (
    ALL_TAGS,
    AUDIT_BASE,
    BOT_USER_ID,
    CHILD_BASE,
    ENDUSER_BASE,
    STAFF_BASE,
    SYSTEM_USER_ID,
    TICKET_FIELDS,
    Account,
    Call,
    Chat,
    Ticket,
    User,
)

STATUS = {
    "new": "N",
    "open": "C",
    "pending": "A",
    "hold": "W",
    "solved": "R",
    "closed": "L",
    "deleted": "X",
}
CHANNEL = {
    "email": "E",
    "api": "E",
    "web": "M",
    "chat": "B",
    "voice": "C",
    "twitter": "T",
    "facebook": "A",
    "instagram_dm": "A",
}
GROUP_TYPE = {"chat": "C", "voice": "P", "twitter": "W", "facebook": "F", "instagram_dm": "F"}
FIELD_CODES = {
    fid: name.lower().replace(" ", "_").replace("-", "_") for fid, _, name in TICKET_FIELDS
}
HISTORY_SLOTS = 64
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(n: int, width: int = 7) -> str:
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
    return out.rjust(width, "0")


def ticket_la_id(ticket_id: int) -> str:
    return "t" + base36(ticket_id)


def ticket_number(la_id: str) -> int | None:
    """The generated ticket id behind a LiveAgent ticket id, or None."""
    if len(la_id) != 8 or not la_id.startswith("t"):
        return None
    try:
        return int(la_id[1:], 36)
    except ValueError:
        return None


def ticket_code(ticket_id: int) -> str:
    letters = base36(ticket_id * 7_919 + 12_345, 9).upper()
    return f"{letters[:3]}-{letters[3:6]}-{letters[6:]}"


def user_la_id(user_id: int | None) -> str | None:
    if user_id is None:
        return None
    if user_id == SYSTEM_USER_ID:
        return "system00"
    if user_id >= ENDUSER_BASE:
        return "c" + base36(user_id - ENDUSER_BASE)
    return "a" + base36(user_id - STAFF_BASE)


def department_la_id(group_id: int | None, account: Account) -> str | None:
    if group_id is None:
        return None
    for n, group in enumerate(account.groups):
        if group.id == group_id:
            return "d" + base36(n + 1)
    return None


def tag_la_id(name: str) -> str:
    return "g" + base36(ALL_TAGS.index(name) + 1) if name in ALL_TAGS else name


def wall(ts: int, tz: tzinfo) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


# --- tickets -----------------------------------------------------------------------------------


def ticket_json(
    account: Account, t: Ticket, tz: tzinfo, override: dict[str, Any] | None = None
) -> dict[str, Any]:
    changed = t.generated_ts
    status = STATUS[t.status]
    agent = user_la_id(t.assignee_id)
    fields = [
        {"code": FIELD_CODES[f["id"]], "value": _field_text(f["value"])}
        for f in t.custom_fields
        if f["value"] not in (None, False, [])
    ]
    tags = [tag_la_id(tag) for tag in t.tags]
    subject = t.subject
    if override:
        changed = override["_ts"]
        status = override.get("status", status)
        agent = override.get("agentid", agent)
        tags = override.get("tags", tags)
        subject = override.get("subject", subject)
        merged = {f["code"]: f for f in fields}
        merged.update({f["code"]: f for f in override.get("custom_fields", [])})
        fields = list(merged.values())
    requester = account.user(account.user_index_by_id(t.requester_id) or 0)
    return {
        "id": ticket_la_id(t.id),
        "owner_contactid": user_la_id(t.requester_id),
        "owner_email": requester.email,
        "owner_name": requester.name,
        "departmentid": department_la_id(t.group_id, account),
        "agentid": agent,
        "status": status,
        "tags": tags,
        "code": ticket_code(t.id),
        "channel_type": CHANNEL[t.channel],
        "date_created": wall(t.created_ts, tz),
        "date_changed": wall(changed, tz),
        "date_resolved": wall(t.solved_ts, tz) if t.solved_ts is not None else None,
        "date_due": None,
        "date_deleted": wall(t.updated_ts, tz) if t.status == "deleted" else None,
        "last_activity": wall(t.updated_ts, tz),
        "last_activity_public": wall(t.updated_ts, tz),
        "public_access_urlcode": f"P{t.id:07d}",
        "subject": subject,
        "custom_fields": fields,
    }


def _field_text(value: Any) -> str:
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


# --- conversations -----------------------------------------------------------------------------


def conversation(t: Ticket, tz: tzinfo) -> list[dict[str, Any]]:
    """The ticket's message groups, oldest first."""
    groups: list[dict[str, Any]] = []
    public_type = GROUP_TYPE.get(t.channel, "M")
    for n, audit in enumerate(t.audits):
        audit_id = AUDIT_BASE + t.id * 64 + n
        when = wall(audit.ts, tz)
        for k, child in enumerate(audit.children):
            message_id = str(CHILD_BASE + (audit_id - AUDIT_BASE) * 8 + k)
            author = child.author_id if child.author_id is not None else audit.author_id
            if child.kind == "SatisfactionRating":
                body = {"rating": "R" if child.score == "good" else "P", "comment": child.body}
                messages = [_message(message_id, author, "W", when, orjson.dumps(body).decode())]
                groups.append(_group(message_id, author, "M", when, n, messages))
                continue
            if child.kind != "Comment" or child.body is None:
                continue
            if not child.public:
                messages = [_message(message_id, author, "N", when, child.body)]
                groups.append(_group(message_id, author, "I", when, n, messages))
                continue
            kind = "S" if author == BOT_USER_ID else "M"
            if child.body.startswith("Call recording"):
                kind = "V"
            messages = []
            if public_type == "M" and kind == "M":
                messages.append(_message(message_id + "h", author, "H", when, "From/To header"))
            messages.append(_message(message_id, author, kind, when, child.body))
            groups.append(_group(message_id, author, public_type, when, n, messages))
    return groups


def _message(mid: str, author: int | None, kind: str, when: str, text: str) -> dict[str, Any]:
    return {
        "id": mid,
        "userid": user_la_id(author),
        "type": kind,
        "datecreated": when,
        "format": "T",
        "message": text,
        "visibility": "A",
    }


def _group(
    gid: str, author: int | None, kind: str, when: str, order: int, messages: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": "g" + gid,
        "parent_id": None,
        "userid": user_la_id(author),
        "user_full_name": None,
        "type": kind,
        "status": "V",
        "datecreated": when,
        "datefinished": when,
        "sort_order": order,
        "messages": messages,
    }


# --- history -----------------------------------------------------------------------------------


def history(t: Ticket, account: Account, tz: tzinfo) -> list[dict[str, Any]]:
    """The ticket's history rows: one per change of status or agent."""
    rows: list[dict[str, Any]] = []
    status: str | None = None
    agent: str | None = None
    department = department_la_id(t.group_id, account)
    for audit in t.audits:
        new_status, new_agent = status, agent
        for child in audit.children:
            if child.kind not in ("Create", "Change"):
                continue
            if child.field_name == "status":
                new_status = STATUS[child.value]
            elif child.field_name == "assignee_id" and child.value is not None:
                new_agent = user_la_id(int(child.value))
        if new_status is None or (new_status == status and new_agent == agent):
            continue
        if rows:
            rows[-1]["date_to"] = wall(audit.ts, tz)
        status, agent = new_status, new_agent
        rows.append(
            {
                "id": str(t.id * HISTORY_SLOTS + len(rows)),
                "conversation_id": ticket_la_id(t.id),
                "conversation_code": ticket_code(t.id),
                "department_id": department,
                "department_name": None,
                "agent_id": agent,
                "status": status,
                "date_from": wall(audit.ts, tz),
                "date_to": None,
                "elapsed_time": None,
            }
        )
    return rows


# --- people ------------------------------------------------------------------------------------


def agent_json(user: User) -> dict[str, Any]:
    return {
        "id": user_la_id(user.id),
        "name": user.name,
        "email": user.email,
        "role": "admin" if user.role == "admin" else "agent",
        "roleId": "A" if user.role == "admin" else "G",
        "avatar_url": None,
        "online_status": "F",
        "status": "A" if user.active else "X",
        "gender": "X",
        "twofactor_auth": "N",
        "voice_status": "N",
    }


def contact_json(user: User, tz: tzinfo) -> dict[str, Any]:
    first, _, last = user.name.partition(" ")
    return {
        "id": user_la_id(user.id),
        "company_id": None,
        "firstname": first,
        "lastname": last,
        "system_name": user.name,
        "type": "R",
        "date_created": wall(user.created_ts, tz),
        "date_changed": wall(user.updated_ts, tz),
        "emails": [user.email],
        "phones": [],
        "groups": [],
    }


# --- live contacts -----------------------------------------------------------------------------


def call_json(call: Call, tz: tzinfo) -> dict[str, Any]:
    answered = call.completion_status == "completed"
    start = call.created_ts
    end = start + call.wait_time + call.talk_time + call.hold_time
    return {
        "id": str(call.id),
        "ticketId": ticket_la_id(call.ticket_id) if call.ticket_id is not None else None,
        "type": "I" if call.direction == "inbound" else "O",
        "fromNumber": "+421200000000",
        "fromName": None,
        "toNumber": "+421200000001",
        "toName": None,
        "viaNumber": None,
        "dateCreated": wall(start, tz),
        "dateAnswered": wall(start + call.wait_time, tz) if answered else None,
        "dateFinished": wall(end, tz),
        "callDuration": str(call.talk_time) if answered else "0",
    }


def chat_json(chat: Chat, account: Account, tz: tzinfo) -> dict[str, Any]:
    chat_id = ticket_la_id(chat.ticket_id) if chat.ticket_id is not None else _orphan_chat(chat)
    return {
        "id": chat_id,
        "subject": None,
        "preview": None,
        "chat_order": wall(chat.start_ts, tz),
        "date_created": wall(chat.start_ts, tz),
        "status_date_started": wall(chat.end_ts, tz),
        "tags": [],
        "rstatus": "R",
        "firstname": None,
        "lastname": None,
        "system_name": None,
        "avatar_url": None,
        "countrycode": None,
        "city": None,
        "departmentId": department_la_id(chat.department_id, account),
        "agentId": user_la_id(chat.agent_id),
        "status": "T",
        "emails": [],
    }


def _orphan_chat(chat: Chat) -> str:
    """A missed chat whose conversation was never kept: an id no ticket has."""
    digits = int(chat.id.split(".")[-1][:-1], 16)
    return "m" + base36(digits)


def all_chats(account: Account) -> Iterator[Chat]:
    for i in range(account.n_tickets):
        channel, _, orphan_chat = account.traits(i)
        if channel == "chat" or orphan_chat:
            yield from account.ticket(i, custom_fields=False, story=False).chats
