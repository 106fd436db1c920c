"""The Zendesk dialect's writes: ticket updates (one, or many as a job), recorded for
/__sandbox/writes and applied to what the exports serve afterwards."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import orjson

from deskpulse.sandbox.data import Audit, Child, Ticket, TicketRef, ts_iso
from deskpulse.sandbox.dialect import Received
from deskpulse.sandbox.streams import Record
from deskpulse.sandbox.switches import Switches
from deskpulse.sandbox.wire import Request, Response
from deskpulse.sandbox.zendesk import render
from deskpulse.sandbox.zendesk.common import (
    APIBase,
    api_error,
    b64,
    bad,
    not_found,
    record_id,
)


class WriteLog:
    """Recorded writes, and the field overrides they apply to served tickets."""

    def __init__(self, anchor_ts: int) -> None:
        self._lock = threading.Lock()
        self._anchor_ts = anchor_ts
        self.writes: list[dict[str, Any]] = []
        self.overrides: dict[int, dict[str, Any]] = {}
        # The tickets export's change log after the generated tickets: (generated_ts, ticket id)
        # of every update, append-only (clear() too), so an export position (a cursor) never
        # shifts; an entry is served only while it is its ticket's latest (`latest`: ticket id
        # -> its index).
        self.tail: list[tuple[int, int]] = []
        self.latest: dict[int, int] = {}
        self._seq = 0
        # job id -> [(record id, failure or None)]; a failure is (error, details).
        self.jobs: dict[str, list[tuple[int, tuple[str, str] | None]]] = {}
        self.user_fields: dict[int, dict[str, Any]] = {}  # user id -> written user_fields
        self.created: list[dict[str, Any]] = []  # tickets created through the API (posts)
        # Ticket id -> how many more bulk updates of it fail (tests' transient failures).
        self.refuse: dict[int, int] = {}
        # Ticket events produced by writes: records as streams.audits_of makes them.
        self.audits: list[Record] = []
        # Called with a ticket's id after each update of it (the outgoing webhooks).
        self.listeners: list[Callable[[int], None]] = []

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.writes.append(entry)

    def apply(self, ticket_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            ts = self._anchor_ts + self._seq
            ov = dict(self.overrides.get(ticket_id, {}))
            for key in ("status", "priority", "type", "subject", "assignee_id", "group_id", "tags"):
                if key in changes:
                    ov[key] = changes[key]
            if "custom_fields" in changes:
                merged = {f["id"]: f for f in ov.get("custom_fields", [])}
                for f in changes["custom_fields"]:
                    merged[f["id"]] = {"id": f["id"], "value": f.get("value")}
                ov["custom_fields"] = list(merged.values())
            ov["_ts"] = ts
            self.overrides[ticket_id] = ov
            self.latest[ticket_id] = len(self.tail)
            self.tail.append((ts, ticket_id))
            return ov

    def clear(self) -> None:
        with self._lock:
            self.writes.clear()
            self.overrides.clear()
            self.latest.clear()  # the change log stays: a stored cursor's position holds
            self.jobs.clear()
            self.audits.clear()
            self.user_fields.clear()
            self.created.clear()
            self.refuse.clear()

    def received(self) -> Received:
        """The writes told for the demo (sandbox.dialect.Received): bulk ticket updates with
        their custom fields, user updates with their user fields, tickets created as internal
        notes (the digests)."""
        out = Received()
        with self._lock:
            writes = list(self.writes)
        for w in writes:
            body = w["body"]
            fields: list[str] = []
            records = 0
            for t in body.get("tickets") or ():
                records += 1
                for f in t.get("custom_fields") or ():
                    fields.append(f"ticket field {f['id']}")
                    ticket = out.values.setdefault("ticket", {}).setdefault(str(t["id"]), {})
                    ticket[f"field {f['id']}"] = f.get("value")
            for u in body.get("users") or ():
                records += 1
                fields += [f"user field {key}" for key in u.get("user_fields") or {}]
                user = out.values.setdefault("user", {}).setdefault(str(u["id"]), {})
                user.update(u.get("user_fields") or {})
            post = body.get("ticket")
            if isinstance(post, dict):
                records += 1
                fields.append("internal note (digest)")
                if w["method"] == "POST":
                    comment = post.get("comment") or {}
                    out.notes.append(
                        (
                            str(post.get("subject", "")),
                            f"external_id {post.get('external_id', '')}",
                            str(comment.get("body", "")),
                        )
                    )
            out.count(f"{w['method']} {w['path']}", records, fields)
        return out

    def changes(self) -> tuple[list[tuple[int, int]], dict[int, int]]:
        """A consistent copy of (`tail`, `latest`) for one export page."""
        with self._lock:
            return list(self.tail), dict(self.latest)

    def refused(self, ticket_id: int) -> bool:
        """Whether this update of `ticket_id` is to fail (and count it down)."""
        with self._lock:
            left = self.refuse.get(ticket_id, 0)
            if left > 0:
                self.refuse[ticket_id] = left - 1
            return left > 0

    def add_audit(self, ref: TicketRef, audit: Audit, seq: int) -> None:
        with self._lock:
            payload = (ref, audit.author_id, audit.via, audit.children, -seq)  # as audits_of
            self.audits.append((audit.ts, ref.id * 64 + 63, payload))

    def audits_from(self, start: int) -> list[Record]:
        with self._lock:
            return [rec for rec in self.audits if rec[0] >= start]


class Writes(APIBase):
    switches: Switches  # the host's run-time faults (job_never_ends: jobs stay queued)

    # ---- writes -------------------------------------------------------------------------

    def _parse_body(self, req: Request) -> dict[str, Any]:
        try:
            body = orjson.loads(req.body or b"{}")
        except orjson.JSONDecodeError:
            raise api_error(400, "InvalidJSON", "The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise api_error(400, "InvalidJSON", "The request body must be a JSON object")
        return body

    def _update(self, t: Ticket, changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        before = self._ticket_json(t)
        ov = self.writes.apply(t.id, changes)
        after = render.ticket_json(t, self.base_url, ov)
        events: list[dict[str, Any]] = []
        audit_id = render.WRITE_AUDIT_BASE + ov["_ts"]
        comment = changes.get("comment")
        if isinstance(comment, dict):
            events.append(
                {
                    "id": audit_id * 10 + 1,
                    "type": "Comment",
                    "author_id": comment.get("author_id", self.account.staff[1].id),
                    "body": comment.get("body") or comment.get("html_body") or "",
                    "public": bool(comment.get("public", True)),
                    "attachments": [],
                    "audit_id": audit_id,
                }
            )
        for key in ("status", "priority", "type", "subject", "assignee_id", "group_id", "tags"):
            if key in changes and before.get(key) != after.get(key):
                events.append(
                    {
                        "id": audit_id * 10 + len(events) + 1,
                        "type": "Change",
                        "field_name": key,
                        "value": after.get(key),
                        "previous_value": before.get(key),
                    }
                )
        for f in changes.get("custom_fields", []):
            events.append(
                {
                    "id": audit_id * 10 + len(events) + 1,
                    "type": "Change",
                    "field_name": str(f.get("id")),
                    "value": f.get("value"),
                    "previous_value": None,
                }
            )
        self._record_audit(t, changes, before, after, ov["_ts"])
        audit = {
            "id": audit_id,
            "ticket_id": t.id,
            "created_at": after["updated_at"],
            "author_id": self.account.staff[1].id,
            "metadata": {"system": {"client": "sandbox"}, "custom": {}},
            "events": events,
            "via": render.via_obj("api"),
        }
        for listener in self.writes.listeners:
            listener(t.id)
        return after, audit

    def _record_audit(
        self,
        t: Ticket,
        changes: dict[str, Any],
        before: dict[str, Any],
        after: dict[str, Any],
        ts: int,
    ) -> None:
        """The write as a ticket event, served by the ticket_events export after the anchor."""
        author = self.account.staff[1].id
        children: list[Child] = []
        comment = changes.get("comment")
        if isinstance(comment, dict):
            children.append(
                Child(
                    "Comment",
                    body=str(comment.get("body") or comment.get("html_body") or ""),
                    public=bool(comment.get("public", True)),
                    author_id=int(comment.get("author_id") or author),
                )
            )
        for key in ("status", "priority", "type", "subject", "assignee_id", "group_id", "tags"):
            if key in changes and before.get(key) != after.get(key):
                value, prev = after.get(key), before.get(key)
                if key in ("assignee_id", "group_id"):
                    value = None if value is None else str(value)
                    prev = None if prev is None else str(prev)
                children.append(Child("Change", key, value, prev))
        for f in changes.get("custom_fields", []):
            if isinstance(f, dict):
                children.append(Child("Change", str(f.get("id")), f.get("value"), None))
        if children:
            ref = TicketRef(t.id, after.get("assignee_id"), after.get("group_id"), t.requester_id)
            self.writes.add_audit(ref, Audit(ts, author, "api", children), ts)

    def h_ticket_update(self, req: Request, params: dict[str, str]) -> Response:
        t = self._ticket_or_404(params["id"])
        body = self._parse_body(req)
        changes = body.get("ticket")
        if not isinstance(changes, dict):
            raise api_error(400, "InvalidValue", "ticket is required")
        self.writes.record(self._write_entry(req, body, [t.id]))
        after, audit = self._update(t, changes)
        return Response.json(200, {"ticket": after, "audit": audit})

    def h_update_many(self, req: Request, _: dict[str, str]) -> Response:
        body = self._parse_body(req)
        batch: list[tuple[int, dict[str, Any]]] = []
        if isinstance(body.get("tickets"), list):
            for item in body["tickets"]:
                if not isinstance(item, dict) or "id" not in item:
                    raise bad("each ticket needs an id")
                batch.append((record_id(item["id"]), item))
        elif isinstance(body.get("ticket"), dict) and req.arg("ids"):
            for raw in (req.arg("ids") or "").split(","):
                batch.append((record_id(raw), body["ticket"]))
        else:
            raise bad("expected {tickets: [...]} or ?ids= with {ticket: {...}}")
        if len(batch) > 100:
            raise bad("update_many accepts at most 100 tickets")
        self.writes.record(self._write_entry(req, body, [tid for tid, _ in batch]))
        outcome: list[tuple[int, tuple[str, str] | None]] = []
        for tid, changes in batch:
            # Per-ticket failures are job results, as Zendesk reports them, not HTTP errors.
            if not 1 <= tid <= self.account.n_tickets:
                outcome.append((tid, ("RecordNotFound", "Ticket not found")))
                continue
            t = self._ticket_or_404(str(tid))
            if self._ticket_json(t)["status"] == "closed":
                outcome.append((tid, ("RecordInvalid", "Status: closed prevents ticket update")))
            elif self.writes.refused(tid):
                outcome.append((tid, ("TicketUpdateFailed", "Ticket could not be updated")))
            else:
                self._update(t, changes)
                outcome.append((tid, None))
        return self._queue_job(outcome)

    def _queue_job(self, outcome: list[tuple[int, tuple[str, str] | None]]) -> Response:
        job_id = b64(f"job:{len(self.writes.writes)}").rstrip("=")
        self.writes.jobs[job_id] = outcome
        return Response.json(200, {"job_status": self._job(job_id, done=False)})

    def _job(self, job_id: str, done: bool) -> dict[str, Any]:
        outcome = self.writes.jobs[job_id]
        results: list[dict[str, Any]] = []
        for i, failure in outcome:
            if failure is None:
                results.append({"id": i, "action": "update", "success": True, "status": "Updated"})
            else:
                error, details = failure
                results.append(
                    {"id": i, "action": "update", "success": False, "error": error,
                     "details": details}
                )  # fmt: skip
        return {
            "id": job_id,
            "url": f"{self.base_url}/api/v2/job_statuses/{job_id}.json",
            "total": len(outcome),
            "progress": len(outcome) if done else 0,
            "status": "completed" if done else "queued",
            "message": "Completed at " + ts_iso(self.account.anchor_ts) if done else None,
            "results": results if done else None,
        }

    def h_job_status(self, req: Request, params: dict[str, str]) -> Response:
        if params["id"] not in self.writes.jobs:
            raise not_found()
        stalled = self.switches.take("job_never_ends", req.path) is not None
        return Response.json(200, {"job_status": self._job(params["id"], done=not stalled)})

    def h_tickets_by_external_id(self, req: Request, _: dict[str, str]) -> Response:
        # Only the external_id filter is served: the list of every ticket is the export's job.
        external_id = req.arg("external_id")
        if external_id is None:
            raise bad("the sandbox lists tickets by external_id only")
        tickets = [t for t in self.writes.created if t.get("external_id") == external_id]
        return Response.json(200, {"tickets": tickets, "next_page": None, "previous_page": None,
                                   "count": len(tickets)})  # fmt: skip

    def h_ticket_create(self, req: Request, _: dict[str, str]) -> Response:
        body = self._parse_body(req)
        ticket = body.get("ticket")
        if not isinstance(ticket, dict) or not isinstance(ticket.get("comment"), dict):
            raise api_error(422, "RecordInvalid", "Description: cannot be blank")
        self.writes.record(self._write_entry(req, body, []))
        comment = ticket["comment"]
        created = {
            "id": render.CREATED_TICKET_BASE + len(self.writes.created) + 1,
            "url": None,
            "external_id": ticket.get("external_id"),
            "subject": ticket.get("subject"),
            "description": comment.get("body"),
            "status": "new",
            "tags": list(ticket.get("tags") or []),
            "requester_id": self.account.staff[1].id,
            "created_at": ts_iso(self.account.anchor_ts),
            "comment_public": bool(comment.get("public", True)),
        }
        created["url"] = f"{self.base_url}/api/v2/tickets/{created['id']}.json"
        self.writes.created.append(created)
        return Response.json(201, {"ticket": created})

    def h_users_update_many(self, req: Request, _: dict[str, str]) -> Response:
        body = self._parse_body(req)
        users = body.get("users")
        if not isinstance(users, list) or len(users) > 100:
            raise bad("expected {users: [...]} with at most 100 users")
        self.writes.record(self._write_entry(req, body, []))
        outcome: list[tuple[int, tuple[str, str] | None]] = []
        for item in users:
            if not isinstance(item, dict) or "id" not in item:
                raise bad("each user needs an id")
            uid = record_id(item["id"])
            if self.account.user_index_by_id(uid) is None:
                outcome.append((uid, ("RecordNotFound", "User not found")))
                continue
            fields = item.get("user_fields")
            if isinstance(fields, dict):
                with self.writes._lock:
                    self.writes.user_fields.setdefault(uid, {}).update(fields)
            outcome.append((uid, None))
        return self._queue_job(outcome)

    def _write_entry(self, req: Request, body: dict[str, Any], ids: list[int]) -> dict[str, Any]:
        return {
            "method": req.method,
            "path": req.path,
            "query": {k: v[-1] for k, v in req.query.items()},
            "body": body,
            "ticket_ids": ids,
            "seq": len(self.writes.writes) + 1,
        }
