"""The Klaviyo dialect's filters: one parser for every route, each route's (field, operator)
pairs exactly the `x-klaviyo-filters` of Klaviyo's OpenAPI document, Klaviyo's 400 for the rest."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from deskpulse.sandbox import SandboxServer
from deskpulse.sandbox.klaviyo import KlaviyoDialect, filters
from deskpulse.sandbox.klaviyo.shop import METRICS


@cache
def _spec() -> dict[str, Any]:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "specs" / "klaviyo" / "stable.json"
        if candidate.exists():
            data: dict[str, Any] = json.loads(candidate.read_text())
            return data
    pytest.skip("shared/specs/klaviyo/stable.json is not beside the repository")


def _operation(operation_id: str) -> dict[str, Any]:
    for item in _spec()["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return op
    raise AssertionError(operation_id)


@pytest.mark.parametrize("operation_id", sorted(filters.FILTERS))
def test_the_filter_table_is_the_documents(operation_id: str) -> None:
    declared = _operation(operation_id)["x-klaviyo-filters"]
    table = filters.FILTERS[operation_id]
    assert set(table) == set(declared)
    for name, spec in declared.items():
        ours = table[name]
        ops = spec["operators"]
        assert ours.single == frozenset(ops.get("single", [])), name
        assert ours.list == frozenset(ops.get("list", [])), name
        assert ours.none == frozenset(ops.get("none", [])), name
        value = spec.get("value", {})
        assert ours.kind == value.get("format", value.get("type", "string")), name


def test_parser_reads_nested_and_every_value_type() -> None:
    found = filters.parse(
        "and(equals(metric_id,[\"a\",'b']),and(greater-than(datetime,2026-01-02T03:04:05Z),"
        "less-or-equal(timestamp,1767322000))),has(profile)",
        "get_events",
    )
    assert [(c.op, c.field, c.value) for c in found] == [
        ("equals", "metric_id", ["a", "b"]),
        ("greater-than", "datetime", 1767323045),
        ("less-or-equal", "timestamp", 1767322000),
        ("has", "profile", None),
    ]


@pytest.fixture(scope="module")
def kv(sb: SandboxServer) -> KlaviyoDialect:
    found = sb.dialect("klaviyo")
    assert isinstance(found, KlaviyoDialect)
    return found


def _get(sb: SandboxServer, path: str, **params: str) -> httpx.Response:
    dialect = sb.dialect("klaviyo")
    return httpx.get(
        f"{sb.host_of('klaviyo').base_url}{path}",
        params=params,
        headers=dialect.auth_headers(),
        timeout=10,
    )


def _all(sb: SandboxServer, path: str, **params: str) -> list[dict[str, Any]]:
    answer = _get(sb, path, **params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    data: list[dict[str, Any]] = body["data"]
    while body["links"].get("next"):
        body = httpx.get(
            body["links"]["next"], headers=sb.dialect("klaviyo").auth_headers(), timeout=10
        ).json()
        data += body["data"]
    return data


def test_equals_a_metric_list_returns_every_listed_metric(
    sb: SandboxServer, kv: KlaviyoDialect
) -> None:
    # The document allows `equals` with a list on metric_id: events of either metric.
    both = _all(sb, "/api/events", filter='equals(metric_id,["RfdOrd","CnlOrd"])')
    expected = kv.shop.events("RfdOrd") + kv.shop.events("CnlOrd")
    assert sorted(e["id"] for e in both) == sorted(e.id for e in expected)
    assert {e["relationships"]["metric"]["data"]["id"] for e in both} == {"RfdOrd", "CnlOrd"}
    assert [e["attributes"]["timestamp"] for e in both] == sorted(
        e["attributes"]["timestamp"] for e in both
    )
    one = _all(sb, "/api/events", filter='equals(metric_id,["RfdOrd"])')
    assert [e["id"] for e in one] == [e.id for e in kv.shop.events("RfdOrd")]
    # `any` is not among metric_id's operators in the document.
    refused = _get(sb, "/api/events", filter='any(metric_id,["RfdOrd"])')
    assert refused.status_code == 400


def test_events_has_profile_and_profile_id(sb: SandboxServer, kv: KlaviyoDialect) -> None:
    refunds = _all(sb, "/api/events", filter='and(equals(metric_id,"RfdOrd"),has(profile))')
    assert len(refunds) == len(kv.shop.events("RfdOrd"))
    first = kv.shop.events("RfdOrd")[0]
    owner = kv.shop.ids[first.profile]
    theirs = _all(
        sb, "/api/events", filter=f'equals(metric_id,"RfdOrd"),equals(profile_id,"{owner}")'
    )
    assert first.id in {e["id"] for e in theirs}
    assert {e["relationships"]["profile"]["data"]["id"] for e in theirs} == {owner}


def test_profile_filters_the_document_allows(sb: SandboxServer, kv: KlaviyoDialect) -> None:
    profiles = kv.shop.profiles()
    target = profiles[3]
    found = _all(
        sb,
        "/api/profiles",
        filter=f'and(equals(external_id,"shop-{target.index + 1}"),'
        f'any(email,["{target.email.strip().upper()}","nobody@example.com"]))',
    )
    assert [p["id"] for p in found] == [target.id]
    assert _all(sb, "/api/profiles", filter='equals(phone_number,"+15555550100")') == []
    unsubscribed = _all(
        sb,
        "/api/profiles",
        filter='equals(subscriptions.email.marketing.suppression.reason,"UNSUBSCRIBE")',
    )
    expected = {p.id for p in profiles if p.consent == "UNSUBSCRIBED"}
    assert expected and {p["id"] for p in unsubscribed} == expected
    left_list = _all(
        sb,
        "/api/profiles",
        filter='equals(subscriptions.email.marketing.list_suppressions.list_id,"NwsLtr")',
    )
    assert expected < {p["id"] for p in left_list}  # and some who left the newsletter only


def test_metrics_filter_on_integration(sb: SandboxServer) -> None:
    found = _all(sb, "/api/metrics", filter='equals(integration.name,"Klaviyo")')
    assert sorted(m["id"] for m in found) == sorted(m for m, _, i in METRICS if i == "Klaviyo")
    assert _all(sb, "/api/metrics", filter='equals(integration.category,"crm")') == []


@pytest.mark.parametrize(
    ("path", "text", "named"),
    [
        ("/api/profiles", 'equals(favourite_colour,"red")', "favourite_colour"),
        ("/api/profiles", 'greater-than(email,"a")', "greater-than"),
        ("/api/profiles", 'or(equals(id,"a"),equals(id,"b"))', "or"),
        ("/api/profiles", "greater-than(updated,'2026-01-01T00:00:00Z')", "not quoted"),
        ("/api/events", 'equals(metric_id,"PlcOrd"),equals(uuid,"x")', "uuid"),
        ("/api/events", 'greater-than(timestamp,"12")', "timestamp"),
        ("/api/metrics", 'equals(name,"Placed Order")', "name"),
        ("/api/lists/NwsLtr/profiles", 'equals(email,"a@example.com")', "email"),
        ("/api/events", 'equals(metric_id,["a"', "position"),
    ],
)
def test_an_unsupported_filter_is_klaviyos_400_naming_it(
    sb: SandboxServer, path: str, text: str, named: str
) -> None:
    answer = _get(sb, path, filter=text)
    assert answer.status_code == 400
    error = answer.json()["errors"][0]
    assert (error["code"], error["title"]) == ("invalid", "Invalid input.")
    assert error["source"] == {"parameter": "filter"}
    assert named in error["detail"]


def test_a_filter_nested_past_any_use_is_a_400_not_a_crash(sb: SandboxServer) -> None:
    deep = "and(" * 2000 + 'equals(id,"a")' + ")" * 2000
    answer = _get(sb, "/api/profiles", filter=deep)
    assert answer.status_code == 400
    assert "operations" in answer.json()["errors"][0]["detail"]
