"""Render generated records as Zendesk JSON objects (dicts ready for orjson)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deskpulse.sandbox.data import (
    AUDIT_BASE,
    CHILD_BASE,
    COMMENT_BODIES,
    METRIC_EVENT_BASE,
    SLA_POLICY_BASE,
    TYPES,
    VIA_IDS,
    Child,
    Group,
    Membership,
    MetricEvent,
    Rating,
    Ticket,
    TicketRef,
    User,
    ts_iso,
)

_EMPTY_SOURCE: dict[str, Any] = {"from": {}, "to": {}, "rel": None}
_NONE: tuple[()] = ()
"""An empty JSON array (orjson writes tuples as arrays): immutable, so every record shares it."""
_BOT_TAGS = ("bot",)
_VIA_NAMES = {number: name for name, number in VIA_IDS.items()}
WRITE_AUDIT_BASE = 950_000_000_000
CREATED_TICKET_BASE = 900_000_000
"""Ids of tickets created through the API (summary posts), apart from generated ones."""
CUSTOM_STATUS_IDS = {
    "new": 360_020_000_001,
    "open": 360_020_000_002,
    "pending": 360_020_000_003,
    "hold": 360_020_000_004,
    "solved": 360_020_000_005,
    "closed": 360_020_000_005,
    "deleted": 360_020_000_005,
}


def via_obj(channel: str | int, rel: str | None = None) -> dict[str, Any]:
    if rel is None:
        return {"channel": channel, "source": _EMPTY_SOURCE}
    return {"channel": channel, "source": {"from": {}, "to": {}, "rel": rel}}


_EMAIL_SOURCE: dict[str, Any] = {
    "from": {"address": "customer@example.com", "name": "Customer"},
    "to": {"address": "support@sandbox.zendesk.com", "name": "Sandbox Support"},
    "rel": None,
}
_VIA_CACHE: dict[str | int, dict[str, Any]] = {}


def _via_for(channel: str | int, _ticket: Ticket | None = None) -> dict[str, Any]:
    """The via object for a channel. Shared, never mutated (rendered straight to JSON)."""
    via = _VIA_CACHE.get(channel)
    if via is None:
        if channel in ("email", 4):
            via = {"channel": channel, "source": _EMAIL_SOURCE}
        elif channel in ("voice", 34):
            via = via_obj(channel, "inbound")
        elif channel in ("rule", 8):
            via = via_obj(channel, "automation")
        else:
            via = via_obj(channel)
        _VIA_CACHE[channel] = via
    return via


def satisfaction_field(t: Ticket) -> dict[str, Any] | None:
    r = t.rating
    if r is None:
        return None
    if r.score == "unoffered":
        return {"score": "unoffered"}
    return {"id": r.id, "score": r.score, "comment": r.comment}


def ticket_json(t: Ticket, base: str, override: dict[str, Any] | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {
        "url": f"{base}/api/v2/tickets/{t.id}.json",
        "id": t.id,
        "external_id": None,
        "via": _VIA_CACHE.get(t.via) or _via_for(t.via),
        "created_at": ts_iso(t.created_ts),
        "updated_at": ts_iso(t.updated_ts),
        "generated_timestamp": t.generated_ts,
        "type": t.type if t.type is None or t.type in TYPES else None,
        "subject": t.subject,
        "raw_subject": t.subject,
        "description": t.description,
        "priority": t.priority,
        "status": t.status,
        "recipient": "support@sandbox.zendesk.com" if t.channel == "email" else None,
        "requester_id": t.requester_id,
        "submitter_id": t.submitter_id,
        "assignee_id": t.assignee_id,
        "organization_id": None,
        "group_id": t.group_id,
        "collaborator_ids": _NONE,
        "follower_ids": _NONE,
        "email_cc_ids": _NONE,
        "forum_topic_id": None,
        "problem_id": None,
        "has_incidents": False,
        "is_public": True,
        "due_at": None,
        # Zendesk's type is one of four; an account's own kinds ("complaint") are a dropdown
        # field's value, which Zendesk also adds as a tag.
        "tags": t.tags if t.type is None or t.type in TYPES else (*t.tags, t.type),
        "custom_fields": t.custom_fields,
        "fields": t.custom_fields,
        "satisfaction_rating": satisfaction_field(t),
        "sharing_agreement_ids": _NONE,
        "custom_status_id": CUSTOM_STATUS_IDS[t.status],
        "followup_ids": _NONE,
        "ticket_form_id": 360_000_000_001,
        "brand_id": 360_000_000_002,
        "allow_channelback": False,
        "allow_attachments": True,
        "from_messaging_channel": False,
    }
    if override:
        apply_override(d, override)
    return d


def apply_override(d: dict[str, Any], ov: dict[str, Any]) -> None:
    """Apply a recorded write (see zendesk.WriteLog) on top of a rendered ticket."""
    for key in ("status", "priority", "type", "subject", "assignee_id", "group_id"):
        if key in ov:
            d[key] = ov[key]
    if "tags" in ov:
        d["tags"] = list(ov["tags"])
    if "custom_fields" in ov:
        by_id = {f["id"]: f for f in d["custom_fields"]}
        for f in ov["custom_fields"]:
            by_id[f["id"]] = {"id": f["id"], "value": f.get("value")}
        d["custom_fields"] = d["fields"] = list(by_id.values())
    d["updated_at"] = ts_iso(ov["_ts"])
    d["generated_timestamp"] = ov["_ts"]
    d["custom_status_id"] = CUSTOM_STATUS_IDS.get(d["status"], d["custom_status_id"])


# Shared by every metric set that has them (rendered straight to JSON, never mutated).
_NO_MINUTES: dict[str, Any] = {"calendar": None, "business": None}
_ZERO_MINUTES: dict[str, Any] = {"calendar": 0, "business": None}


def _minutes(a: int | None, b: int | None) -> dict[str, int | None]:
    if a is None or b is None:
        return _NO_MINUTES
    m = max(0, (b - a) // 60)
    # Business minutes are not computed by the sandbox (null); deskpulse derives business time
    # from the schedules endpoint itself.
    return {"calendar": m, "business": None}


def metric_set_json(t: Ticket, base: str) -> dict[str, Any]:
    created_ts = t.created_ts
    solved = t.solved_ts if t.status in ("solved", "closed") else None
    wait = None
    if solved is not None:
        wait = {
            "calendar": max(0, (solved - created_ts - t.on_hold_seconds) // 60),
            "business": None,
        }
    created = ts_iso(created_ts)
    updated = ts_iso(t.updated_ts)
    assigned = ts_iso(t.assigned_ts) if t.assigned_ts else None
    resolution = _minutes(created_ts, solved)
    on_hold = t.on_hold_seconds // 60
    metric_id = 500_000_000_000 + t.id
    return {
        "url": f"{base}/api/v2/ticket_metrics/{metric_id}.json",
        "id": metric_id,
        "ticket_id": t.id,
        "created_at": created,
        "updated_at": updated,
        "group_stations": 1,
        "assignee_stations": 1 if t.assigned_ts is not None else 0,
        "reopens": t.reopens,
        "replies": t.replies,
        "assignee_updated_at": assigned,
        "requester_updated_at": created,
        "status_updated_at": updated,
        "initially_assigned_at": assigned,
        "assigned_at": assigned,
        "solved_at": ts_iso(solved) if solved else None,
        "latest_comment_added_at": updated,
        "reply_time_in_minutes": _minutes(created_ts, t.first_reply_ts),
        "first_resolution_time_in_minutes": resolution,
        "full_resolution_time_in_minutes": resolution,
        "agent_wait_time_in_minutes": _ZERO_MINUTES if solved else _NO_MINUTES,
        "requester_wait_time_in_minutes": wait or _NO_MINUTES,
        "on_hold_time_in_minutes": (
            {"calendar": on_hold, "business": None} if on_hold else _ZERO_MINUTES
        ),
        "custom_status_updated_at": updated,
    }


_HTML_BODIES: dict[str, str] = {
    body: f'<div class="zd-comment" dir="auto"><p dir="auto">{body}</p></div>'
    for body in COMMENT_BODIES
}
"""html_body of every comment text the generator writes (others are formatted as needed)."""

_SYSTEM: dict[str, Any] = {
    "client": "sandbox",
    "location": None,
    "latitude": None,
    "longitude": None,
}


def ticket_event_json(
    t: TicketRef,
    ts: int,
    author_id: int,
    via_channel: str | int,
    children: Sequence[Child],
    n: int,
    comments: bool,
) -> dict[str, Any]:
    """The ticket event of audit n of ticket t (an Audit's fields: see streams.audits_of)."""
    # n < 0: an audit made by a write (see zendesk.WriteLog), numbered apart.
    if n >= 0:
        audit_id = AUDIT_BASE + t.id * 64 + n
        cid = CHILD_BASE + (t.id * 64 + n) * 8  # + k for the k-th child event
    else:
        audit_id = WRITE_AUDIT_BASE - n
        cid = audit_id * 10 + 1
    via = _VIA_CACHE.get(via_channel) or _via_for(via_channel)
    created_at = ts_iso(ts)
    events: list[dict[str, Any]] = []
    add = events.append
    for c in children:
        kind = c.kind
        if kind == "Comment":
            if comments:
                body = c.body or ""
                html = _HTML_BODIES.get(body)
                if html is None:
                    html = f'<div class="zd-comment" dir="auto"><p dir="auto">{body}</p></div>'
                add(
                    {
                        "id": cid,
                        "via": via,
                        "via_reference_id": None,
                        "type": "Comment",
                        "author_id": c.author_id,
                        "body": body,
                        "html_body": html,
                        "plain_body": body,
                        "public": c.public,
                        "attachments": _NONE,
                        "audit_id": audit_id,
                        "created_at": created_at,
                        "event_type": "Comment",
                    }
                )
            else:
                add(
                    {
                        "id": cid,
                        "via": via,
                        "via_reference_id": None,
                        "comment_present": True,
                        "comment_public": c.public,
                        "event_type": "Comment",
                    }
                )
        elif kind == "SatisfactionRating":
            add(
                {
                    "id": cid,
                    "via": via,
                    "via_reference_id": None,
                    "type": "SatisfactionRating",
                    "score": c.score,
                    "assignee_id": t.assignee_id,
                    "body": c.body,
                    "event_type": "SatisfactionRating",
                }
            )
        else:  # Create / Change, the most common: built inline (see _change_json)
            field_name, value = c.field_name, c.value
            d: dict[str, Any] = {
                "id": cid,
                "via": via,
                "via_reference_id": None,
                field_name or "value": value,
                "field_name": field_name,
                "value": value,
                "event_type": kind,
            }
            if kind == "Change":
                d["previous_value"] = c.previous_value
            if field_name == "tags":
                d["added_tags"] = list(value or [])
                d["removed_tags"] = _NONE
            add(d)
        cid += 1
    return {
        "id": audit_id,
        "ticket_id": t.id,
        "timestamp": ts,
        "created_at": created_at,
        "updater_id": author_id,
        "via": via,
        "system": _SYSTEM,
        "merged_ticket_ids": _NONE,
        "event_type": "Audit",
        "child_events": events,
    }


_AUDIT_DROP = ("event_type", "via", "via_reference_id")


def audit_json(
    t: TicketRef,
    ts: int,
    author_id: int,
    via_channel: str | int,
    children: Sequence[Child],
    n: int,
) -> dict[str, Any]:
    """Audit n of ticket t as the Ticket Audits API spells it: the same ids as its ticket event
    in the incremental export (so the two can be joined or deduplicated), `events` with a
    `type` and `field_name`/`value` (the export's field-named key is left out)."""
    event = ticket_event_json(t, ts, author_id, via_channel, children, n, True)
    events: list[dict[str, Any]] = []
    for child in event["child_events"]:
        e = {k: v for k, v in child.items() if k not in _AUDIT_DROP}
        kind = child["event_type"]
        if kind in ("Create", "Change"):
            e.pop(child.get("field_name") or "value", None)
            e["value"] = child["value"]
        e["type"] = kind
        events.append(e)
    return {
        "id": event["id"],
        "ticket_id": t.id,
        "created_at": event["created_at"],
        "author_id": author_id,
        "metadata": {"system": _SYSTEM, "custom": {}},
        # The Audits API names the channel ("rule"); only the export mixes in via ids (8).
        "via": _via_for(_VIA_NAMES.get(via_channel, via_channel))
        if isinstance(via_channel, int)
        else event["via"],
        "events": events,
    }


def comments_json(audit: dict[str, Any]) -> list[dict[str, Any]]:
    """The comments of an audit (audit_json) as the Ticket Comments API lists them."""
    return [
        {**e, "via": audit["via"], "metadata": audit["metadata"], "created_at": audit["created_at"]}
        for e in audit["events"]
        if e["type"] == "Comment"
    ]


def metric_event_json(t: TicketRef, me: MetricEvent, n: int) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": METRIC_EVENT_BASE + t.id * 64 + n,
        "ticket_id": t.id,
        "metric": me.metric,
        "instance_id": me.instance_id,
        "type": me.type,
        "time": ts_iso(me.ts),
    }
    if me.type == "apply_sla":
        prio = me.policy_priority or "normal"
        d["sla"] = {
            "target": me.sla_target,
            "target_in_seconds": (me.sla_target or 0) * 60,
            "business_hours": me.sla_business,
            "policy": {
                "id": SLA_POLICY_BASE + ("low", "normal", "high", "urgent").index(prio) + 1,
                "title": f"{prio.title()} priority SLA",
                "description": f"Targets for {prio} priority tickets",
            },
        }
    elif me.type == "breach":
        d["deleted"] = False
    return d


