"""Klaviyo's official Python SDK (`klaviyo-api` on PyPI, unmodified, re-pointed at the sandbox
with its own `test_host` option) lists everything deskpulse reads and more: events with their
metric, profile and attributions included, metrics, profiles with subscriptions, the list, its
members, campaigns, flows and templates. The SDK parses every answer into its typed (pydantic)
models, so an answer off the document raises. It pages by `page_cursor` (it takes the cursor
out of `links.next` only for https links, so the test hands it the cursor itself)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from deskpulse.connectors.klaviyo.writes import _job as subscription_job
from deskpulse.sandbox import SandboxServer
from deskpulse.sandbox.klaviyo import LIST_ID, KlaviyoDialect

klaviyo_api = pytest.importorskip(
    "klaviyo_api", reason="klaviyo-api (the dev extra) is the client under test"
)


@pytest.fixture(scope="module")
def sdk() -> Iterator[tuple[SandboxServer, Any]]:
    with SandboxServer(
        seed=7, tickets=150, rate_limit=False, options={"klaviyo": {"job_delay": 0.0}}
    ) as sb:
        dialect = sb.dialect("klaviyo")
        assert isinstance(dialect, KlaviyoDialect)
        client = klaviyo_api.KlaviyoAPI(
            dialect.api_key, test_host=sb.host_of("klaviyo").base_url, max_retries=0
        )
        yield sb, client


def _all(call: Callable[..., Any], **kw: Any) -> tuple[list[Any], list[Any]]:
    """(data, included) over every page, following links.next."""
    data: list[Any] = []
    included: list[Any] = []
    cursor = None
    for _ in range(200):
        page = call(**kw, page_cursor=cursor) if cursor else call(**kw)
        data += page.data
        included += page.included or [] if hasattr(page, "included") else []
        following = page.links.next if page.links else None
        if not following:
            return data, included
        (cursor,) = parse_qs(urlsplit(following).query)["page[cursor]"]
    raise AssertionError("more than 200 pages")


def _count(sb: SandboxServer, path: str, **params: str) -> int:
    with sb.client("klaviyo") as http:
        n, url, query = 0, path, params
        while url:
            body = http.get(url, params=query or None).json()
            n += len(body["data"])
            url, query = body["links"].get("next"), {}
        return n


def test_the_sdk_lists_everything_deskpulse_reads(sdk) -> None:
    sb, client = sdk
    metrics, _ = _all(client.Metrics.get_metrics)
    assert {m.id for m in metrics} >= {"PlcOrd", "OpnEml"}
    orders = next(m for m in metrics if m.id == "PlcOrd")
    assert orders.attributes.name == "Placed Order"

    events, included = _all(
        client.Events.get_events,
        filter='equals(metric_id,"PlcOrd")',
        include=["metric", "profile", "attributions"],
        page_size=50,
    )
    assert len(events) == _count(sb, "/api/events", filter='equals(metric_id,"PlcOrd")') > 50
    # The SDK's compound document keeps `included` as plain objects.
    assert {r["type"] for r in included} == {"metric", "profile", "attribution"}
    profiles_seen = {e.relationships.profile.data.id for e in events}
    assert profiles_seen == {r["id"] for r in included if r["type"] == "profile"}

    profiles, _ = _all(
        client.Profiles.get_profiles, additional_fields_profile=["subscriptions"], page_size=20
    )
    assert len(profiles) == _count(sb, "/api/profiles") > 20  # several pages
    consents = {p.attributes.subscriptions.email.marketing.consent for p in profiles}
    assert "SUBSCRIBED" in consents

    # Members join through a subscription job, sent with the SDK as deskpulse sends it.
    client.Profiles.bulk_subscribe_profiles(
        subscription_job(LIST_ID, [p.attributes.email for p in profiles[:30]])
    )
    lists, _ = _all(client.Lists.get_lists)
    assert [x.id for x in lists] == [LIST_ID]
    newsletter = client.Lists.get_list(LIST_ID, additional_fields_list=["profile_count"])
    members, _ = _all(client.Lists.get_profiles_for_list, id=LIST_ID, page_size=10)
    assert len(members) == newsletter.data.attributes.profile_count > 0
    assert all(m.attributes.joined_group_at for m in members)

    campaigns, _ = _all(client.Campaigns.get_campaigns, filter="equals(messages.channel,'email')")
    flows, _ = _all(client.Flows.get_flows)
    templates, _ = _all(client.Templates.get_templates)
    assert campaigns and flows and templates
    assert len(campaigns) == _count(sb, "/api/campaigns", filter="equals(messages.channel,'email')")
    assert len(flows) == _count(sb, "/api/flows") and len(templates) == _count(sb, "/api/templates")
