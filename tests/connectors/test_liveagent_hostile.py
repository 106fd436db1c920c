"""Hostile LiveAgent data: every field of every record type (tickets, their message groups and
messages, history, calls, chats, contacts, agents, departments, tags), set to a wrong type or an
absurd value or removed, is quarantined (RecordError) or mapped, never a crash: anything else out
of a normaliser is a bug that would stop the stream."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from tests.connectors.hostile import try_each, variants
from tests.connectors.liveagent_fakes import API, fixture, liveagent_routes, make_connector

MESSAGES = rf"{API}/tickets/(?P<ticket_id>\w+)/messages"

# record type -> (fixture, the route that serves it, the streams that read it, depth)
CASES: dict[str, tuple[str, str, set[str], int]] = {
    "tickets": ("tickets_page1.json", f"{API}/tickets", {"tickets"}, 2),
    "messages": ("messages_gv6dy7vk.json", MESSAGES, {"tickets"}, 3),
    "history": ("history_page1.json", f"{API}/tickets/history", {"history"}, 2),
    "calls": ("calls.json", f"{API}/calls", {"calls"}, 2),
    "chats": ("chats.json", f"{API}/chats", {"chats"}, 2),
    "contacts": ("contacts.json", f"{API}/contacts", {"contacts"}, 2),
    "agents": ("agents.json", f"{API}/agents", {"agents", "tickets"}, 2),
    "departments": ("departments.json", f"{API}/departments", {"tickets"}, 2),
    "tags": ("tags.json", f"{API}/tags", {"tickets"}, 2),
}


def _first_page_only(record: Any) -> Any:
    """Serves [record] on a first page (no cursor, page 1) and an empty page after it."""

    def handler(request: httpx.Request, **_: str) -> httpx.Response:
        params = request.url.params
        first = "_cursor" not in params and params.get("_page", "1") == "1"
        return httpx.Response(200, json=[record] if first else [])

    return handler


@pytest.mark.parametrize("kind", sorted(CASES))
def test_hostile_records_are_quarantined_or_mapped_never_a_crash(kind: str) -> None:
    name, route, streams, depth = CASES[kind]
    cases = list(variants(fixture(name)[0], depth))

    def connector_for(record: Any) -> Any:
        router = liveagent_routes(respx.Router(assert_all_called=False))
        if route == MESSAGES:
            router.get(url__regex=route).mock(side_effect=_first_page_only(record))
        else:
            router.get(route).mock(side_effect=_first_page_only(record))
        # A hostile ticket id still gets its (empty) conversation.
        router.get(url__regex=rf"{API}/tickets/.+/messages").mock(
            return_value=httpx.Response(200, json=[])
        )
        return make_connector(router)

    outcome = try_each(cases, connector_for, streams)
    outcome.check(kind)
    assert outcome.mapped > 0, (kind, outcome)
