"""Hostile Freshdesk data: every field of every record type (tickets with their stats, their
conversations, ratings, time entries, contacts, agents, groups, companies, business hours, SLA
policies), set to a wrong type or an absurd value or removed, is quarantined (RecordError) or
mapped, never a crash: anything else out of a normaliser is a bug that would stop the stream."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from tests.connectors.freshdesk_fakes import (
    API,
    first_page,
    fixture,
    freshdesk_routes,
    make_connector,
)
from tests.connectors.hostile import try_each, variants

CONVERSATIONS = rf"{API}/tickets/(?P<ticket_id>[^/]+)/conversations"

# record type -> (fixture, the route that serves it, the streams that read it, depth)
CASES: dict[str, tuple[str, str, set[str], int]] = {
    "tickets": ("tickets.json", f"{API}/tickets", {"tickets"}, 2),
    "conversations": ("conversations_101.json", CONVERSATIONS, {"tickets"}, 2),
    "ratings": ("ratings.json", f"{API}/surveys/satisfaction_ratings", {"satisfaction_ratings"}, 2),
    "time_entries": ("time_entries.json", f"{API}/time_entries", {"time_entries"}, 2),
    "contacts": ("contacts.json", f"{API}/contacts", {"contacts"}, 2),
    "agents": ("agents.json", f"{API}/agents", {"agents", "tickets"}, 2),
    "groups": ("groups.json", f"{API}/groups", {"agents", "tickets"}, 2),
    "companies": ("companies.json", f"{API}/companies", {"contacts"}, 2),
    "business_hours": ("business_hours.json", f"{API}/business_hours", {"business_hours"}, 3),
    "sla_policies": ("sla_policies.json", f"{API}/sla_policies", {"tickets"}, 4),
}
WHOLE = frozenset({"business_hours", "sla_policies"})
"""Lists Freshdesk answers in one page (no page parameter)."""


@pytest.mark.parametrize("kind", sorted(CASES))
def test_hostile_records_are_quarantined_or_mapped_never_a_crash(kind: str) -> None:
    name, route, streams, depth = CASES[kind]
    cases = list(variants(fixture(name)[0], depth))

    def connector_for(record: Any) -> Any:
        router = freshdesk_routes(respx.Router(assert_all_called=False))
        if kind in WHOLE:
            router.get(route).mock(return_value=httpx.Response(200, json=[record]))
        elif route == CONVERSATIONS:
            router.get(url__regex=route).mock(side_effect=first_page([record]))
        elif kind == "tickets":
            router.get(route).mock(
                side_effect=lambda request: first_page([record] if not
                                                       request.url.params.get("filter") else [])(request)
            )  # fmt: skip
        else:
            router.get(route).mock(side_effect=first_page([record]))
        return make_connector(router)

    outcome = try_each(cases, connector_for, streams)
    outcome.check(kind)
    assert outcome.mapped > 0, (kind, outcome)
