"""What the Klaviyo dialect's resources carry: compound documents (`include`), list members'
`joined_group_at`, e-mail suppressions, sparse fieldsets; shapes from Klaviyo's OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from deskpulse.sandbox import SandboxServer
from deskpulse.sandbox.data import Account
from deskpulse.sandbox.klaviyo.fieldsets import FIELDSETS
from deskpulse.sandbox.klaviyo.lists import job_drops as _job_drops
from deskpulse.sandbox.klaviyo.shop import Shop
from tests.sandbox.test_klaviyo_filters import _all, _get, _operation


def test_events_include_metric_profile_and_attributions(sb: SandboxServer) -> None:
    answer = _get(
        sb,
        "/api/events",
        filter='equals(metric_id,"PlcOrd")',
        include="metric,profile,attributions",
        **{"page[size]": "200"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    included = body["included"]
    keys = [(r["type"], r["id"]) for r in included]
    assert len(keys) == len(set(keys))  # each resource once
    by_type: dict[str, dict[str, Any]] = {}
    for r in included:
        by_type.setdefault(r["type"], {})[r["id"]] = r
    assert set(by_type["metric"]) == {"PlcOrd"}
    assert by_type["metric"]["PlcOrd"]["attributes"]["name"] == "Placed Order"
    events = body["data"]
    owners = {e["relationships"]["profile"]["data"]["id"] for e in events}
    assert set(by_type["profile"]) == owners
    assert all("email" in p["attributes"] for p in by_type["profile"].values())
    attributed = [e for e in events if e["relationships"]["attributions"]["data"]]
    assert attributed  # some orders follow an e-mail open or click
    pointed = {a["id"] for e in attributed for a in e["relationships"]["attributions"]["data"]}
    assert pointed == set(by_type["attribution"])
    for e in attributed:
        for a in e["relationships"]["attributions"]["data"]:
            rel = by_type["attribution"][a["id"]]["relationships"]
            assert rel["event"]["data"] == {"type": "event", "id": e["id"]}
            assert rel["attributed-event"]["data"]["id"].startswith(("4EOpnEml", "4EClkEml"))

    plain = _get(sb, "/api/events", filter='equals(metric_id,"PlcOrd")').json()
    assert "included" not in plain
    assert "attributions" not in plain["data"][0]["relationships"]
    wrong = _get(sb, "/api/events", include="campaign")
    assert wrong.status_code == 400
    assert "campaign" in wrong.json()["errors"][0]["detail"]


@pytest.fixture(scope="module")
def instant() -> Iterator[SandboxServer]:
    """Subscription jobs settle at once."""
    with SandboxServer(
        seed=11, tickets=300, rate_limit=False, options={"klaviyo": {"job_delay": 0.0}}
    ) as server:
        yield server


def _subscribe(sb: SandboxServer, emails: list[str]) -> None:
    body = {
        "data": {
            "type": "profile-subscription-bulk-create-job",
            "attributes": {
                "profiles": {
                    "data": [{"type": "profile", "attributes": {"email": e}} for e in emails]
                }
            },
            "relationships": {"list": {"data": {"type": "list", "id": "NwsLtr"}}},
        }
    }
    answer = httpx.post(
        f"{sb.host_of('klaviyo').base_url}/api/profile-subscription-bulk-create-jobs",
        json=body,
        headers=sb.dialect("klaviyo").auth_headers(),
        timeout=10,
    )
    assert answer.status_code == 202, answer.text


def test_list_members_carry_joined_group_at(instant: SandboxServer) -> None:
    shop = instant.dialect("klaviyo").shop  # type: ignore[attr-defined]
    emails = [p.email for p in shop.profiles() if not _job_drops(p.email)][:5]
    _subscribe(instant, emails[:3])
    _subscribe(instant, emails[2:])  # the third again: it keeps the time it first joined
    members = _all(instant, "/api/lists/NwsLtr/profiles", sort="joined_group_at")
    assert [m["attributes"]["email"] for m in members] == emails
    joined = [datetime.fromisoformat(m["attributes"]["joined_group_at"]) for m in members]
    assert joined == sorted(joined) and len(set(joined)) == 5
    assert all(j.tzinfo is not None for j in joined)
    newest = _all(instant, "/api/lists/NwsLtr/profiles", sort="-joined_group_at")
    assert [m["id"] for m in newest] == [m["id"] for m in reversed(members)]
    later = _all(
        instant,
        "/api/lists/NwsLtr/profiles",
        filter=f"greater-than(joined_group_at,{joined[2].isoformat()})",
    )
    assert [m["attributes"]["email"] for m in later] == emails[3:]
    assert _get(instant, "/api/lists/NwsLtr/profiles", sort="email").status_code == 400


def test_suppressed_profiles_carry_suppression_and_list_suppressions(
    sb: SandboxServer,
) -> None:
    profiles = _all(
        sb, "/api/profiles", **{"additional-fields[profile]": "subscriptions", "page[size]": "100"}
    )
    shop = sb.dialect("klaviyo").shop  # type: ignore[attr-defined]
    consent = {p.id: p.consent for p in shop.profiles()}
    reasons: dict[str, int] = {}
    for p in profiles:
        marketing = p["attributes"]["subscriptions"]["email"]["marketing"]
        for s in marketing["suppression"]:
            reasons[s["reason"]] = reasons.get(s["reason"], 0) + 1
            assert datetime.fromisoformat(s["timestamp"]).tzinfo is not None
            assert marketing["can_receive_email_marketing"] is False
        for s in marketing["list_suppressions"]:
            assert s["list_id"] == "NwsLtr" and s["reason"] and s["timestamp"]
        if consent[p["id"]] == "UNSUBSCRIBED":
            assert [s["reason"] for s in marketing["suppression"]] == ["UNSUBSCRIBE"]
            assert marketing["list_suppressions"]
        if consent[p["id"]] == "NEVER_SUBSCRIBED":
            assert marketing["suppression"] == []
    assert reasons["UNSUBSCRIBE"] == sum(c == "UNSUBSCRIBED" for c in consent.values())
    assert reasons["HARD_BOUNCE"] >= 1
    # Over a larger shop, every kind the document names for this sandbox's story shows up.
    big = Shop(Account(seed=11, tickets=3000))
    kinds = {
        reason
        for k in range(big.n_profiles)
        if (one := big._profile(k)) is not None
        for reason, _ in big.suppressions(one)[0]
    }
    assert kinds == {"UNSUBSCRIBE", "HARD_BOUNCE", "SPAM_COMPLAINT"}


@pytest.mark.parametrize("operation_id", sorted(FIELDSETS))
def test_the_fieldset_table_is_the_documents(operation_id: str) -> None:
    declared = {
        p["name"][len("fields[") : -1]: {e.split(".")[0] for e in p["schema"]["items"]["enum"]}
        for p in _operation(operation_id)["parameters"]
        if p.get("name", "").startswith("fields[")
    }
    for kind, names in FIELDSETS[operation_id].items():
        assert set(names) == declared[kind] - {"id"}, kind


def test_sparse_fieldsets_return_only_what_was_asked(sb: SandboxServer) -> None:
    profiles = _get(
        sb,
        "/api/profiles",
        **{
            "fields[profile]": "email,location.city,subscriptions.email.marketing.consent",
            "additional-fields[profile]": "subscriptions,predictive_analytics",
        },
    ).json()["data"]
    for p in profiles:
        attributes = p["attributes"]
        assert set(attributes) == {"email", "location", "subscriptions", "predictive_analytics"}
        assert attributes["location"] == {"city": None}  # the sandbox's profiles have no place
        assert set(attributes["subscriptions"]["email"]["marketing"]) == {"consent"}
        assert p["id"] and p["type"] == "profile"
    events = _get(
        sb,
        "/api/events",
        filter='equals(metric_id,"PlcOrd")',
        include="profile,metric",
        **{"fields[event]": "datetime", "fields[profile]": "email", "fields[metric]": "name"},
    ).json()
    assert all(set(e["attributes"]) == {"datetime"} for e in events["data"])
    assert all(e["relationships"]["profile"]["data"]["id"] for e in events["data"])
    kinds = {r["type"]: set(r["attributes"]) for r in events["included"]}
    assert kinds == {"profile": {"email"}, "metric": {"name"}}
    metrics = _get(sb, "/api/metrics", **{"fields[metric]": "name"}).json()["data"]
    assert {frozenset(m["attributes"]) for m in metrics} == {frozenset({"name"})}
    lists = _get(sb, "/api/lists", **{"fields[list]": "name,created"}).json()["data"]
    assert set(lists[0]["attributes"]) == {"name", "created"}
    wrong = _get(sb, "/api/profiles", **{"fields[profile]": "email,shoe_size"})
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["source"] == {"parameter": "fields[profile]"}
    assert "shoe_size" in wrong.json()["errors"][0]["detail"]


def test_campaigns_flows_templates_and_a_list_with_its_profile_count(
    instant: SandboxServer,
) -> None:
    sent = _all(
        instant,
        "/api/campaigns",
        filter="equals(messages.channel,'email'),equals(status,'Sent')",
        sort="-created_at",
    )
    assert len(sent) > 20  # one every two weeks over the year
    assert all(c["type"] == "campaign" and c["attributes"]["send_time"] for c in sent)
    created = [c["attributes"]["created_at"] for c in sent]
    assert created == sorted(created, reverse=True)
    assert _all(instant, "/api/campaigns", filter="equals(messages.channel,'sms')")
    required = _get(instant, "/api/campaigns")
    assert required.status_code == 400 and "messages.channel" in required.text

    live = _all(instant, "/api/flows", filter="and(equals(status,'live'),equals(archived,false))")
    assert {f["attributes"]["name"] for f in live} == {
        "Welcome Series",
        "Abandoned Cart",
        "Post-purchase Thank You",
    }
    welcome = _all(instant, "/api/flows", filter="starts-with(name,'Welcome')", sort="name")
    assert [f["attributes"]["trigger_type"] for f in welcome] == ["Added to List"] * 2

    templates = _all(instant, "/api/templates", filter="contains(name,'Welcome')")
    assert sorted(t["attributes"]["name"] for t in templates) == ["Welcome 1", "Welcome 2"]
    assert all(t["attributes"]["html"].startswith("<html>") for t in templates)

    shop = instant.dialect("klaviyo").shop  # type: ignore[attr-defined]
    before = _get(
        instant, "/api/lists/NwsLtr", **{"additional-fields[list]": "profile_count"}
    ).json()["data"]
    emails = [p.email for p in shop.profiles() if not _job_drops(p.email)][10:13]
    _subscribe(instant, emails)
    after = _get(instant, "/api/lists/NwsLtr", **{"additional-fields[list]": "profile_count"})
    assert after.status_code == 200
    assert after.json()["data"]["attributes"]["profile_count"] == (
        before["attributes"]["profile_count"] + 3
    )
    members = _all(instant, "/api/lists/NwsLtr/profiles")
    assert len(members) == after.json()["data"]["attributes"]["profile_count"]
    plain = _get(instant, "/api/lists/NwsLtr").json()["data"]
    assert "profile_count" not in plain["attributes"]
    assert _get(instant, "/api/lists/nope").status_code == 404