def rating_json(t: TicketRef, r: Rating, base: str) -> dict[str, Any]:
    return {
        "id": r.id,
        "url": f"{base}/api/v2/satisfaction_ratings/{r.id}.json",
        "assignee_id": t.assignee_id,
        "group_id": t.group_id,
        "requester_id": t.requester_id,
        "ticket_id": t.id,
        "score": r.score,
        "comment": r.comment,
        "reason": r.reason,
        "reason_id": 360_030_000_001 if r.reason else None,
        "reason_code": None,
        "created_at": ts_iso(r.created_ts),
        "updated_at": ts_iso(r.updated_ts),
    }


_IANA_TIME_ZONES = {
    "Eastern Time (US & Canada)": "America/New_York",
    "London": "Europe/London",
    "Berlin": "Europe/Berlin",
}


def user_json(u: User, base: str) -> dict[str, Any]:
    created = ts_iso(u.created_ts)
    updated = created if u.updated_ts == u.created_ts else ts_iso(u.updated_ts)
    return {
        "id": u.id,
        "url": f"{base}/api/v2/users/{u.id}.json",
        "name": u.name,
        "email": u.email,
        "created_at": created,
        "updated_at": updated,
        "time_zone": u.time_zone,
        "iana_time_zone": _IANA_TIME_ZONES.get(u.time_zone, "Etc/UTC"),
        "phone": None,
        "shared_phone_number": None,
        "photo": None,
        "locale_id": 1,
        "locale": "en-US",
        "organization_id": None,
        "role": u.role,
        "verified": True,
        "external_id": None,
        "tags": _BOT_TAGS if u.bot else _NONE,
        "alias": None,
        "active": u.active,
        "shared": False,
        "shared_agent": False,
        "last_login_at": updated if u.role != "end-user" else None,
        "two_factor_auth_enabled": None,
        "signature": None,
        "details": None,
        "notes": None,
        "role_type": None if u.role == "end-user" else 0,
        "custom_role_id": None,
        "moderator": u.role != "end-user",
        "ticket_restriction": None if u.role != "end-user" else "requested",
        "only_private_comments": False,
        "restricted_agent": False,
        "suspended": False,
        "default_group_id": u.default_group_id,
        "report_csv": False,
        "user_fields": {"bot": u.bot},
    }


def group_json(g: Group, base: str) -> dict[str, Any]:
    return {
        "url": f"{base}/api/v2/groups/{g.id}.json",
        "id": g.id,
        "is_public": True,
        "name": g.name,
        "description": f"{g.name} team",
        "default": g.name == "Support",
        "deleted": False,
        "created_at": ts_iso(g.created_ts),
        "updated_at": ts_iso(g.created_ts),
    }


def membership_json(m: Membership, base: str) -> dict[str, Any]:
    return {
        "url": f"{base}/api/v2/group_memberships/{m.id}.json",
        "id": m.id,
        "user_id": m.user_id,
        "group_id": m.group_id,
        "default": m.default,
        "created_at": ts_iso(m.created_ts),
        "updated_at": ts_iso(m.created_ts),
    }
