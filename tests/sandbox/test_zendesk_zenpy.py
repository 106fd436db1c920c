"""Zenpy (the Zendesk API's established Python client, unmodified, only re-pointed at the
sandbox's host) lists every cursor-paginated list the sandbox serves, as it would on Zendesk:
it asks for `page[size]` pages and follows `links.next` while `meta.has_more`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from deskpulse.sandbox import SandboxServer
from deskpulse.sandbox.zendesk import ZendeskDialect

zenpy = pytest.importorskip("zenpy", reason="zenpy (the dev extra) is the client under test")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[SandboxServer, Any]]:
    with (
        SandboxServer(seed=3, tickets=300, rate_limit=False) as sb,
        pytest.MonkeyPatch.context() as mp,
    ):
        # Zenpy builds https://{subdomain}.{domain}/api/v2/; the loopback host splits the same way.
        mp.setenv("ZENPY_FORCE_SCHEME", "http")
        host, port = sb.base_url.removeprefix("http://").rsplit(":", 1)
        subdomain, last = host.rsplit(".", 1)
        desk = sb.dialect("zendesk")
        assert isinstance(desk, ZendeskDialect)
        client = zenpy.Zenpy(
            subdomain=subdomain, domain=f"{last}:{port}", email=desk.email, token=desk.api_token
        )
        client.tickets.protocol = "http"
        yield sb, client


def test_zenpy_lists_every_cursor_paginated_list(sandbox, caplog) -> None:
    sb, client = sandbox
    a = sb.account
    with caplog.at_level(logging.DEBUG, logger="zenpy"):
        users = list(client.users())
    followed = [r.getMessage() for r in caplog.records if "more results via url" in r.getMessage()]
    assert followed and all("page%5Bafter%5D=" in m or "page[after]=" in m for m in followed)
    assert len(users) == len(a.staff) + a.n_end_users > 100  # more than one cursor page
    assert len({u.id for u in users}) == len(users)
    assert len(list(client.groups())) == len(a.groups)
    assert len(list(client.group_memberships())) == len(a.memberships)
    assert len(list(client.organizations())) == 25
    assert len(list(client.ticket_metrics())) == a.n_tickets
    assert list(client.tags()) and list(client.macros()) and list(client.ticket_fields())
    audits = list(client.tickets.audits(ticket=7))
    with sb.client() as http:
        raw = http.get("/api/v2/tickets/7/audits.json").json()["audits"]
    assert [x.id for x in audits] == [x["id"] for x in raw]
    comments = list(client.tickets.comments(ticket=7))
    assert len(comments) == sum(1 for x in raw for e in x["events"] if e["type"] == "Comment")
