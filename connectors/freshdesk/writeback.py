"""Writing results back into Freshdesk: ticket custom fields, contact fields, summary posts.

Ticket fields
    `PUT /tickets/{id}` with `{"custom_fields": {"cf_name": value}}`: one request per ticket
    (Freshdesk has no bulk update of custom fields), paced in the plan's ticket-update budget
    (its own bucket, beside the account's). Fields are named as the API names them, `cf_` and
    the label in snake case. A PUT whose answer never came is not sent again: that ticket is
    `doubt`, read back before writing again. A 404 (deleted, merged) or 400 (an unknown field,
    a value of the wrong type) fails that ticket only.
Contact fields
    `PUT /contacts/{id}` with `custom_fields`, the same way; read back by `GET /contacts/{id}`.
Posts
    Either a private note on one ticket kept for digests (`FRESHDESK_DIGEST_TICKET`), or a new
    ticket from `FRESHDESK_POST_EMAIL`, created closed. Freshdesk keeps no external id, so the
    post's key is in the note's body (`deskpulse:<key>`, found by reading the ticket's
    conversations) or the new ticket's tag (`deskpulse-<key>` with `:` as `-`, found by
    `GET /search/tickets?query="tag:'...'"`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from deskpulse.connectors.base import (
    FAILED,
    FieldValues,
    Post,
    WriteResult,
)
from deskpulse.connectors.errors import (
    ConnectorError,
    StreamUnavailable,
)
from deskpulse.connectors.freshdesk.context import numbered
from deskpulse.connectors.freshdesk.endpoints import ENDPOINTS
from deskpulse.connectors.http import HttpClient
from deskpulse.connectors.write_results import result_of_error

_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def field_problem(field: str) -> str | None:
    """Why `field` cannot name a Freshdesk custom field, or None."""
    if not field.startswith("cf_") or len(field) < 4:
        return "Freshdesk names custom fields cf_<name> (as GET /ticket_fields lists them)"
    return None


def post_tag(key: str) -> str:
    return "deskpulse-" + _TAG_UNSAFE.sub("-", key).strip("-")


def post_marker(key: str) -> str:
    return f"deskpulse:{key}"


class FreshdeskWriter:
    """The write-back protocols of connectors.base over one Freshdesk client."""

    def __init__(
        self, client: HttpClient, *, digest_ticket: str | None, post_email: str | None
    ) -> None:
        self.client = client
        self.digest_ticket = digest_ticket
        self.post_email = post_email

    def _write(
        self, batch: Sequence[FieldValues], send: Callable[[FieldValues], Any]
    ) -> list[WriteResult]:
        results: list[WriteResult] = []
        for record in batch:
            try:
                send(record)
            except ConnectorError as exc:
                results.append(result_of_error(record.record_id, exc))
            else:
                results.append(WriteResult(record.record_id))
        return results

    def _put(self, name: str, record: FieldValues) -> Any:
        endpoint = ENDPOINTS[name]
        body = {"custom_fields": dict(record.values)}
        return self.client.put_json(endpoint.url(id=record.record_id), body, bucket=endpoint.bucket)

    def _read(
        self, name: str, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for record_id in record_ids:
            try:
                body = self.client.get_json(ENDPOINTS[name].url(id=record_id))
            except StreamUnavailable:
                continue  # gone: left out
            values = body.get("custom_fields") if isinstance(body, Mapping) else None
            if isinstance(values, Mapping):
                out[record_id] = {k: values.get(k) for k in fields if k in values}
        return out

    def write_ticket_fields(self, batch: Sequence[FieldValues]) -> list[WriteResult]:
        return self._write(batch, lambda record: self._put("update_ticket", record))

    def read_ticket_fields(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        return self._read("ticket", record_ids, fields)

    def write_user_fields(self, batch: Sequence[FieldValues]) -> list[WriteResult]:
        return self._write(batch, lambda record: self._put("update_contact", record))

    def read_user_fields(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        return self._read("contact", record_ids, fields)

    def find_post(self, key: str) -> str | None:
        if self.digest_ticket:
            marker = post_marker(key)
            conversations = ENDPOINTS["conversations"]
            for page in numbered(self.client, conversations, 100, {"id": self.digest_ticket}):
                for note in page:
                    if isinstance(note, Mapping) and marker in str(note.get("body") or ""):
                        return str(note.get("id"))
            return None
        search = ENDPOINTS["search_tickets"]
        body = self.client.get_json(search.path, search.query(query=f"\"tag:'{post_tag(key)}'\""))
        results = body.get("results") if isinstance(body, Mapping) else None
        for ticket in results if isinstance(results, list) else ():
            if isinstance(ticket, Mapping) and ticket.get("id") is not None:
                return str(ticket["id"])
        return None

    def post(self, post: Post) -> WriteResult:
        text = f"<h3>{html.escape(post.title)}</h3><pre>{html.escape(post.body)}</pre>"
        try:
            if self.digest_ticket:
                note = {"body": f"{text}<p>{post_marker(post.key)}</p>", "private": True}
                path = ENDPOINTS["add_note"].url(id=self.digest_ticket)
                answer = self.client.post_json(path, note)
            elif self.post_email:
                ticket = {
                    "email": self.post_email,
                    "subject": f"{post.title} [{post.key}]",
                    "description": text,
                    "status": 5,
                    "priority": 1,
                    "tags": [post_tag(post.key)],
                }
                create = ENDPOINTS["create_ticket"]
                answer = self.client.post_json(create.path, ticket, bucket=create.bucket)
            else:
                reason = "freshdesk: set FRESHDESK_DIGEST_TICKET or FRESHDESK_POST_EMAIL for posts"
                return WriteResult(post.key, FAILED, reason)
        except ConnectorError as exc:
            return result_of_error(post.key, exc)
        ref = answer.get("id") if isinstance(answer, Mapping) else None
        return WriteResult(post.key, ref=None if ref is None else str(ref))
