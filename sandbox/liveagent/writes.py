"""The LiveAgent dialect's writes: `PUT /tickets/{id}` applied to the ticket (and to its
history when the status or agent changes), `POST /tickets` a new ticket; both recorded. An
update is sent to the webhook targets (sandbox.webhooks) as a rule's "HTTP request" would."""

from __future__ import annotations

from typing import Any

import orjson

from deskpulse.sandbox.liveagent import render
from deskpulse.sandbox.liveagent.common import (
    Fail,
    LiveAgentBase,
    json_answer,
)
from deskpulse.sandbox.webhooks import Outbox
from deskpulse.sandbox.wire import Request, Response


class Writes(LiveAgentBase):
    outbox: Outbox | None = None  # a rule's "HTTP request" for each updated ticket

    def attach_outbox(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def _body(self, req: Request) -> dict[str, Any]:
        try:
            body = orjson.loads(req.body or b"{}")
        except orjson.JSONDecodeError:
            raise Fail(400, "Invalid JSON body") from None
        if not isinstance(body, dict):
            raise Fail(400, "Expected a JSON object")
        return body

    def _record(self, req: Request, body: dict[str, Any]) -> int:
        with self._lock:
            self._seq += 1
            self.writes.writes.append(
                {"method": req.method, "path": req.path, "body": body, "seq": self._seq}
            )
            return self._seq

    def update_ticket(self, req: Request, id: str) -> Response:
        index = self._index(id)
        body = self._body(req)
        status = body.get("status")
        if status is not None and status not in render.STATUS.values() and status not in "ITPB":
            raise Fail(400, f"Invalid status {status!r}")
        fields = body.get("custom_fields") or []
        if not isinstance(fields, list) or not all(
            isinstance(f, dict) and isinstance(f.get("code"), str) for f in fields
        ):
            raise Fail(400, "custom_fields must be a list of {code, value}")
        before = self._ticket_json(index)
        seq = self._record(req, body)
        ts = self.account.anchor_ts + seq
        with self._lock:
            ov = dict(self.overrides.get(index + 1, {}))
            for key in ("status", "agentid", "tags", "subject"):
                if key in body:
                    ov[key] = body[key]
            if fields:
                merged = {f["code"]: f for f in ov.get("custom_fields", [])}
                merged.update(
                    {f["code"]: {"code": f["code"], "value": f.get("value")} for f in fields}
                )
                ov["custom_fields"] = list(merged.values())
            ov["_ts"] = ts
            self.overrides[index + 1] = ov
            if ov.get("status", before["status"]) != before["status"] or (
                "agentid" in body and body["agentid"] != before["agentid"]
            ):
                self.extra_history.append(
                    {
                        "id": str((self.account.n_tickets + 1) * render.HISTORY_SLOTS + seq),
                        "conversation_id": id,
                        "conversation_code": before["code"],
                        "department_id": before["departmentid"],
                        "department_name": None,
                        "agent_id": ov.get("agentid", before["agentid"]),
                        "status": ov.get("status", before["status"]),
                        "date_from": render.wall(ts, self.tz),
                        "date_to": None,
                        "elapsed_time": None,
                    }
                )
        if self.outbox is not None:
            self.outbox.changed(id)
        return json_answer(200, self._ticket_json(index))

    def create_ticket(self, req: Request) -> Response:
        body = self._body(req)
        for key in ("subject", "message", "recipient", "useridentifier"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise Fail(400, f"{key} is required")
        seq = self._record(req, body)
        ts = self.account.anchor_ts + seq
        ticket = {
            "id": "n" + render.base36(seq),
            "ownerid": None,
            "owner_contactid": body["useridentifier"],
            "departmentid": body.get("departmentid"),
            "agentid": None,
            "status": body.get("status") or "N",
            "tags": [],
            "code": f"NEW-{seq:03d}-API",
            "channel_type": "E",
            "date_created": render.wall(ts, self.tz),
            "date_changed": render.wall(ts, self.tz),
            "subject": body["subject"],
            "custom_fields": [],
            "_ts": ts,
        }
        with self._lock:
            self.created.append(ticket)
        # The answer is the document's TicketInformation, whose tags are one comma-joined string.
        return json_answer(200, {**{k: v for k, v in ticket.items() if k != "_ts"}, "tags": ""})
