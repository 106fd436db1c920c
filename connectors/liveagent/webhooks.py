"""LiveAgent's "Send HTTP request" rule action, received as a hint.

LiveAgent signs nothing: a rule (Configuration > Automation > Rules, action "Send HTTP
request") sends the method, URL, headers and body it is given. The shared secret therefore
travels in the request: a header `X-Deskpulse-Token: <secret>` (preferred: URLs end up in
proxies' access logs) or the URL's `?token=<secret>`. It is compared in constant time. There is
no signed time, so no replay window: a replayed request can only cause one more read of a
ticket (debounced), never a write (the ledger writes a value once).
Body: `{"ticket_id": "{$conversation_id}"}` (the ticket's id, as the API's `/tickets/{id}`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

from deskpulse.connectors.webhooks import (
    Hint,
    Malformed,
    Request,
    SecretVerifier,
    Unverified,
    same,
)

TOKEN_HEADER = "x-deskpulse-token"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class LiveAgentWebhooks(SecretVerifier):
    def verify(self, request: Request) -> Hint:
        given = request.headers.get(TOKEN_HEADER) or request.query.get("token")
        if not given:
            raise Unverified("no token (header X-Deskpulse-Token or ?token=)")
        if not same(given, self._secret):
            raise Unverified("wrong token")
        try:
            doc = json.loads(request.body)
        except ValueError:
            raise Malformed("the body is not JSON") from None
        value = doc.get("ticket_id") if isinstance(doc, Mapping) else None
        text = str(value).strip() if isinstance(value, (int, str)) else ""
        if not _ID.match(text):
            raise Malformed('no ticket id (expected {"ticket_id": "{$conversation_id}"})')
        # No delivery id from LiveAgent: the body's digest tells a repeat within the window.
        return Hint((text,), hashlib.sha256(request.body).hexdigest(), None)


__all__ = ["LiveAgentWebhooks"]
