"""How the Klaviyo dialect signs the webhooks it sends (sandbox.webhooks): Klaviyo's system
webhooks carry `Klaviyo-Signature`, the hex HMAC-SHA256 of the body and then the
`Klaviyo-Timestamp`, and the webhook's id in `Klaviyo-Webhook-Id`."""

from __future__ import annotations

from deskpulse.sandbox.webhooks import hmac_sha256, now_stamp


def sign_klaviyo(secret: str, body: bytes, delivery: str) -> dict[str, str]:
    stamp = now_stamp()
    return {
        "Klaviyo-Signature": hmac_sha256(secret, body + stamp.encode()).hex(),
        "Klaviyo-Timestamp": stamp,
        "Klaviyo-Webhook-Id": "sandbox",
    }


__all__ = ["sign_klaviyo"]
