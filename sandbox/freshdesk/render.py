"""The generated help desk (sandbox.data.Account) seen through Freshdesk's API v2 shapes.

Pure functions from the account's tickets and people to Freshdesk JSON (the reconstructed
document in tests/connectors/fixtures/freshdesk says where each shape comes from). The same
tickets, conversations and times as the Zendesk dialect serves, so a sync through either gives
the same KPIs where Freshdesk records the same facts; what Freshdesk says differently:

* Ids are Freshdesk's integers: tickets are numbered 1, 2, ... (the generated id); contacts and
  agents keep the generated user ids (an agent's id is its contact id, as on Freshdesk);
  conversations keep the Zendesk dialect's child event ids; ratings the generated rating ids.
* The first message is the ticket's `description` (by its requester, or by an agent for an
  outbound ticket, source 10); conversations are every later reply and note.
* Status codes: new and open 2 (Freshdesk has no "new"), pending 3 (every fifth pending ticket
  6, the default custom status "Waiting on Customer"), hold 7 ("Waiting on Third Party"),
  solved 4, closed 5. A deleted ticket keeps its status and says `deleted: true` (every second
  one says `spam: true` instead): both are listed only under `filter=deleted` / `filter=spam`.
* Sources: email 1, web 2 (every fourth 9, the feedback widget), api 1, voice 3, chat 7,
  twitter 5, facebook and instagram_dm 6 (no Instagram code in Freshdesk's list); a ticket an
  agent opened is 10 (outbound email). Priorities low 1, normal 2, high 3, urgent 4 (none: 1).
* `stats` (include=stats): first_responded_at (the first public agent reply; for an outbound
  ticket its creation, where Freshdesk counts the agent's own first message), agent_responded_at
  and requester_responded_at (the last of each), resolved_at (the last solve), closed_at,
  reopened_at, pending_since, status_updated_at.
* SLA: one default policy with the generated targets per priority (reply within the target,
  resolve within six times it), in calendar time; fr_due_by / due_by follow from them and
  fr_escalated / is_escalated say whether they passed unmet.
* Satisfaction ratings: only answered surveys (Freshdesk keeps no offer without an answer),
  good 103 and bad -103 on the default question. Time entries: every agent's reply or note
  logged `3 + id % 17` minutes of work ending at it, one in three billable.
"""

from __future__ import annotations

from typing import Any

from deskpulse.sandbox.data import (
    BOT_USER_ID,
    CHILD_BASE,
    PRIORITIES,
    SLA_POLICY_BASE,
    SLA_TARGET_MINUTES,
    TICKET_FIELDS,
    Account,
    Group,
    Ticket,
    User,
    ts_iso,
)

STATUS = {"new": 2, "open": 2, "pending": 3, "hold": 7, "solved": 4, "closed": 5}
WAITING_ON_CUSTOMER = 6
SOURCE = {
    "email": 1,
    "web": 2,
    "api": 1,
    "voice": 3,
    "chat": 7,
    "twitter": 5,
    "facebook": 6,
    "instagram_dm": 6,
}
FEEDBACK_WIDGET = 9
OUTBOUND_EMAIL = 10
PRIORITY = {"low": 1, "normal": 2, "high": 3, "urgent": 4}
RATING = {"good": 103, "bad": -103}
SURVEY_ID = 1_000_001
SLA_POLICY_ID = SLA_POLICY_BASE + 1
BUSINESS_HOURS_BASE = 364_100_000_000
COMPANY_BASE = 367_000_000_000
COMPANIES = 12
FIELD_NAMES = {
    fid: "cf_" + name.lower().replace(" ", "_").replace("-", "_") for fid, _, name in TICKET_FIELDS
}


def child_id(ticket_id: int, audit: int, k: int) -> int:
    """The Zendesk dialect's id of a ticket's audit child, reused for conversations."""
    return CHILD_BASE + (ticket_id * 64 + audit) * 8 + k


