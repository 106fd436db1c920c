"""The Freshdesk dialect's writes: ticket updates, new tickets, notes, contact fields, and the
tag search that finds a written ticket again (see the sandbox.freshdesk docstring).

Every accepted write is recorded (served at /__sandbox/writes) and moves what it wrote to the
anchor + n seconds (n: the write's number), so the next incremental read finds it.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import orjson

from deskpulse.sandbox.data import ENDUSER_BASE, Account, ts_iso
from deskpulse.sandbox.freshdesk import render
from deskpulse.sandbox.freshdesk.common import Invalid, answer
from deskpulse.sandbox.wire import Request, Response

STATUSES = frozenset({2, 3, 4, 5, 6, 7})
PRIORITIES = frozenset({1, 2, 3, 4})
TICKET_KEYS = frozenset(
    {"status", "priority", "responder_id", "group_id", "tags", "subject", "custom_fields"}
)
_TAG_QUERY = re.compile(r"^\"?tag:'([^']+)'\"?$")


class WriteRecord:
    """The writes the dialect accepted (the server serves them at /__sandbox/writes)."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []

    def clear(self) -> None:
        self.writes.clear()


class WriteHandlers:
    """Mixed into FreshdeskDialect: the write routes and the state they leave."""

    account: Account
    _lock: threading.Lock

    def __init__(self) -> None:
        self.writes = WriteRecord()
        self.overrides: dict[int, dict[str, Any]] = {}  # ticket id -> what writes changed
        self.created: list[dict[str, Any]] = []  # tickets made by POST /tickets
        self.notes: list[dict[str, Any]] = []
        self.contact_overrides: dict[int, dict[str, Any]] = {}
        self._seq = 0

    def ticket_json(self, index: int, include: frozenset[str] = frozenset()) -> dict[str, Any]:
        raise NotImplementedError  # pragma: no cover - FreshdeskDialect's

    def _ticket_index(self, id: str) -> int:
        raise NotImplementedError  # pragma: no cover - FreshdeskDialect's

    # ---- helpers ------------------------------------------------------------------------------

    def _body(self, req: Request) -> dict[str, Any]:
        try:
            body = orjson.loads(req.body or b"{}")
        except orjson.JSONDecodeError:
            raise Invalid("body", "Request body has invalid JSON format", "invalid_json") from None
        if not isinstance(body, dict):
            raise Invalid("body", "Request body has invalid JSON format", "invalid_json")
        return body

    def _record(self, req: Request, body: dict[str, Any]) -> int:
        """Record the write; its time is the anchor + its number."""
        with self._lock:
            self._seq += 1
            self.writes.writes.append(
                {"method": req.method, "path": req.path, "body": body, "seq": self._seq}
            )
            return self._seq

    def _check_ticket(self, body: dict[str, Any]) -> None:
        for key in body:
            if key not in TICKET_KEYS:
                raise Invalid(key, "Unexpected/invalid field in request", "invalid_field")
        if "status" in body and body["status"] not in STATUSES:
            raise Invalid("status", "It should be one of these values: '2,3,4,5,6,7'")
        if "priority" in body and body["priority"] not in PRIORITIES:
            raise Invalid("priority", "It should be one of these values: '1,2,3,4'")
        fields = body.get("custom_fields", {})
        if not isinstance(fields, dict):
            raise Invalid("custom_fields", "It should be a/an key/value pair", "datatype_mismatch")
        for name in fields:
            if not str(name).startswith("cf_"):
                raise Invalid(name, "Unexpected/invalid field in request", "invalid_field")

    def created_json(self, n: int, created: list[dict[str, Any]]) -> dict[str, Any]:
        return {k: v for k, v in created[n].items() if k != "_ts"}

    # ---- tickets ------------------------------------------------------------------------------

    def update_ticket(self, req: Request, id: str) -> Response:
        index = self._ticket_index(id)
        body = self._body(req)
        self._check_ticket(body)
        if index >= self.account.n_tickets:
            raise Invalid("id", "the sandbox does not update tickets made through the API",
                           "invalid_value")  # fmt: skip
        seq = self._record(req, body)
        with self._lock:
            ov = dict(self.overrides.get(index + 1, {}))
            for key in TICKET_KEYS - {"custom_fields"}:
                if key in body:
                    ov[key] = body[key]
            ov["custom_fields"] = {**ov.get("custom_fields", {}), **body.get("custom_fields", {})}
            ov["_ts"] = self.account.anchor_ts + seq
            self.overrides[index + 1] = ov
        return answer(200, self.ticket_json(index))

    def create_ticket(self, req: Request) -> Response:
        body = self._body(req)
        for key in ("subject", "description"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise Invalid(key, "It should be a/an String", "missing_field")
        if not body.get("email") and not body.get("requester_id"):
            raise Invalid("requester_id", "Please fill at least 1 of requester_id, email fields "
                           "as they are mandatory", "missing_field")  # fmt: skip
        seq = self._record(req, body)
        ts = self.account.anchor_ts + seq
        with self._lock:
            ticket_id = self.account.n_tickets + len(self.created) + 1
            ticket = {
                "id": ticket_id,
                "subject": body["subject"],
                "description": body["description"],
                "description_text": body["description"],
                "status": body.get("status", 2),
                "priority": body.get("priority", 1),
                "source": body.get("source", 2),
                "type": body.get("type"),
                "requester_id": body.get("requester_id") or ENDUSER_BASE,
                "responder_id": body.get("responder_id"),
                "group_id": body.get("group_id"),
                "company_id": None,
                "tags": list(body.get("tags") or []),
                "custom_fields": dict(body.get("custom_fields") or {}),
                "spam": False,
                "fr_escalated": False,
                "is_escalated": False,
                "created_at": ts_iso(ts),
                "updated_at": ts_iso(ts),
                "_ts": ts,
            }
            self.created.append(ticket)
        return answer(201, {k: v for k, v in ticket.items() if k != "_ts"})

    def add_note(self, req: Request, id: str) -> Response:
        index = self._ticket_index(id)
        body = self._body(req)
        if not isinstance(body.get("body"), str) or not body["body"]:
            raise Invalid("body", "It should be a/an String", "missing_field")
        seq = self._record(req, body)
        ts = self.account.anchor_ts + seq
        note = {
            "id": 9_000_000_000_000 + seq,
            "body": body["body"],
            "body_text": body["body"],
            "incoming": bool(body.get("incoming", False)),
            "private": bool(body.get("private", True)),
            "user_id": body.get("user_id"),
            "support_email": None,
            "source": 2,
            "category": 2,
            "ticket_id": index + 1,
            "to_emails": [],
            "from_email": None,
            "cc_emails": [],
            "bcc_emails": [],
            "attachments": [],
            "created_at": ts_iso(ts),
            "updated_at": ts_iso(ts),
            "last_edited_at": None,
            "last_edited_user_id": None,
        }
        with self._lock:
            self.notes.append(note)
            if index < self.account.n_tickets:
                ov = dict(self.overrides.get(index + 1, {}))
                ov["_ts"] = ts
                self.overrides[index + 1] = ov
            else:
                self.created[index - self.account.n_tickets]["_ts"] = ts
                self.created[index - self.account.n_tickets]["updated_at"] = ts_iso(ts)
        return answer(201, note)

    def search(self, req: Request) -> Response:
        """`query="tag:'x'"`: tickets made or changed through the API that carry tag x."""
        found = _TAG_QUERY.match(req.arg("query") or "")
        if not found:
            raise Invalid("query", "the sandbox searches only by tag:'...'")
        tag = found.group(1)
        with self._lock:
            rows = [self.created_json(n, self.created) for n in range(len(self.created))]
            written = list(self.overrides)
        rows += [self.ticket_json(tid - 1) for tid in written]
        results = [r for r in rows if tag in (r.get("tags") or [])]
        return answer(200, {"results": results, "total": len(results)})

    # ---- contacts -----------------------------------------------------------------------------

    def _user_id(self, id: str) -> int:
        try:
            uid = int(id)
        except ValueError:
            uid = 0
        k = self.account.user_index_by_id(uid) if uid else None
        if k is None or self.account.user(k).role != "end-user":
            raise Invalid("id", "Contact not found", "not_found", status=404)
        return uid

    def contact_json(self, uid: int) -> dict[str, Any]:
        a = self.account
        body = render.contact_json(a.user(a.user_index_by_id(uid) or 0), a)
        with self._lock:
            ov = self.contact_overrides.get(uid)
        if ov:
            body["custom_fields"] = {**body["custom_fields"], **ov["custom_fields"]}
            body["updated_at"] = ts_iso(ov["_ts"])
        return body

    def update_contact(self, req: Request, id: str) -> Response:
        uid = self._user_id(id)
        body = self._body(req)
        for key in body:
            if key != "custom_fields":
                raise Invalid(key, "Unexpected/invalid field in request", "invalid_field")
        fields = body.get("custom_fields")
        if not isinstance(fields, dict):
            raise Invalid("custom_fields", "It should be a/an key/value pair", "datatype_mismatch")
        seq = self._record(req, body)
        with self._lock:
            ov = self.contact_overrides.get(uid, {"custom_fields": {}})
            ov = {"custom_fields": {**ov["custom_fields"], **fields},
                  "_ts": self.account.anchor_ts + seq}  # fmt: skip
            self.contact_overrides[uid] = ov
        return answer(200, self.contact_json(uid))
