"""Hostile vendor data: every field of every record type, replaced by a wrong type or an absurd
value, is quarantined (RecordError) or mapped, never a crash. Since a ValueError, KeyError or
TypeError out of a normaliser is a bug that stops the stream (sync.engine), this is what keeps
genuinely bad vendor data from stopping a stream."""

from __future__ import annotations

import httpx
import pytest
import respx

from tests.connectors.hostile import variants
from tests.connectors.zendesk_fakes import BASE, collect, fixture, make_connector, zendesk_routes

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
    quarantined = mapped = 0
    for label, record in cases:
        page = {**body, key: [record]}
        router = zendesk_routes(respx.Router(base_url=BASE, assert_all_called=False))
        # The same route again replaces the fixture's (respx keeps one route per pattern).
        router.get(path).mock(return_value=httpx.Response(200, json=page))
        router.route().mock(return_value=httpx.Response(404))  # e.g. holidays of schedule -1
        connector = make_connector(router, oauth_token="t")
        try:
            result = collect(connector, only={stream})
        except Exception as exc:
            pytest.fail(f"{stream}: {label}: {type(exc).__name__}: {exc}")
        finally:
            connector.close()
        for _, _, reason in result.rejects:
            assert reason and "\n" not in reason, (label, reason)
        quarantined += len(result.rejects)
        mapped += sum(len(ids) for ids in result.emitted.values())
    # Both happened: the stream really read and mapped the hostile pages.
    assert quarantined > 0 and mapped > 0, (quarantined, mapped)
