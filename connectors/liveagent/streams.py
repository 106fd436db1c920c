"""The LiveAgent streams: what each reads, in which order, and what cursor it keeps.

Every request the connector can send is declared in `ENDPOINTS` (method, path as the reconstructed
spec writes it, query parameters); a test checks the table against that document. Streams share
a per-run `Directory` (agents, departments, tags) and never read the warehouse.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import quote

import orjson

from deskpulse.connectors.base import ContextStream, Cursor, Page, Row
from deskpulse.connectors.errors import RecordError, StreamUnavailable
from deskpulse.connectors.fields import text_id
from deskpulse.connectors.http import HttpClient
from deskpulse.connectors.liveagent import normalise as nl
from deskpulse.connectors.liveagent.endpoints import ENDPOINTS
from deskpulse.connectors.liveagent.mapping import (
    CALL_DIRECTIONS,
    TICKET_STATUSES,
    UnknownCodes,
    format_when,
)
from deskpulse.connectors.liveagent.paging import ChangedSince, IdCursor, numbered, records
from deskpulse.connectors.watermark import Watermark

log = logging.getLogger(__name__)


LIST_PAGE = 100
"""Records per list page (LiveAgent's documented maximum for `_perPage` is 100... and a bigger
page only makes each request slower, not the budget larger)."""
TICKET_PAGE = 50
"""Tickets per page of the tickets stream: each ticket then costs one conversation request, and a
page (tickets + conversations) is committed in one transaction with its cursor."""
TICKET = "ticket"
MESSAGES = "messages"
SKIP_CONVERSATION = frozenset({"X", "B"})
"""Deleted and spam conversations: their ticket row is a tombstone; no conversation is read."""


# --------------------------------------------------------------------------------------------
# Per-run lookups


class Directory:
    """What one run learns once and shares: agents (author kinds), departments, tag names.

    Lookups load from `pages()` (`ensure`), never from `normalise`: normalising does no I/O, and a
    lookup that fails surfaces as the stream's own error.
    """

    def __init__(self, client: HttpClient, page_size: int = LIST_PAGE) -> None:
        self._client = client
        self._page_size = page_size
        self.agents: list[Mapping[str, Any]] | None = None
        self.agent_ids: set[str] = set()
        self.departments: dict[str, str] = {}
        self.agent_department: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self._loaded = False

    def ensure(self) -> None:
        if self._loaded:
            return
        agents: list[Mapping[str, Any]] = []
        for page in numbered(self._client, ENDPOINTS["agents"].path, self._page_size):
            agents.extend(a for a in page if isinstance(a, Mapping))
        self.agents = agents
        self.agent_ids = {str(a["id"]) for a in agents if a.get("id") not in (None, "")}
        try:
            for page in numbered(self._client, ENDPOINTS["departments"].path, self._page_size):
                for dept in page:
                    if not isinstance(dept, Mapping):
                        continue
                    did = dept.get("department_id")
                    if did in (None, ""):
                        continue
                    name = str(dept.get("name") or did)
                    self.departments[str(did)] = name
                    members = dept.get("agent_ids")
                    for agent in members if isinstance(members, list) else ():
                        self.agent_department.setdefault(str(agent), name)
        except StreamUnavailable as exc:
            log.warning("liveagent: cannot list departments (%s); groups are named by id", exc)
        try:
            body = self._client.get_json(ENDPOINTS["tags"].path)
            for tag in records(body, ENDPOINTS["tags"].path):
                if isinstance(tag, Mapping) and tag.get("id") not in (None, ""):
                    self.tags[str(tag["id"])] = str(tag.get("name") or tag["id"])
        except StreamUnavailable as exc:
            log.warning("liveagent: cannot list tags (%s); tags are kept as ids", exc)
        self._loaded = True

    def department(self, department_id: Any) -> str | None:
        if department_id in (None, ""):
            return None
        return self.departments.get(str(department_id), str(department_id))

    def tag(self, tag_id: Any) -> str:
        return self.tags.get(str(tag_id), str(tag_id))

    def author_kind(self, user_id: Any) -> str:
        """`agent` for an agent's id, `system` for none, `customer` for anyone else."""
        if user_id in (None, "", "system"):
            return "system"
        return "agent" if str(user_id) in self.agent_ids else "customer"


