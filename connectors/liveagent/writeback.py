"""Writing results back into LiveAgent: ticket custom fields and summary posts.

Ticket fields
    `PUT /tickets/{id}` with `{"custom_fields": [{"code": ..., "value": ...}]}`: one request per
    ticket (LiveAgent has no bulk update), inside the same per-key budget as the reads. Fields
    are named by their *code* (Configuration > Tickets > Custom fields), values are text:
    numbers as written, booleans `Y`/`N`. A PUT whose answer never came (a timeout, a dropped
    connection, a 5xx) is not sent again: that ticket is `doubt`, and the caller reads it back
    before writing again. A 404 (ticket deleted or merged) or 400 (unknown field code) fails
    that ticket only; 429s past the client's retries leave it `retry` (`throttled` when
    LiveAgent asks for longer than a request waits).
Read-back
    `GET /tickets/{id}` (its `custom_fields`), one ticket at a time.
Posts
    A post is a new ticket (`POST /tickets`) created resolved and without mailing anyone
    (`do_not_send_mail: Y`), owned by `LIVEAGENT_POST_OWNER` and addressed to
    `LIVEAGENT_POST_RECIPIENT` (the support mailbox it belongs to). LiveAgent keeps no external
    id on a ticket, so the post's idempotency key goes into its subject as `[key]`, and
    `find_post` searches `GET /tickets?_filters={"subject": key}` (a "contains" search on
    LiveAgent) and checks the subject exactly. POST is not retried where LiveAgent may have acted:
    a post whose answer never came is `doubt`, and found (or not) by `find_post` before any re-post.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from deskpulse.connectors.base import (
    FAILED,
    FieldValues,
    Post,
    WriteResult,
)
from deskpulse.connectors.errors import (
    ConfigError,
    ConnectorError,
    StreamUnavailable,
)
from deskpulse.connectors.http import HttpClient
from deskpulse.connectors.liveagent.endpoints import ENDPOINTS
from deskpulse.connectors.liveagent.mapping import STATUS_CODES
from deskpulse.connectors.liveagent.normalise import custom_fields
from deskpulse.connectors.write_results import result_of_error


def field_text(value: Any) -> str:
    """Custom field values are text in LiveAgent: numbers as written, booleans as Y/N."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _fields(values: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"code": code, "value": field_text(value)} for code, value in values.items()]


def post_subject(post: Post) -> str:
    return f"{post.title} [{post.key}]"


class LiveAgentWriter:
    """The write-back protocols of connectors.base over one LiveAgent client."""

    def __init__(self, client: HttpClient, *, post_recipient: str | None, post_owner: str) -> None:
        self.client = client
        self.post_recipient = post_recipient
        self.post_owner = post_owner

    def update_ticket(
        self,
        ticket_id: str,
        *,
        custom_fields: Mapping[str, Any] | None = None,
        status: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """`PUT /tickets/{id}` with `custom_fields` by code (values as text), a canonical status
        (sent as its code) and tag ids; returns the ticket as LiveAgent answers it."""
        body: dict[str, Any] = {}
        if custom_fields:
            body["custom_fields"] = _fields(custom_fields)
        if status is not None:
            if status not in STATUS_CODES:
                raise ConfigError(f"liveagent: cannot write status {status!r}")
            body["status"] = STATUS_CODES[status]
        if tags is not None:
            body["tags"] = list(tags)
        return self._put(ticket_id, body)

    def _put(self, ticket_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        answer = self.client.put_json(
            ENDPOINTS["update_ticket"].url(ticketId=ticket_id), dict(body)
        )
        return dict(answer) if isinstance(answer, Mapping) else {}

    def write_ticket_fields(self, batch: Sequence[FieldValues]) -> list[WriteResult]:
        results: list[WriteResult] = []
        for record in batch:
            try:
                self._put(record.record_id, {"custom_fields": _fields(record.values)})
            except ConnectorError as exc:
                results.append(result_of_error(record.record_id, exc))
            else:
                results.append(WriteResult(record.record_id))
        return results

    def read_ticket_fields(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        wanted = set(fields)
        out: dict[str, dict[str, Any]] = {}
        for record_id in record_ids:
            try:
                ticket = self.client.get_json(ENDPOINTS["ticket"].url(ticketId=record_id))
            except StreamUnavailable:
                continue  # gone: left out
            if not isinstance(ticket, Mapping):
                continue
            values = custom_fields(ticket.get("custom_fields")) or {}
            out[record_id] = {k: v for k, v in values.items() if k in wanted}
        return out

    def find_post(self, key: str) -> str | None:
        query = {"_filters": orjson.dumps({"subject": key}).decode(), "_perPage": 100}
        body = self.client.get_json(ENDPOINTS["tickets"].path, query)
        marker = f"[{key}]"
        for ticket in body if isinstance(body, list) else ():
            if isinstance(ticket, Mapping) and str(ticket.get("subject") or "").endswith(marker):
                return str(ticket.get("id"))
        return None

    def post(self, post: Post) -> WriteResult:
        if not self.post_recipient:
            return WriteResult(
                post.key,
                FAILED,
                "liveagent: set LIVEAGENT_POST_RECIPIENT (the support mailbox posts go to)",
            )
        body = {
            "subject": post_subject(post),
            "message": post.body,
            "recipient": self.post_recipient,
            "useridentifier": self.post_owner,
            "do_not_send_mail": "Y",
            "is_html_message": "N",
            "status": "R",
        }
        try:
            answer = self.client.post_json(ENDPOINTS["create_ticket"].path, body)
        except ConnectorError as exc:
            return result_of_error(post.key, exc)
        ref = answer.get("id") if isinstance(answer, Mapping) else None
        return WriteResult(post.key, ref=None if ref is None else str(ref))
