"""Zendesk webhooks: verifying a delivery, and creating the webhook and its trigger.

Signature (developer.zendesk.com, "Verifying webhook authenticity")
    `X-Zendesk-Webhook-Signature` = base64(HMAC-SHA256(signing secret, timestamp + raw body)),
    with the timestamp as sent in `X-Zendesk-Webhook-Signature-Timestamp` (ISO 8601, e.g.
    `2026-12-05T10:00:00Z`). The signing secret is the webhook's own
    (`GET /api/v2/webhooks/{id}/signing_secret`), used as text, not base64-decoded. Each
    delivery carries `X-Zendesk-Webhook-Invocation-Id`; Zendesk's retries of it keep the id.
    (One page of Zendesk's guide writes the order as body + timestamp beside an example; its
    prose and the headers' names give timestamp + body, which is what is verified here.)
Body
    Whatever the trigger's action says; `deskpulse webhooks setup` makes it
    `{"ticket_id": "{{ticket.id}}"}`. The event webhooks' shape (`{"detail": {"id": "..."}}`)
    is read as well. A ticket id is digits; anything else is a malformed delivery (400).
Setup (`setup`)
    The webhook (Webhooks API, not in the Support OpenAPI document): found by its name in
    `GET /api/v2/webhooks?filter[name_contains]=`, else `POST /api/v2/webhooks` (JSON, POST,
    `subscriptions: ["conditional_ticket_events"]`, the kind a trigger can call); an endpoint
    that changed is `PATCH`ed. The trigger: found by its title in `GET /api/v2/triggers`, else
    `POST /api/v2/triggers` on tickets created or changed, action `notification_webhook` with
    [webhook id, body]. Run twice, it changes nothing. Our own write-back updates a ticket too,
    so each written value comes back as one hint: one read, and the ledger writes nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deskpulse.connectors.http import HttpClient
from deskpulse.connectors.webhooks import (
    Hint,
    Malformed,
    Request,
    SecretVerifier,
    Unverified,
    b64,
    hmac_sha256,
    parse_time,
    same,
)

SIGNATURE = "x-zendesk-webhook-signature"
TIMESTAMP = "x-zendesk-webhook-signature-timestamp"
INVOCATION = "x-zendesk-webhook-invocation-id"

WEBHOOKS = "/api/v2/webhooks"
WEBHOOK = "/api/v2/webhooks/{webhook_id}"
SIGNING_SECRET = "/api/v2/webhooks/{webhook_id}/signing_secret"
TRIGGERS = "/api/v2/triggers"
BODY = '{"ticket_id": "{{ticket.id}}"}'
"""The JSON the trigger sends: the ticket's id, nothing else (the daemon reads the rest)."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return b64(hmac_sha256(secret, timestamp.encode(), body))


class ZendeskWebhooks(SecretVerifier):
    """The verifier of one source's webhook (its signing secret)."""

    def verify(self, request: Request) -> Hint:
        stamp = request.headers.get(TIMESTAMP)
        given = request.headers.get(SIGNATURE)
        if not given or not stamp:
            raise Unverified("unsigned (no X-Zendesk-Webhook-Signature and timestamp)")
        if not same(given, signature(self._secret, stamp, request.body)):
            raise Unverified("wrong signature")
        sent_at = parse_time(stamp)
        return Hint(_ticket_ids(request.body), request.headers.get(INVOCATION), sent_at)


def _ticket_ids(body: bytes) -> tuple[str, ...]:
    try:
        doc = json.loads(body)
    except ValueError:
        raise Malformed("the body is not JSON") from None
    if not isinstance(doc, Mapping):
        raise Malformed("the body is not a JSON object")
    value = doc.get("ticket_id")
    if value is None and isinstance(doc.get("detail"), Mapping):
        value = doc["detail"].get("id")
    text = str(value).strip() if isinstance(value, (int, str)) else ""
    if not (text.isascii() and text.isdigit()):
        raise Malformed('no ticket id (expected {"ticket_id": "{{ticket.id}}"})')
    return (text,)


@dataclass(frozen=True)
class SetupResult:
    webhook_id: str
    trigger_id: str
    secret: str
    created: tuple[str, ...]  # "webhook", "trigger", "endpoint" (updated): what changed

    def __repr__(self) -> str:
        return (
            f"SetupResult(webhook_id={self.webhook_id!r}, trigger_id={self.trigger_id!r}, "
            f"created={self.created!r})"
        )


def setup(client: HttpClient, source: str, endpoint: str) -> SetupResult:
    """Create (or find) the source's webhook pointing at `endpoint` and its trigger."""
    name = f"deskpulse ({source})"
    created: list[str] = []
    found = _find(
        client.get_json(WEBHOOKS, {"filter[name_contains]": "deskpulse"}), "webhooks", "name", name
    )
    if found is None:
        body: dict[str, Any] = {
            "webhook": {
                "name": name, "endpoint": endpoint, "http_method": "POST",
                "request_format": "json", "status": "active",
                "subscriptions": ["conditional_ticket_events"],
            }
        }  # fmt: skip
        found = _object(client.post_json(WEBHOOKS, body), "webhook")
        created.append("webhook")
    elif found.get("endpoint") != endpoint:
        path = WEBHOOK.format(webhook_id=found["id"])
        client.request_json("PATCH", path, json={"webhook": {"endpoint": endpoint}})
        created.append("endpoint")
    webhook_id = str(found["id"])
    secret = _object(
        client.get_json(SIGNING_SECRET.format(webhook_id=webhook_id)), "signing_secret"
    ).get("secret")
    if not isinstance(secret, str) or not secret:
        raise Malformed("zendesk: the webhook's signing secret could not be read")
    title = f"deskpulse: notify {source}"
    trigger = _find(client.get_json(TRIGGERS), "triggers", "title", title)
    if trigger is None:
        body = {
            "trigger": {
                "title": title,
                "description": "Tells deskpulse which ticket changed (deskpulse webhooks setup)",
                "conditions": {
                    "all": [],
                    "any": [
                        {"field": "update_type", "operator": "is", "value": "Create"},
                        {"field": "update_type", "operator": "is", "value": "Change"},
                    ],
                },
                "actions": [{"field": "notification_webhook", "value": [webhook_id, BODY]}],
            }
        }
        trigger = _object(client.post_json(TRIGGERS, body), "trigger")
        created.append("trigger")
    return SetupResult(webhook_id, str(trigger["id"]), secret, tuple(created))


def _object(body: Any, key: str) -> Mapping[str, Any]:
    found = body.get(key) if isinstance(body, Mapping) else None
    if not isinstance(found, Mapping) or (key != "signing_secret" and "id" not in found):
        raise Malformed(f"zendesk: the answer has no `{key}` object")
    return found


def _find(body: Any, key: str, field: str, value: str) -> Mapping[str, Any] | None:
    items = body.get(key) if isinstance(body, Mapping) else None
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping) and item.get(field) == value and "id" in item:
            return item
    return None


__all__ = ["BODY", "SetupResult", "ZendeskWebhooks", "setup", "signature"]