def company_of(user: User, account: Account) -> int | None:
    """Every fifth end-user works at one of the companies."""
    k = account.user_index_by_id(user.id)
    if user.role != "end-user" or k is None or k % 5:
        return None
    return COMPANY_BASE + (k // 5) % COMPANIES + 1


# --- tickets -----------------------------------------------------------------------------------


def _life(t: Ticket) -> dict[str, Any]:
    """What Freshdesk's stats and flags say about a ticket, read from its audits."""
    status = "new"
    before_delete = "new"
    out: dict[str, Any] = {
        "first_responded_at": None,
        "agent_responded_at": None,
        "requester_responded_at": None,
        "resolved_at": None,
        "closed_at": None,
        "reopened_at": None,
        "pending_since": None,
        "status_updated_at": t.created_ts,
    }
    agent_started = t.submitter_id != t.requester_id
    if agent_started:
        out["first_responded_at"] = t.created_ts
    for audit in t.audits:
        for child in audit.children:
            author = child.author_id if child.author_id is not None else audit.author_id
            if child.kind == "Comment" and child.body is not None and child.public:
                if author == t.requester_id:
                    out["requester_responded_at"] = audit.ts
                elif author != BOT_USER_ID and author > 0:
                    out["agent_responded_at"] = audit.ts
                    if out["first_responded_at"] is None:
                        out["first_responded_at"] = audit.ts
            if child.kind not in ("Create", "Change") or child.field_name != "status":
                continue
            new = str(child.value)
            if new == "deleted":
                before_delete = status
                continue
            if new == "solved" and status != "solved":
                out["resolved_at"] = audit.ts
            if new == "closed":
                out["closed_at"] = audit.ts
                if status not in ("solved", "closed"):
                    out["resolved_at"] = audit.ts
            if status in ("solved", "closed") and new not in ("solved", "closed"):
                out["reopened_at"] = audit.ts
            if new == "pending":
                out["pending_since"] = audit.ts
            if new != status:
                out["status_updated_at"] = audit.ts
            status = new
    out["_status"] = before_delete if t.status == "deleted" else status
    return out


def status_code(status: str, ticket_id: int) -> int:
    if status == "pending" and ticket_id % 5 == 0:
        return WAITING_ON_CUSTOMER
    return STATUS[status]


def source_code(t: Ticket) -> int:
    if t.submitter_id != t.requester_id:
        return OUTBOUND_EMAIL
    if t.channel == "web" and t.id % 4 == 0:
        return FEEDBACK_WIDGET
    return SOURCE[t.channel]


def _when(ts: int | None) -> str | None:
    return ts_iso(ts) if ts is not None else None


def ticket_json(
    account: Account,
    t: Ticket,
    *,
    stats: bool = False,
    requester: bool = False,
    description: bool = False,
    override: dict[str, Any] | None = None,
) -> dict[str, Any]:
    life = _life(t)
    target = SLA_TARGET_MINUTES[t.priority or "low"] * 60
    fr_due, due = t.created_ts + target, t.created_ts + 6 * target
    replied, resolved = life["first_responded_at"], life["resolved_at"]
    fields: dict[str, Any] = {name: None for name in FIELD_NAMES.values()}
    for f in t.custom_fields:
        fields[FIELD_NAMES[f["id"]]] = f["value"]
    body: dict[str, Any] = {
        "id": t.id,
        "subject": t.subject,
        "status": status_code(life["_status"], t.id),
        "priority": PRIORITY[t.priority or "low"],
        "source": source_code(t),
        "type": t.type.title() if t.type else None,
        "requester_id": t.requester_id,
        "responder_id": t.assignee_id,
        "group_id": t.group_id,
        "company_id": company_of(_requester(account, t), account),
        "product_id": None,
        "email_config_id": None,
        "tags": list(t.tags),
        "cc_emails": [],
        "fwd_emails": [],
        "reply_cc_emails": [],
        "to_emails": None,
        "fr_due_by": ts_iso(fr_due),
        "due_by": ts_iso(due),
        "fr_escalated": (replied if replied is not None else account.anchor_ts) > fr_due,
        "is_escalated": (resolved if resolved is not None else account.anchor_ts) > due,
        "spam": t.status == "deleted" and t.id % 2 == 0,
        "custom_fields": fields,
        "created_at": ts_iso(t.created_ts),
        "updated_at": ts_iso(t.generated_ts),
    }
    if t.status == "deleted" and t.id % 2:
        body["deleted"] = True
    if override:
        body["updated_at"] = ts_iso(override["_ts"])
        for key in ("status", "priority", "responder_id", "group_id", "tags", "subject"):
            if key in override:
                body[key] = override[key]
        body["custom_fields"] = {**fields, **override.get("custom_fields", {})}
    if description:
        text = _description(t)
        body["description"] = f"<div>{text}</div>"
        body["description_text"] = text
    if stats:
        body["stats"] = {k: _when(v) for k, v in life.items() if not k.startswith("_")}
    if requester:
        user = _requester(account, t)
        body["requester"] = {
            "id": user.id,
            "name": user.name,
            "email": user.email,
            "mobile": None,
            "phone": None,
        }
    return body


def _requester(account: Account, t: Ticket) -> User:
    return account.user(account.user_index_by_id(t.requester_id) or 0)


def _description(t: Ticket) -> str:
    first = t.audits[0].children[0] if t.audits and t.audits[0].children else None
    return first.body if first is not None and first.body is not None else t.description


def is_listed(t: Ticket, view: str | None) -> bool:
    """Whether the ticket is in the list `view` (None: the default list, neither deleted nor
    spam; "deleted" / "spam": only those)."""
    if t.status != "deleted":
        return view is None
    return view == ("spam" if t.id % 2 == 0 else "deleted")


# --- conversations -----------------------------------------------------------------------------


def conversations(t: Ticket) -> list[dict[str, Any]]:
    """Every reply and note after the description, oldest first."""
    out: list[dict[str, Any]] = []
    for n, audit in enumerate(t.audits):
        for k, child in enumerate(audit.children):
            if child.kind != "Comment" or child.body is None or (n == 0 and k == 0):
                continue
            author = child.author_id if child.author_id is not None else audit.author_id
            when = ts_iso(audit.ts)
            out.append(
                {
                    "id": child_id(t.id, n, k),
                    "body": f"<div>{child.body}</div>",
                    "body_text": child.body,
                    "incoming": author == t.requester_id,
                    "private": not child.public,
                    "user_id": author,
                    "support_email": None,
                    "source": 0 if child.public else 2,
                    "category": 3 if author == t.requester_id else 2,
                    "ticket_id": t.id,
                    "to_emails": [],
                    "from_email": None,
                    "cc_emails": [],
                    "bcc_emails": [],
                    "attachments": [],
                    "created_at": when,
                    "updated_at": when,
                    "last_edited_at": None,
                    "last_edited_user_id": None,
                }
            )
    return out


def time_entries(t: Ticket) -> list[dict[str, Any]]:
    """An agent's reply or note logs `3 + id % 17` minutes of work ending at it."""
    if t.status == "deleted":
        return []
    out = []
    for n, audit in enumerate(t.audits):
        for k, child in enumerate(audit.children):
            author = child.author_id if child.author_id is not None else audit.author_id
            if (
                child.kind != "Comment"
                or child.body is None
                or author in (t.requester_id, BOT_USER_ID)
                or author <= 0
            ):
                continue
            eid = child_id(t.id, n, k)
            minutes = 3 + eid % 17
            out.append(
                {
                    "id": eid,
                    "billable": eid % 3 == 0,
                    "note": "",
                    "timer_running": False,
                    "agent_id": author,
                    "ticket_id": t.id,
                    "company_id": None,
                    "time_spent": f"{minutes // 60:02d}:{minutes % 60:02d}",
                    "executed_at": ts_iso(audit.ts),
                    "start_time": ts_iso(audit.ts - minutes * 60),
                    "created_at": ts_iso(audit.ts),
                    "updated_at": ts_iso(audit.ts),
                    "_ts": audit.ts,
                }
            )
    return out


def rating_json(t: Ticket) -> dict[str, Any] | None:
    """The ticket's answered survey, or None."""
    r = t.rating
    if r is None or r.score not in RATING:
        return None
    return {
        "id": r.id,
        "survey_id": SURVEY_ID,
        "user_id": t.requester_id,
        "agent_id": t.assignee_id,
        "group_id": t.group_id,
        "ticket_id": t.id,
        "feedback": r.comment or "",
        "ratings": {"default_question": RATING[r.score]},
        "created_at": ts_iso(r.updated_ts),
        "updated_at": ts_iso(r.updated_ts),
        "_ts": r.updated_ts,
    }


# --- people and settings -----------------------------------------------------------------------


def agent_json(user: User, account: Account) -> dict[str, Any]:
    groups = [m.group_id for m in account.memberships if m.user_id == user.id]
    return {
        "id": user.id,
        "available": user.active,
        "occasional": False,
        "signature": None,
        "ticket_scope": 1,
        "type": "support_agent",
        "group_ids": groups,
        "role_ids": [1 if user.role == "admin" else 2],
        "skill_ids": [],
        "deactivated": not user.active,
        "created_at": ts_iso(user.created_ts),
        "updated_at": ts_iso(user.updated_ts),
        "last_active_at": None,
        "contact": {
            "active": user.active,
            "email": user.email,
            "job_title": "Administrator" if user.role == "admin" else "Support agent",
            "language": "en",
            "last_login_at": None,
            "mobile": None,
            "name": user.name,
            "phone": None,
            "time_zone": "London",
            "created_at": ts_iso(user.created_ts),
            "updated_at": ts_iso(user.updated_ts),
        },
    }


def contact_json(user: User, account: Account) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "active": True,
        "address": None,
        "company_id": company_of(user, account),
        "view_all_tickets": False,
        "deleted": False,
        "description": None,
        "job_title": None,
        "language": "en",
        "mobile": None,
        "phone": None,
        "other_emails": [],
        "tags": [],
        "time_zone": "London",
        "twitter_id": None,
        "unique_external_id": None,
        "custom_fields": {"customer_value": None},
        "created_at": ts_iso(user.created_ts),
        "updated_at": ts_iso(user.updated_ts),
    }


