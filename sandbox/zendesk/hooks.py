"""The Zendesk dialect's webhooks and triggers: what `deskpulse webhooks setup` creates, and
what makes the sandbox call the daemon when a ticket changes.

POST /api/v2/webhooks `{"webhook": {name, endpoint, http_method, request_format, status,
    subscriptions}}` -> 201 `{"webhook"}` (id a 26-character string, as Zendesk's ULIDs);
    GET /api/v2/webhooks[?filter[name_contains]=] -> `{"webhooks", "meta", "links"}`;
    PATCH /api/v2/webhooks/{id} `{"webhook": {...}}` -> 204;
    GET /api/v2/webhooks/{id}/signing_secret -> `{"signing_secret": {"algorithm", "secret"}}`.
    (Webhooks API: developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks/.)
POST /api/v2/triggers `{"trigger": {title, conditions, actions}}` -> 201; GET /api/v2/triggers.
    A trigger's `notification_webhook` action `[webhook id, body]` sends `body` (with
    `{{ticket.id}}` filled in) to the webhook's endpoint whenever a ticket is updated through the
    API or by the generated activity (`POST /__sandbox/activity {"count": n}`); conditions are
    not evaluated (every deskpulse trigger asks for every create and change).
"""

from __future__ import annotations

import base64
import secrets
import threading
from typing import Any

from deskpulse.sandbox.webhooks import Outbox, Target, hmac_sha256, now_stamp
from deskpulse.sandbox.wire import Request, Response
from deskpulse.sandbox.zendesk.common import APIBase, api_error, bad, not_found
from deskpulse.sandbox.zendesk.writes import Writes

DEFAULT_TRIGGERS: list[dict[str, Any]] = [
    {
        "id": 360000000 + k,
        "title": title,
        "active": True,
        "conditions": {"all": [{"field": "update_type", "operator": "is", "value": kind}]},
        "actions": [{"field": "notification_user", "value": ["requester_id", title, "..."]}],
    }
    for k, (title, kind) in enumerate(
        [
            ("Notify requester and CCs of received request", "Create"),
            ("Notify requester and CCs of comment update", "Change"),
            ("Notify assignee of assignment", "Change"),
        ],
        start=1,
    )
]
"""The triggers a new Zendesk account comes with (e-mail notifications: no webhook)."""


def sign_zendesk(secret: str, body: bytes, delivery: str) -> dict[str, str]:
    """Zendesk's signature headers: base64 HMAC-SHA256 of the timestamp and the body."""
    stamp = now_stamp()
    signature = base64.b64encode(hmac_sha256(secret, stamp.encode() + body)).decode()
    return {
        "X-Zendesk-Webhook-Signature": signature,
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "X-Zendesk-Webhook-Invocation-Id": delivery,
    }


class Hooks(Writes, APIBase):
    sign_webhook = staticmethod(sign_zendesk)

    _hooks_lock = threading.Lock()

    def attach_outbox(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.webhooks_made: dict[str, dict[str, Any]] = {}
        self.webhook_secrets: dict[str, str] = {}
        self.triggers_made: dict[int, dict[str, Any]] = {
            int(t["id"]): dict(t) for t in DEFAULT_TRIGGERS
        }
        self.writes.listeners.append(outbox.changed)
        outbox.targets_of = self._targets

    def _targets(self) -> list[Target]:
        out = list(self.outbox.targets)
        for trigger in list(self.triggers_made.values()):
            if not trigger.get("active", True):
                continue
            for action in trigger.get("actions") or ():
                value = action.get("value") if isinstance(action, dict) else None
                if action.get("field") != "notification_webhook" or not isinstance(value, list):
                    continue
                hook = self.webhooks_made.get(str(value[0]))
                if hook is not None and hook.get("status") == "active":
                    body = str(value[1]) if len(value) > 1 else "{}"
                    secret = self.webhook_secrets[hook["id"]]
                    out.append(Target(hook["endpoint"], secret, body))
        return out

    def _object(self, req: Request, key: str) -> dict[str, Any]:
        found = self._parse_body(req).get(key)
        if not isinstance(found, dict):
            raise api_error(400, "InvalidValue", f"{key} is required")
        return found

    def h_webhooks_list(self, req: Request, _: dict[str, str]) -> Response:
        part = req.arg("filter[name_contains]") or ""
        hooks = [h for h in self.webhooks_made.values() if part in h["name"]]
        return Response.json(200, {"webhooks": hooks, "meta": {"has_more": False}, "links": {}})

    def h_webhook_create(self, req: Request, _: dict[str, str]) -> Response:
        doc = self._object(req, "webhook")
        for key in ("name", "endpoint", "http_method", "request_format", "status"):
            if not isinstance(doc.get(key), str):
                raise bad(f"webhook.{key} is required")
        with self._hooks_lock:
            hook_id = f"01SANDBOX{len(self.webhooks_made) + 1:017d}"
            hook = {"id": hook_id, **{k: doc[k] for k in doc if k != "id"}}
            self.webhooks_made[hook_id] = hook
            self.webhook_secrets[hook_id] = secrets.token_urlsafe(32)
        return Response.json(201, {"webhook": hook})

    def _hook(self, params: dict[str, str]) -> dict[str, Any]:
        hook = self.webhooks_made.get(params["id"])
        if hook is None:
            raise not_found()
        return hook

    def h_webhook_update(self, req: Request, params: dict[str, str]) -> Response:
        hook = self._hook(params)
        hook.update({k: v for k, v in self._object(req, "webhook").items() if k != "id"})
        return Response(204, b"", [])

    def h_webhook_secret(self, req: Request, params: dict[str, str]) -> Response:
        hook = self._hook(params)
        secret = {"algorithm": "SHA256", "secret": self.webhook_secrets[hook["id"]]}
        return Response.json(200, {"signing_secret": secret})

    def h_triggers_list(self, req: Request, _: dict[str, str]) -> Response:
        """Both paginations (sandbox.zendesk.pages), the account's defaults first."""
        triggers = list(self.triggers_made.values())
        return self._list(req, "/api/v2/triggers", "triggers", triggers)

    def h_trigger_create(self, req: Request, _: dict[str, str]) -> Response:
        doc = self._object(req, "trigger")
        if not isinstance(doc.get("title"), str) or not isinstance(doc.get("actions"), list):
            raise bad("trigger.title and trigger.actions are required")
        with self._hooks_lock:
            trigger_id = max(self.triggers_made) + 1
            trigger = {"id": trigger_id, "active": True, **{k: doc[k] for k in doc if k != "id"}}
            self.triggers_made[trigger_id] = trigger
        return Response.json(201, {"trigger": trigger})

    def activity(self, count: int) -> list[int]:
        """Generated activity: `count` tickets (evenly spread) get a tag, as an agent would."""
        n = self.account.n_tickets
        picked = sorted({1 + (k * 7919) % n for k in range(count)})
        for tid in picked:
            t = self._ticket_or_404(str(tid))
            self._update(t, {"tags": [*(self._ticket_json(t).get("tags") or []), "touched"]})
        return picked


__all__ = ["Hooks"]
