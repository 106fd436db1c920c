"""Render Talk calls and Chat chats as Zendesk's Talk and Chat APIs send them (separate APIs from
Support, not in its OpenAPI document: their shapes follow Zendesk's documentation pages and the
recorded samples in shared/specs/zendesk/samples)."""

from __future__ import annotations

from typing import Any

from deskpulse.sandbox.data import ACCOUNT_ID, PHONE_NUMBER_ID, Account, Call, Chat, ts_iso


def call_json(c: Call) -> dict[str, Any]:
    answered = c.completion_status == "completed"
    duration = c.wait_time + c.talk_time + c.hold_time
    return {
        "id": c.id,
        "agent_id": c.agent_id,
        "call_charge": f"{0.0025 * duration:.3f}",
        "call_group_id": c.group_id,
        "call_recording_consent": "always",
        "call_recording_consent_action": None,
        "call_recording_consent_keypress": None,
        "callback": False,
        "callback_source": None,
        "completion_status": c.completion_status,
        "consultation_time": 0,
        "created_at": ts_iso(c.created_ts),
        "customer_id": c.customer_id,
        "customer_requested_voicemail": False,
        "default_group": True,
        "direction": c.direction,
        "duration": duration,
        "exceeded_queue_wait_time": c.completion_status == "voicemail",
        "hold_time": c.hold_time,
        "ivr_action": None,
        "ivr_destination_group_name": None,
        "ivr_hops": None,
        "ivr_routed_to": None,
        "ivr_time_spent": 12 if c.completion_status == "abandoned_in_ivr" else None,
        "minutes_billed": (duration + 59) // 60,
        "not_recording_time": 0,
        "outside_business_hours": c.outside_business_hours,
        "overflowed": False,
        "overflowed_to": None,
        "phone_number": "+15550100000",
        "phone_number_id": PHONE_NUMBER_ID,
        "quality_issues": [],
        "recording_control_interactions": 0,
        "recording_time": c.talk_time if answered else 0,
        "talk_time": c.talk_time,
        "ticket_id": c.ticket_id,
        "time_to_answer": c.wait_time if answered else None,
        "updated_at": ts_iso(c.updated_ts),
        "voicemail": c.voicemail,
        "wait_time": c.wait_time,
        "wrap_up_time": c.wrap_up_time if answered else None,
    }


def chat_json(c: Chat, account: Account) -> dict[str, Any]:
    agent = account.staff_by_id.get(c.agent_id) if c.agent_id else None
    visitor = f"{ACCOUNT_ID}.{c.visitor_id}" if c.visitor_id else f"{ACCOUNT_ID}.anon"
    total = c.messages_visitor + c.messages_agent
    history: list[dict[str, Any]] = [
        {
            "name": "Visitor",
            "timestamp": ts_iso(c.start_ts),
            "type": "chat.memberjoin",
            "channel": f"#supportchat:{visitor}",
            "department_id": c.department_id,
            "department_name": None,
        },
        {
            "name": "Visitor",
            "timestamp": ts_iso(c.start_ts),
            "msg": "Hello, I need help",
            "type": "chat.msg",
            "options": "",
            "channel": f"#supportchat:{visitor}",
        },
    ]
    if agent is not None and c.first_response is not None:
        history.append(
            {
                "name": agent.name,
                "timestamp": ts_iso(c.start_ts + c.first_response),
                "type": "chat.memberjoin",
                "channel": f"#supportchat:{visitor}",
            }
        )
        history.append(
            {
                "name": agent.name,
                "timestamp": ts_iso(c.start_ts + c.first_response),
                "msg": "Hi! How can I help?",
                "type": "chat.msg",
                "options": "",
                "channel": f"#supportchat:{visitor}",
            }
        )
    history.append(
        {
            "name": "Visitor",
            "timestamp": ts_iso(c.end_ts),
            "type": "chat.memberleave",
            "channel": f"#supportchat:{visitor}",
        }
    )
    return {
        "id": c.id,
        "type": "chat" if not c.missed else "offline_msg",
        "timestamp": ts_iso(c.start_ts),
        "end_timestamp": ts_iso(c.end_ts),
        "update_timestamp": ts_iso(c.update_ts),
        "duration": c.end_ts - c.start_ts,
        "missed": c.missed,
        "unread": False,
        "triggered": False,
        "triggered_response": None,
        "started_by": "visitor",
        "agent_ids": [str(c.agent_id)] if c.agent_id else [],
        "agent_names": [agent.name] if agent else [],
        "department_id": c.department_id,
        "department_name": None,
        "zendesk_ticket_id": c.ticket_id,
        "visitor": {
            "id": visitor,
            "name": f"Customer {c.visitor_id}" if c.visitor_id else "Visitor",
            "email": "",
            "phone": "",
            "notes": "",
        },
        "session": {
            "id": f"{c.id}.session",
            "start_date": ts_iso(c.start_ts),
            "end_date": ts_iso(c.end_ts),
            "browser": "Firefox",
            "platform": "Linux",
            "country_code": "US",
            "country_name": "United States",
            "region": "redacted",
            "city": "redacted",
            "ip": "203.0.113.10",
            "user_agent": "Mozilla/5.0",
        },
        "response_time": (
            {"first": c.first_response, "avg": float(c.first_response), "max": c.first_response}
            if c.first_response is not None
            else None
        ),
        "count": {"visitor": c.messages_visitor, "agent": c.messages_agent, "total": total},
        "rating": c.rating,
        "comment": None,
        "tags": [],
        "webpath": [],
        "referrer_search_engine": "",
        "referrer_search_terms": "",
        "history": history,
    }