@dataclass
class Context:
    client: HttpClient
    directory: Directory
    tz: tzinfo
    start: datetime
    overlap: timedelta
    started: datetime  # the sync's start: no watermark passes it (connectors.watermark)
    source: str = "liveagent"
    codes: UnknownCodes = field(default_factory=UnknownCodes)
    page_size: int = LIST_PAGE
    ticket_page: int = TICKET_PAGE


# --------------------------------------------------------------------------------------------
# Records that carry their context


class Part:
    """One vendor record and the context LiveAgent does not put in it (e.g. which ticket a message
    group belongs to). `as_payload()` is what the quarantine keeps: the record as sent, plus that
    context under `_deskpulse`."""

    __slots__ = ("context", "raw")

    def __init__(self, raw: Any, **context: Any) -> None:
        self.raw = raw
        self.context = context

    def as_payload(self) -> Any:
        if isinstance(self.raw, Mapping):
            return {**self.raw, "_deskpulse": self.context}
        return {"record": self.raw, "_deskpulse": self.context}

    def __repr__(self) -> str:
        return f"Part({self.context!r})"


class _Stream(ContextStream[Context]):
    """This connector's streams, on one run's Context (connectors.base.ContextStream)."""

    def _changed_since(
        self, endpoint: str, field: str, per_page: int | None = None
    ) -> ChangedSince:
        """A reader of `endpoint` by the date `field`, from the cursor less the overlap."""
        return ChangedSince(
            self.ctx.client,
            ENDPOINTS[endpoint].path,
            field,
            tz=self.ctx.tz,
            per_page=per_page or self.ctx.page_size,
            start=self.ctx.start,
            overlap=self.ctx.overlap,
            mark=Watermark(f"{self.ctx.source}/{self.name}", self.ctx.started),
        )


class AgentsStream(_Stream):
    """`GET /agents` -> `agents` (a small full read every run; it also fills the directory)."""

    name = "agents"

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        self.ctx.directory.ensure()
        yield Page(list(self.ctx.directory.agents or ()), cursor=None)

    def normalise(self, record: Any) -> Iterable[Row]:
        return nl.agent_rows(record, self.ctx)


class ContactsStream(_Stream):
    """`GET /contacts` by `date_changed` -> `customers`."""

    name = "contacts"

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        reader = self._changed_since("contacts", "date_changed")
        for found, after in reader.pages(cursor):
            yield Page(found, cursor=after, counts=reader.mark.counts())

    def normalise(self, record: Any) -> Iterable[Row]:
        return nl.contact_rows(record, self.ctx)


class TicketsStream(_Stream):
    """`GET /tickets` by `date_changed`, and for each changed ticket its conversation
    (`GET /tickets/{id}/messages`) -> `tickets`, message `ticket_events`, ratings into
    `survey_responses`, and Facebook/Twitter conversations into `social_mentions` as well.

    A page of tickets and their conversations is one unit: committed with one cursor, so a ticket
    never lands without its messages. Authors are agents when their id is an agent's (the directory
    lists them once per run), hence `after = ("agents",)`.
    """

    name = "tickets"
    after = ("agents",)

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        directory = self.ctx.directory
        directory.ensure()
        reader = self._changed_since("tickets", "date_changed", self.ctx.ticket_page)
        for found, after in reader.pages(cursor):
            parts: list[Any] = []
            for ticket in found:
                tid = _ticket_id(ticket)
                if tid is None or not isinstance(ticket, Mapping):
                    parts.append(ticket)  # normalise quarantines it
                    continue
                if str(ticket.get("status")) in SKIP_CONVERSATION:
                    parts.append(Part(ticket, kind=TICKET, ticket_id=tid))
                    continue
                groups = self._conversation(tid)
                first_reply = nl.first_agent_reply(groups, self.ctx)
                parts.append(Part(ticket, kind=TICKET, ticket_id=tid, first_reply_at=first_reply))
                agent = ticket.get("agentid")
                parts.extend(
                    Part(group, kind=MESSAGES, ticket_id=tid, agent_id=agent) for group in groups
                )
            yield Page(parts, cursor=after, counts=reader.mark.counts())

    def _conversation(self, ticket_id: str) -> list[Any]:
        path = ENDPOINTS["messages"].path.format(ticketId=quote(ticket_id, safe=""))
        groups: list[Any] = []
        try:
            for page in numbered(self.ctx.client, path, self.ctx.page_size):
                groups.extend(page)
        except StreamUnavailable:
            # Deleted between the list and this read (404): the ticket row says what is known.
            log.info("liveagent: conversation of ticket %s is gone", ticket_id)
        return groups

    def normalise(self, record: Any) -> Iterable[Row]:
        if not isinstance(record, Part):
            return nl.ticket_rows(record, {}, self.ctx)
        if record.context.get("kind") == MESSAGES:
            return nl.message_group_rows(record.raw, record.context, self.ctx)
        return nl.ticket_rows(record.raw, record.context, self.ctx)