def group_json(group: Group, account: Account) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "description": f"{group.name} team",
        "business_hour_id": BUSINESS_HOURS_BASE + (2 if group.name == "VIP" else 1),
        "escalate_to": None,
        "unassigned_for": None,
        "auto_ticket_assign": False,
        "agent_ids": [m.user_id for m in account.memberships if m.group_id == group.id],
        "created_at": ts_iso(group.created_ts),
        "updated_at": ts_iso(group.created_ts),
    }


def companies(account: Account) -> list[dict[str, Any]]:
    created = ts_iso(account.start_ts - 300 * 86_400)
    return [
        {
            "id": COMPANY_BASE + n,
            "name": f"Customer Org {n}",
            "description": None,
            "domains": [f"org{n}.example.com"],
            "note": None,
            "health_score": None,
            "account_tier": "Basic",
            "renewal_date": None,
            "industry": None,
            "custom_fields": {},
            "created_at": created,
            "updated_at": created,
        }
        for n in range(1, COMPANIES + 1)
    ]


def _week(start: str, end: str) -> dict[str, dict[str, str]]:
    days = ("monday", "tuesday", "wednesday", "thursday", "friday")
    return {day: {"start_time": start, "end_time": end} for day in days}


def business_hours(account: Account) -> list[dict[str, Any]]:
    """The Zendesk dialect's two schedules as Freshdesk can say them: one span a day (the
    EMEA lunch break cannot be said; Freshdesk's hours are one window per weekday)."""
    created = ts_iso(account.start_ts - 200 * 86_400)
    return [
        {
            "id": BUSINESS_HOURS_BASE + 1,
            "name": "Americas support",
            "description": "Weekdays 9 to 5, New York",
            "is_default": True,
            "time_zone": "Eastern Time (US & Canada)",
            "business_hours": _week("9:00 am", "5:00 pm"),
            "created_at": created,
            "updated_at": created,
        },
        {
            "id": BUSINESS_HOURS_BASE + 2,
            "name": "EMEA support",
            "description": "Weekdays 8 to 6, London",
            "is_default": False,
            "time_zone": "London",
            "business_hours": _week("8:00 am", "6:00 pm"),
            "created_at": created,
            "updated_at": created,
        },
    ]


def sla_policies(account: Account) -> list[dict[str, Any]]:
    created = ts_iso(account.start_ts - 200 * 86_400)
    targets = {
        f"priority_{PRIORITY[p]}": {
            "respond_within": SLA_TARGET_MINUTES[p] * 60,
            "resolve_within": SLA_TARGET_MINUTES[p] * 360,
            "business_hours": False,
            "escalation_enabled": True,
        }
        for p in reversed(PRIORITIES)
    }
    return [
        {
            "id": SLA_POLICY_ID,
            "name": "Default SLA Policy",
            "description": "The targets of every ticket",
            "active": True,
            "is_default": True,
            "position": 1,
            "sla_target": targets,
            "applicable_to": {},
            "escalation": {},
            "created_at": created,
            "updated_at": created,
        }
    ]
