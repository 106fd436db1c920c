"""Writing results back into Zendesk: ticket custom fields, user fields and summary posts.

Quirks and limits (see support-oas.yaml for the endpoints):

Ticket fields
    `PUT /api/v2/tickets/update_many` with `{"tickets": [{"id", "custom_fields": [{id, value}]}]}`
    (up to 100 tickets per call) answers at once with a queued job; the job is polled at
    `GET /api/v2/job_statuses/{id}` until `completed` or `failed`. Its `results` hold one entry
    per ticket: `{id, success: true, status: "Updated"}` or a FailedResult
    `{id, success: false, error, details}` (e.g. a closed ticket cannot be updated). A ticket
    missing from the results of a finished job failed too. The PUT creates a job (it fires the
    account's triggers and spends each ticket's update budget), so it is never sent twice on a
    guess: a PUT whose answer never came (a timeout, a dropped connection, a 5xx), a job whose
    status cannot be read, or one not finished after `job_wait` seconds leaves its tickets
    `doubt`: the caller reads the fields back before writing again (a running job's, after
    JOB_RECHECK seconds). A 429 asking for longer than a request waits leaves them `throttled`.
Users
    `PUT /api/v2/users/update_many` with `{"users": [{"id", "user_fields": {key: value}}]}`,
    the same job mechanics. User field keys are the fields' `key`s, not ids.
Posts
    A post is an internal-note ticket (`POST /api/v2/tickets`, comment `public: false`) whose
    `external_id` is the post's idempotency key; `GET /api/v2/tickets?external_id=` finds it, so
    a post interrupted before its ledger entry was committed is found instead of posted twice.
    POST is not idempotent: it is retried only where Zendesk cannot have acted (429, refused);
    one whose answer never came is `doubt`, found (or not) by its external_id before any re-post.
Read-back
    `GET /api/v2/tickets/show_many?ids=` and `GET /api/v2/users/show_many?ids=` (100 ids each).
Limits
    Ticket updates: 100 requests a minute account-wide (bucket WRITES, paced by the client), and
    30 updates per ticket per 10 minutes: a ticket at that limit is answered `retry` with the
    seconds until it frees up, without a request.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from deskpulse.connectors.base import (
    DOUBT,
    FAILED,
    RETRY,
    THROTTLED,
    FieldValues,
    Post,
    WriteResult,
)
from deskpulse.connectors.errors import (
    BadResponse,
    ConnectorError,
    RateLimited,
    RetriesExhausted,
    StreamError,
    StreamUnavailable,
    WriteInDoubt,
)
from deskpulse.connectors.http import HttpClient, RejectedRequest
from deskpulse.connectors.zendesk.endpoints import ENDPOINTS, WRITES

BATCH = 100
"""Records per update_many job and ids per show_many call (Zendesk's maximum)."""
PER_TICKET_LIMIT = (30, 600.0)
"""At most 30 updates of one ticket per 10 minutes."""

UPDATE_MANY_TICKETS = ENDPOINTS["update_many_tickets"].path
UPDATE_MANY_USERS = ENDPOINTS["update_many_users"].path
SHOW_MANY_TICKETS = ENDPOINTS["show_many_tickets"].path
SHOW_MANY_USERS = ENDPOINTS["show_many_users"].path
TICKETS = ENDPOINTS["create_post"].path
POST_TAG = "deskpulse_digest"
JOB_POLL_FIRST = 0.2
"""Seconds before a bulk job's first status poll (doubling after, at most 8): most jobs of
100 records finish within a second or two, and each cycle's write-back waits for its jobs."""
JOB_RECHECK = 600.0
"""Seconds before the tickets of a job still running at `job_wait` are read back: a queued job
that has not run yet would otherwise be found missing and sent again."""


def chunks(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class RecentWrites:
    """Sliding-window count of writes per record (the per-ticket update limit)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit, self.window, self._clock = limit, window, clock
        self._sent: dict[str, deque[float]] = {}

    def wait(self, record_id: str) -> float:
        """Seconds until `record_id` may be written again (0: now)."""
        sent = self._sent.get(record_id)
        if not sent:
            return 0.0
        now = self._clock()
        while sent and sent[0] <= now - self.window:
            sent.popleft()
        if not sent:
            del self._sent[record_id]  # keep memory flat in a long-running daemon
            return 0.0
        return sent[0] + self.window - now if len(sent) >= self.limit else 0.0

    def record(self, record_id: str) -> None:
        self._sent.setdefault(record_id, deque()).append(self._clock())


class ZendeskWriter:
    """The write-back half of the Zendesk connector (it shares the connector's HTTP client)."""

    def __init__(
        self,
        client: HttpClient,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        job_wait: float = 120.0,
    ) -> None:
        self.client = client
        self._sleep = sleep
        self._clock = clock
        self.job_wait = job_wait
        self.recent = RecentWrites(*PER_TICKET_LIMIT, clock)

    # ticket and user fields ---------------------------------------------------------------

    def write_ticket_fields(self, batch: Sequence[FieldValues]) -> list[WriteResult]:
        results: dict[str, WriteResult] = {}
        ready: list[tuple[FieldValues, dict[str, Any]]] = []
        for item in batch:
            wait = self.recent.wait(item.record_id)
            if wait > 0:
                reason = "30 updates of this ticket in 10 minutes (Zendesk's limit)"
                results[item.record_id] = WriteResult(item.record_id, RETRY, reason, wait)
                continue
            try:
                body = {"id": int(item.record_id), "custom_fields": _custom_fields(item.values)}
            except ValueError as exc:
                results[item.record_id] = WriteResult(item.record_id, FAILED, str(exc))
                continue
            ready.append((item, body))
        for part in chunks(ready):
            for item, _ in part:
                self.recent.record(item.record_id)
            done = self._job(UPDATE_MANY_TICKETS, {"tickets": [b for _, b in part]}, "tickets")
            results.update(done([item.record_id for item, _ in part]))
        return [results[item.record_id] for item in batch]

    def write_user_fields(self, batch: Sequence[FieldValues]) -> list[WriteResult]:
        results: dict[str, WriteResult] = {}
        ready: list[tuple[str, dict[str, Any]]] = []
        for item in batch:
            try:
                ready.append(
                    (item.record_id, {"id": _id(item.record_id), "user_fields": dict(item.values)})
                )
            except ValueError as exc:
                results[item.record_id] = WriteResult(item.record_id, FAILED, str(exc))
        for part in chunks(ready):
            done = self._job(UPDATE_MANY_USERS, {"users": [b for _, b in part]}, "users")
            results.update(done([rid for rid, _ in part]))
        return [results[item.record_id] for item in batch]

    def read_ticket_fields(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        wanted = set(fields)
        for ticket in self._show_many(SHOW_MANY_TICKETS, "tickets", record_ids):
            values = {
                str(f.get("id")): f.get("value")
                for f in ticket.get("custom_fields") or ()
                if isinstance(f, Mapping)
            }
            out[str(ticket.get("id"))] = {k: values.get(k) for k in wanted}
        return out

    def read_user_fields(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for user in self._show_many(SHOW_MANY_USERS, "users", record_ids):
            values = user.get("user_fields") or {}
            out[str(user.get("id"))] = {k: values.get(k) for k in fields}
        return out

    def _show_many(
        self, path: str, key: str, record_ids: Sequence[str]
    ) -> Iterator[Mapping[str, Any]]:
        ids = [str(_id(r)) for r in record_ids]
        for part in chunks(ids):
            body = self.client.get_json(path, {"ids": ",".join(part)})
            records = body.get(key) if isinstance(body, Mapping) else None
            if not isinstance(records, list):
                raise BadResponse(f"zendesk: {path} answered without a `{key}` list")
            yield from (r for r in records if isinstance(r, Mapping))

    def _job(
        self, path: str, body: Mapping[str, Any], what: str
    ) -> Callable[[Sequence[str]], dict[str, WriteResult]]:
        """Submit one bulk update and wait for its job; returns `ids -> results` for the batch.
        Once the PUT may have reached Zendesk, nothing but the job's own answer settles it."""
        try:
            answer = self.client.put_json(path, body, bucket=WRITES)
        except RateLimited as exc:
            return _all(THROTTLED, exc.headline, exc.retry_after)
        except WriteInDoubt as exc:
            return _all(DOUBT, str(exc))
        except (RejectedRequest, StreamUnavailable) as exc:
            return _all(FAILED, str(exc))
        except (RetriesExhausted, BadResponse, StreamError) as exc:
            return _all(RETRY, str(exc))
        # Zendesk answered: a job exists (or the answer is unreadable: it may).
        try:
            job = _job_status(answer)
            deadline = self._clock() + self.job_wait
            delay = JOB_POLL_FIRST
            while job.get("status") not in ("completed", "failed"):
                if self._clock() >= deadline:
                    reason = (
                        f"zendesk job {job.get('id')} still {job.get('status')} after "
                        f"{self.job_wait:.0f}s: read back in {JOB_RECHECK / 60:.0f} minutes"
                    )
                    return _all(DOUBT, reason, JOB_RECHECK)
                self._sleep(delay)
                delay = min(delay * 2, 8.0)
                job_path = ENDPOINTS["job_status"].url(job_status_id=job.get("id"))
                job = _job_status(self.client.get_json(job_path))
        except ConnectorError as exc:
            return _all(DOUBT, f"the update was sent but its job cannot be followed: {exc}")
        return lambda ids: _job_results(job, ids, what)

    def update_ticket(self, ticket_id: int | str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """`PUT /api/v2/tickets/{ticket_id}` with `{"ticket": fields}`; returns the ticket."""
        path = ENDPOINTS["update_ticket"].url(ticket_id=int(ticket_id))
        body = self.client.put_json(path, {"ticket": dict(fields)})
        ticket = body.get("ticket") if isinstance(body, Mapping) else None
        return dict(ticket) if isinstance(ticket, Mapping) else {}

    # posts ---------------------------------------------------------------------------------

    def find_post(self, key: str) -> str | None:
        body = self.client.get_json(TICKETS, {"external_id": key})
        tickets = body.get("tickets") if isinstance(body, Mapping) else None
        for ticket in tickets or ():
            if isinstance(ticket, Mapping) and ticket.get("external_id") == key:
                return str(ticket.get("id"))
        return None

    def post(self, post: Post) -> WriteResult:
        ticket = {
            "subject": post.title,
            "comment": {"body": post.body, "public": False},
            "external_id": post.key,
            "tags": [POST_TAG],
        }
        try:
            body = self.client.post_json(TICKETS, {"ticket": ticket}, bucket=WRITES)
        except RateLimited as exc:
            return WriteResult(post.key, THROTTLED, exc.headline, exc.retry_after)
        except WriteInDoubt as exc:
            return WriteResult(post.key, DOUBT, str(exc))
        except (RejectedRequest, StreamUnavailable) as exc:
            return WriteResult(post.key, FAILED, str(exc))
        except (RetriesExhausted, BadResponse, StreamError) as exc:
            return WriteResult(post.key, RETRY, str(exc))
        created = body.get("ticket") if isinstance(body, Mapping) else None
        ref = created.get("id") if isinstance(created, Mapping) else None
        return WriteResult(post.key, ref=None if ref is None else str(ref))


def _all(
    status: str, reason: str, retry_after: float | None = None
) -> Callable[[Sequence[str]], dict[str, WriteResult]]:
    return lambda ids: {i: WriteResult(i, status, reason, retry_after) for i in ids}


def _id(record_id: str) -> int:
    text = str(record_id).strip()
    if not text.isdigit():
        raise ValueError(f"zendesk ids are numbers, not {record_id!r}")
    return int(text)


def _custom_fields(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    fields = []
    for key, value in values.items():
        if not str(key).isdigit():
            raise ValueError(f"zendesk custom ticket fields are named by numeric id, not {key!r}")
        fields.append({"id": int(key), "value": value})
    return fields


def _job_status(body: Any) -> Mapping[str, Any]:
    job = body.get("job_status") if isinstance(body, Mapping) else None
    if not isinstance(job, Mapping) or "id" not in job:
        raise BadResponse("zendesk: a bulk update answered without a job_status")
    return job


def _job_results(job: Mapping[str, Any], ids: Sequence[str], what: str) -> dict[str, WriteResult]:
    by_id: dict[str, Mapping[str, Any]] = {}
    results = job.get("results")
    for entry in results if isinstance(results, list) else ():
        if isinstance(entry, Mapping) and "id" in entry:
            by_id[str(entry["id"])] = entry
    out = {}
    for i in ids:
        entry = by_id.get(i)
        if entry is not None and entry.get("success") is not False and not entry.get("error"):
            out[i] = WriteResult(i)
        elif entry is not None:
            reason = "; ".join(str(v) for v in (entry.get("error"), entry.get("details")) if v)
            out[i] = WriteResult(i, FAILED, reason or "failed")
        elif job.get("status") == "failed":
            out[i] = WriteResult(i, FAILED, str(job.get("message") or "the job failed"))
        else:
            out[i] = WriteResult(i, FAILED, f"not in the job's results ({what} update)")
    return out


__all__ = ["BATCH", "PER_TICKET_LIMIT", "WRITES", "RecentWrites", "ZendeskWriter"]