def _ticket_id(ticket: Any) -> str | None:
    if not isinstance(ticket, Mapping):
        return None
    try:
        return text_id(ticket.get("id"), "id")
    except RecordError:
        return None


class HistoryStream(_Stream):
    """`GET /tickets/history` (header cursor) -> status and assignment `ticket_events`.

    A history row is one stretch of a ticket's life in one status with one agent: its `date_from`
    is a status change, and, when it names an agent, an assignment event says who had the ticket
    from then on (the same agent as the row before, or another: a reassignment). Whether the
    agent changed would need the conversation's previous row, which an incremental run may have
    read in an earlier run; stating the assignee on every row keeps each run's rows the same
    however the history was split between runs. Rows only ever append, so the cursor is the
    last committed row's id.
    """

    name = "history"

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        params: dict[str, Any] = {}
        if self.ctx.start.timestamp() > 0:  # used on a first run only (a cursor overrides it)
            since = format_when(self.ctx.start, self.ctx.tz)
            params["_filters"] = orjson.dumps([["date_from", "D>=", since]]).decode()
        reader = IdCursor(
            self.ctx.client,
            ENDPOINTS["history"].path,
            per_page=self.ctx.page_size,
            params=params,
        )
        for found, after in reader.pages(cursor):
            yield Page(found, cursor=after)

    def normalise(self, record: Any) -> Iterable[Row]:
        return nl.history_rows(record, self.ctx)


class CallsStream(_Stream):
    """`GET /calls` (header cursor) -> `calls`. A call still ringing or talking holds the stored
    cursor back, so the next run reads it again once it ended."""

    name = "calls"

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        params: dict[str, Any] = {}
        reader = IdCursor(
            self.ctx.client,
            ENDPOINTS["calls"].path,
            per_page=self.ctx.page_size,
            params=params,
            settled=_call_settled,
        )
        for found, after in reader.pages(cursor):
            yield Page(found, cursor=after)

    def normalise(self, record: Any) -> Iterable[Row]:
        return nl.call_rows(record, self.ctx)


def _call_settled(call: Any) -> bool:
    if not isinstance(call, Mapping):
        return True
    if CALL_DIRECTIONS.get(str(call.get("type"))) is None and call.get("type") in ("T", "int"):
        return True  # internal calls are skipped anyway
    return call.get("dateFinished") not in (None, "")


class ChatsStream(_Stream):
    """`GET /chats` by `date_created` (chats have no change date; the overlap re-reads the chats
    that were still running at the last sync) -> `chats`."""

    name = "chats"

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        reader = self._changed_since("chats", "date_created")
        for found, after in reader.pages(cursor):
            yield Page(found, cursor=after, counts=reader.mark.counts())

    def normalise(self, record: Any) -> Iterable[Row]:
        return nl.chat_rows(record, self.ctx)


STREAM_TYPES: tuple[type[_Stream], ...] = (
    AgentsStream,
    ContactsStream,
    TicketsStream,
    HistoryStream,
    CallsStream,
    ChatsStream,
)

__all__ = [
    "ENDPOINTS",
    "STREAM_TYPES",
    "TICKET_STATUSES",
    "Context",
    "Directory",
    "Part",
]
