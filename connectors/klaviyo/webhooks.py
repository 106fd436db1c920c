"""Klaviyo system webhooks (Webhooks API), received as a hint.

Signature (developers.klaviyo.com, "Working with system webhooks")
    `Klaviyo-Signature` = hex(HMAC-SHA256(the webhook's secret key, raw body + the
    `Klaviyo-Timestamp` header's value)); `Klaviyo-Webhook-Id` names the webhook and must equal
    the body's `meta.klaviyo_webhook_id` (a mismatch is treated as forged).
Body
    `{"data": [{"topic", "external_id", "payload"}], "meta": {...}}`: events. Klaviyo has no
    tickets: a hint names none, and the daemon reads the source's next incremental page soon
    instead of at its safety-net interval.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from deskpulse.connectors.webhooks import (
    Hint,
    Malformed,
    Request,
    SecretVerifier,
    Unverified,
    hmac_sha256,
    parse_time,
    same,
)

SIGNATURE = "klaviyo-signature"
TIMESTAMP = "klaviyo-timestamp"
WEBHOOK_ID = "klaviyo-webhook-id"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac_sha256(secret, body, timestamp.encode()).hex()


class KlaviyoWebhooks(SecretVerifier):
    def verify(self, request: Request) -> Hint:
        stamp = request.headers.get(TIMESTAMP)
        given = request.headers.get(SIGNATURE)
        if not given or not stamp:
            raise Unverified("unsigned (no Klaviyo-Signature and Klaviyo-Timestamp)")
        if not same(given.lower(), signature(self._secret, stamp, request.body)):
            raise Unverified("wrong signature")
        sent_at = parse_time(stamp)
        try:
            doc = json.loads(request.body)
        except ValueError:
            raise Malformed("the body is not JSON") from None
        meta = doc.get("meta") if isinstance(doc, Mapping) else None
        named = meta.get("klaviyo_webhook_id") if isinstance(meta, Mapping) else None
        if named is not None and named != request.headers.get(WEBHOOK_ID):
            raise Unverified("Klaviyo-Webhook-Id does not match the body's webhook id")
        return Hint((), hashlib.sha256(request.body).hexdigest(), sent_at)


__all__ = ["KlaviyoWebhooks", "signature"]
