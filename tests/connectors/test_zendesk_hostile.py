"""Hostile vendor data: every field of every record type, replaced by a wrong type or an absurd
value, is quarantined (RecordError) or mapped, never a crash. Since a ValueError, KeyError or
TypeError out of a normaliser is a bug that stops the stream (sync.engine), this is what keeps
genuinely bad vendor data from stopping a stream."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from tests.connectors.hostile import try_each, variants
from tests.connectors.zendesk_fakes import BASE, fixture, make_connector, zendesk_routes

# stream -> (fixture, list key, path)
STREAMS = {
    "users": ("users_page2.json", "users", "/api/v2/incremental/users/cursor"),
    "tickets": ("tickets_page2.json", "tickets", "/api/v2/incremental/tickets/cursor"),
    "ticket_events": (
        "ticket_events_page2.json",
        "ticket_events",
        "/api/v2/incremental/ticket_events",
    ),
    "satisfaction_ratings": (
        "satisfaction_ratings.json",
        "satisfaction_ratings",
        "/api/v2/satisfaction_ratings",
    ),
    "sla_events": (
        "ticket_metric_events.json",
        "ticket_metric_events",
        "/api/v2/incremental/ticket_metric_events",
    ),
    "schedules": ("schedules.json", "schedules", "/api/v2/business_hours/schedules"),
    "calls": ("calls.json", "calls", "/api/v2/channels/voice/stats/incremental/calls"),
    "chats": ("chats.json", "chats", "/api/v2/chat/incremental/chats"),
}


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_hostile_records_are_quarantined_or_mapped_never_a_crash(stream: str) -> None:
    name, key, path = STREAMS[stream]
    body = fixture(name)
    cases = [case for record in body[key] for case in variants(record)]

    def connector_for(record: Any) -> Any:
        router = zendesk_routes(respx.Router(base_url=BASE, assert_all_called=False))
        # The same route again replaces the fixture's (respx keeps one route per pattern).
        router.get(path).mock(return_value=httpx.Response(200, json={**body, key: [record]}))
        router.route().mock(return_value=httpx.Response(404))  # e.g. holidays of schedule -1
        return make_connector(router, oauth_token="t")

    outcome = try_each(cases, connector_for, {stream})
    outcome.check(stream)
    # Both happened: the stream really read and mapped the hostile pages.
    assert outcome.quarantined > 0 and outcome.mapped > 0, outcome
