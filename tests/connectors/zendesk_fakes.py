"""Test helpers (not a conftest, so names cannot clash): a respx Zendesk serving our own JSON
fixtures, a connector factory, and `collect`, a tiny stand-in for the engine."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import respx

from deskpulse.connectors.base import Connector, Page, Stream
from deskpulse.connectors.errors import RecordError
from deskpulse.connectors.zendesk import ZendeskConnector

FIXTURES = Path(__file__).parent / "fixtures" / "zendesk"
BASE = "https://acme.zendesk.com"
TOKEN = "zd-Secret-Token-42"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def zendesk_routes(router: respx.Router) -> respx.Router:
    """Routes for every endpoint the connector reads, answering with the fixtures."""

    def users(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        if cursor == "dXNlcnMtMQ":
            return httpx.Response(200, json=fixture("users_page2.json"))
        if cursor == "dXNlcnMtMg":  # a later sync: nothing changed
            return httpx.Response(
                200, json={"users": [], "after_cursor": "dXNlcnMtMg", "end_of_stream": True}
            )
        return httpx.Response(200, json=fixture("users_page1.json"))

    def tickets(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        if cursor == "MTc0MDkwOTYwMHwxMDM":
            return httpx.Response(200, json=fixture("tickets_page2.json"))
        if cursor == "MTc0MTAwMzIwMHwxMDY":
            return httpx.Response(
                200,
                json={"tickets": [], "after_cursor": "MTc0MTAwMzIwMHwxMDY", "end_of_stream": True},
            )
        return httpx.Response(200, json=fixture("tickets_page1.json"))

    def ticket_events(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["start_time"])
        if start >= 1740823920:
            return httpx.Response(200, json=fixture("ticket_events_page2.json"))
        return httpx.Response(200, json=fixture("ticket_events_page1.json"))

    router.get("/api/v2/incremental/users/cursor").mock(side_effect=users)
    router.get("/api/v2/incremental/tickets/cursor").mock(side_effect=tickets)
    router.get("/api/v2/incremental/ticket_events").mock(side_effect=ticket_events)
    router.get("/api/v2/groups").mock(return_value=httpx.Response(200, json=fixture("groups.json")))
    router.get("/api/v2/users").mock(return_value=httpx.Response(200, json=fixture("staff.json")))
    router.get("/api/v2/satisfaction_ratings").mock(
        return_value=httpx.Response(200, json=fixture("satisfaction_ratings.json"))
    )
    router.get("/api/v2/incremental/ticket_metric_events").mock(
        return_value=httpx.Response(200, json=fixture("ticket_metric_events.json"))
    )
    router.get("/api/v2/business_hours/schedules").mock(
        return_value=httpx.Response(200, json=fixture("schedules.json"))
    )
    router.get("/api/v2/business_hours/schedules/11/holidays").mock(
        return_value=httpx.Response(200, json=fixture("holidays_11.json"))
    )
    router.get("/api/v2/business_hours/schedules/12/holidays").mock(
        return_value=httpx.Response(200, json=fixture("holidays_12.json"))
    )
    router.get("/api/v2/channels/voice/stats/incremental/calls").mock(
        return_value=httpx.Response(200, json=fixture("calls.json"))
    )
    router.get("/api/v2/chat/incremental/chats").mock(
        return_value=httpx.Response(200, json=fixture("chats.json"))
    )
    return router


def zendesk_router() -> respx.Router:
    return zendesk_routes(respx.Router(base_url=BASE, assert_all_called=False))


def make_connector(
    router: respx.Router, sleeps: list[float] | None = None, **options: Any
) -> ZendeskConnector:
    """A connector on `router` with a recording fake sleep and no pacing."""
    options.setdefault("subdomain", "acme")
    options.setdefault("email", "agent@example.com")
    options.setdefault("api_token", TOKEN)
    options.setdefault("rate_limits", None)
    options.setdefault("max_retries", 2)
    options.setdefault("sleep", (sleeps if sleeps is not None else []).append)
    return ZendeskConnector("zendesk", transport=httpx.MockTransport(router.handler), **options)


@dataclass
class Collected:
    """What a fake engine made of a run: rows per table (last write wins), cursors, rejects."""

    rows: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    emitted: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    cursors: dict[str, Any] = field(default_factory=dict)
    rejects: list[tuple[str, Any, str]] = field(default_factory=list)
    pages: dict[str, list[Page]] = field(default_factory=lambda: defaultdict(list))

    def table(self, name: str) -> dict[str, dict[str, Any]]:
        return self.rows.get(name, {})


def collect(
    connector: Connector,
    cursors: dict[str, Any] | None = None,
    only: set[str] | None = None,
) -> Collected:
    """Run every stream the way the engine does (page by page, quarantining RecordErrors)."""
    out = Collected(cursors=dict(cursors or {}))
    streams: list[Stream] = list(connector.streams())
    for stream in streams:
        if only is not None and stream.name not in only:
            continue
        for page in stream.pages(out.cursors.get(stream.name)):
            out.pages[stream.name].append(page)
            for row in page.rows:
                out.rows[row.table][row.values["id"]] = row.values
            for record in page.records:
                try:
                    rows = list(stream.normalise(record))
                except RecordError as exc:  # anything else is a bug: the test fails
                    payload = record.as_payload() if hasattr(record, "as_payload") else record
                    out.rejects.append((stream.name, payload, str(exc)))
                    continue
                for row in rows:
                    out.emitted[row.table].append(row.values["id"])
                    out.rows[row.table][row.values["id"]] = row.values
            if page.cursor is not None:
                out.cursors[stream.name] = page.cursor
    return out
