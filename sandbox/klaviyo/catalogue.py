"""The rest of the sandbox's Klaviyo account: campaigns, flows and templates, as the resources
of Klaviyo's OpenAPI document (CampaignResponseObjectResource, FlowResponseObjectResource,
TemplateResponseObjectResource), a pure function of the account like the shop.

* Campaigns: the newsletter, one every two weeks over the year (email, sent to the Newsletter
  list), the last of them a draft; an SMS flash sale each quarter; one early campaign archived.
* Flows: a welcome series (added to the list), abandoned cart and post-purchase (metric
  triggered), a win-back still in draft, and an archived old welcome series.
* Templates: one per campaign kind and flow message, hand-coded (CODE) or drag-and-drop.

Each item carries the values its filters read (`fields`), so the dialect filters, sorts and
pages them with the same machinery as every other route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deskpulse.sandbox.data import DAY, HOUR, Account, ts_iso
from deskpulse.sandbox.klaviyo.shop import NEWSLETTER


@dataclass(frozen=True, slots=True)
class Item:
    type: str
    id: str
    attributes: dict[str, Any]
    fields: dict[str, Any]  # what the operation's filters and sorts read (datetimes as epochs)


def _iso(ts: int) -> str:
    return ts_iso(ts).replace("Z", "+00:00")


def campaigns(account: Account) -> list[Item]:
    out: list[Item] = []
    first = account.start_ts + 7 * DAY
    for n, ts in enumerate(range(first, account.anchor_ts, 14 * DAY), 1):
        draft = ts + 14 * DAY >= account.anchor_ts
        send = ts + 10 * HOUR
        out.append(
            _campaign(
                f"01JSBXCMP{n:05d}",
                f"Newsletter #{n}",
                "Draft" if draft else "Sent",
                "email",
                created=ts - 3 * DAY,
                send=None if draft else send,
                archived=n == 1,
            )
        )
    for q in range(1, 4):
        ts = account.start_ts + q * 91 * DAY
        out.append(
            _campaign(
                f"01JSBXSMS{q:05d}",
                f"Flash sale Q{q}",
                "Sent",
                "sms",
                created=ts - DAY,
                send=ts + 17 * HOUR,
                archived=False,
            )
        )
    return out


def _campaign(
    campaign_id: str,
    name: str,
    status: str,
    channel: str,
    *,
    created: int,
    send: int | None,
    archived: bool,
) -> Item:
    updated = send if send is not None else created
    attributes = {
        "name": name,
        "status": status,
        "archived": archived,
        "audiences": {"included": [NEWSLETTER], "excluded": []},
        "send_options": {"use_smart_sending": True},
        "tracking_options": None,
        "send_strategy": {
            "method": "static",
            "datetime": _iso(send if send is not None else created + 7 * DAY),
            "options": None,
        },
        "created_at": _iso(created),
        "scheduled_at": _iso(send - HOUR) if send is not None else None,
        "updated_at": _iso(updated),
        "send_time": _iso(send) if send is not None else None,
    }
    fields = {
        "id": campaign_id,
        "messages.channel": channel,
        "name": name,
        "status": status,
        "archived": archived,
        "created_at": created,
        "scheduled_at": send - HOUR if send is not None else None,
        "updated_at": updated,
    }
    return Item("campaign", campaign_id, attributes, fields)


_FLOWS = (
    ("Welcome Series", "live", "Added to List", False),
    ("Abandoned Cart", "live", "Metric", False),
    ("Post-purchase Thank You", "live", "Metric", False),
    ("Win-back", "draft", "Metric", False),
    ("Welcome Series (2024)", "manual", "Added to List", True),
)


def flows(account: Account) -> list[Item]:
    out = []
    for n, (name, status, trigger, archived) in enumerate(_FLOWS, 1):
        created = account.start_ts - (120 - 20 * n) * DAY
        updated = min(account.anchor_ts - DAY, created + 30 * n * DAY)
        flow_id = f"SbxFl{n}"
        attributes = {
            "name": name,
            "status": status,
            "archived": archived,
            "created": _iso(created),
            "updated": _iso(updated),
            "trigger_type": trigger,
        }
        fields = {
            "id": flow_id,
            "name": name,
            "status": status,
            "archived": archived,
            "created": created,
            "updated": updated,
            "trigger_type": trigger,
        }
        out.append(Item("flow", flow_id, attributes, fields))
    return out


_TEMPLATES = (
    ("Newsletter", "SYSTEM_DRAGGABLE"),
    ("Flash sale (SMS)", "CODE"),
    ("Welcome 1", "SYSTEM_DRAGGABLE"),
    ("Welcome 2", "SYSTEM_DRAGGABLE"),
    ("Abandoned cart reminder", "CODE"),
    ("Thank you for your order", "CODE"),
    ("We miss you", "SYSTEM_DRAGGABLE"),
)


def templates(account: Account) -> list[Item]:
    out = []
    for n, (name, editor) in enumerate(_TEMPLATES, 1):
        created = account.start_ts - (100 - 10 * n) * DAY
        updated = min(account.anchor_ts - DAY, created + 45 * n * DAY)
        template_id = f"SbxTp{n}"
        attributes = {
            "name": name,
            "editor_type": editor,
            "html": f"<html><body><h1>{name}</h1></body></html>",
            "text": name,
            "amp": None,
            "created": _iso(created),
            "updated": _iso(updated),
        }
        fields = {"id": template_id, "name": name, "created": created, "updated": updated}
        out.append(Item("template", template_id, attributes, fields))
    return out


__all__ = ["Item", "campaigns", "flows", "templates"]
