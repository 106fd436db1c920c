"""Hostile Klaviyo data: every field of a profile, an order, a refund and an engagement event
(attributes and event properties included), set to a wrong type or an absurd value or removed,
is quarantined (RecordError) or mapped, never a crash; and so is a metric list that names its
metrics wrongly."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from deskpulse.connectors.klaviyo import KlaviyoConnector
from tests.connectors.hostile import try_each, variants
from tests.connectors.klaviyo_fakes import BASE, KEY, NOW, account

DATA = account()


def _event(metric: str) -> dict[str, Any]:
    return next(e for e in DATA["events"] if e["relationships"]["metric"]["data"]["id"] == metric)


# record type -> (the record, the endpoint that serves it, the stream that reads it)
CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    "profile": (DATA["profiles"][0], "/api/profiles", "profiles"),
    "order": (_event("PLACED1"), "/api/events", "orders"),
    "refund": (_event("REFUND1"), "/api/events", "order_adjustments"),
    "engagement": (_event("OPEN1"), "/api/events", "engagement"),
    "metric": (DATA["metrics"][0], "/api/metrics", "orders"),
}


def _page(items: list[Any]) -> httpx.Response:
    return httpx.Response(200, json={"data": items, "links": {"self": f"{BASE}/api/x"}})


def _connector(endpoint: str, record: Any) -> KlaviyoConnector:
    router = respx.Router(base_url=BASE, assert_all_called=False)
    serve = {
        "/api/metrics": [record] if endpoint == "/api/metrics" else DATA["metrics"],
        "/api/profiles": [record] if endpoint == "/api/profiles" else [],
        "/api/events": [record] if endpoint == "/api/events" else [],
    }
    for path, items in serve.items():
        router.get(path).mock(return_value=_page(items))
    return KlaviyoConnector(
        "klaviyo",
        api_key=KEY,
        rate_limits="off",
        max_retries=0,
        now=lambda: NOW,
        transport=httpx.MockTransport(router.handler),
        sleep=lambda seconds: None,
    )


@pytest.mark.parametrize("kind", sorted(CASES))
def test_hostile_records_are_quarantined_or_mapped_never_a_crash(kind: str) -> None:
    record, endpoint, stream = CASES[kind]
    outcome = try_each(
        variants(record, depth=3), lambda changed: _connector(endpoint, changed), {stream}
    )
    outcome.check(kind)
    if kind != "metric":  # a bad metric list maps nothing: its events go unread
        assert outcome.mapped > 0, (kind, outcome)
