"""What the Klaviyo dialect's resources carry: compound documents (`include`), list members'
`joined_group_at`, e-mail suppressions, sparse fieldsets; shapes from Klaviyo's OpenAPI document."""

from __future__ import annotations

from typing import Any

from deskpulse.sandbox import SandboxServer
from tests.sandbox.test_klaviyo_filters import _get


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
