"""Faults switched on at run time (`/__sandbox/faults`): a write whose answer never comes, a
429 with a day's Retry-After, a vendor down, bulk jobs that never end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deskpulse.sandbox import SandboxServer
from deskpulse.sandbox.switches import SwitchError, Switches

GROUPS = "/api/v2/groups.json"
SUBSCRIBE = "/api/profile-subscription-bulk-create-jobs"
MEMBERS = "/api/lists/NwsLtr/profiles"


@pytest.fixture
def sb() -> Iterator[SandboxServer]:
    with SandboxServer(
        seed=3, tickets=100, rate_limit=False, options={"klaviyo": {"job_delay": 0.0}}
    ) as server:
        yield server


def faults(c: httpx.Client, **body: Any) -> dict[str, Any]:
    r = c.post("/__sandbox/faults", json=body)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def test_retry_after_for_the_next_requests_then_served(sb: SandboxServer) -> None:
    with sb.client() as c:
        faults(c, retry_after=86400, count=2)
        first, second, third = (c.get(GROUPS) for _ in range(3))
        assert [first.status_code, second.status_code, third.status_code] == [429, 429, 200]
        assert first.headers["Retry-After"] == "86400"
        assert first.json()["error"] == "TooManyRequests" or "error" in first.json()
        state = c.get("/__sandbox/faults").json()
        assert state["active"] == {}
        assert state["injected"]["retry_after"] == 2


def test_down_closes_connections_or_answers_a_5xx_until_switched_off(sb: SandboxServer) -> None:
    with sb.client() as c:
        faults(c, down=True)
        with pytest.raises(httpx.RemoteProtocolError):
            c.get(GROUPS)
        faults(c, down=503)
        r = c.get(GROUPS)
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        # The control paths keep answering while the vendor is down.
        assert c.get("/__sandbox/faults").json()["injected"]["down"] == 2
        assert c.delete("/__sandbox/faults").status_code == 204
        assert c.get(GROUPS).status_code == 200


def test_write_timeout_applies_the_write_and_holds_the_answer(sb: SandboxServer) -> None:
    with sb.client() as c:
        faults(c, write_timeout=0.6, paths=["/api/v2/tickets/"])
        assert c.get("/api/v2/tickets/5.json").status_code == 200  # reads are not held
        with pytest.raises(httpx.ReadTimeout):
            c.put("/api/v2/tickets/5.json", json={"ticket": {"priority": "urgent"}}, timeout=0.2)
        # The write landed although the client never heard so.
        writes = c.get("/__sandbox/writes").json()["writes"]
        assert [w["ticket_ids"] for w in writes] == [[5]]
        assert c.get("/api/v2/tickets/5.json").json()["ticket"]["priority"] == "urgent"
        assert c.get("/__sandbox/faults").json()["injected"]["write_timeout"] == 1


def test_zendesk_jobs_stay_queued_while_job_never_ends(sb: SandboxServer) -> None:
    with sb.client() as c:
        faults(c, job_never_ends=True)
        job = c.put(
            "/api/v2/tickets/update_many.json",
            json={"tickets": [{"id": 7, "custom_fields": [{"id": 1, "value": 3}]}]},
        ).json()["job_status"]
        for _ in range(3):
            polled = c.get(f"/api/v2/job_statuses/{job['id']}.json").json()["job_status"]
            assert polled["status"] == "queued" and polled["results"] is None
        faults(c, job_never_ends=False)
        done = c.get(f"/api/v2/job_statuses/{job['id']}.json").json()["job_status"]
        assert done["status"] == "completed"
        assert c.get("/__sandbox/faults").json()["injected"]["job_never_ends"] == 3


def test_klaviyo_subscription_job_never_settles(sb: SandboxServer) -> None:
    def subscribe(c: httpx.Client, email: str) -> None:
        body = {
            "data": {
                "type": "profile-subscription-bulk-create-job",
                "attributes": {"profiles": {"data": [{"attributes": {"email": email}}]}},
                "relationships": {"list": {"data": {"type": "list", "id": "NwsLtr"}}},
            }
        }
        assert c.post(SUBSCRIBE, json=body).status_code == 202

    def members(c: httpx.Client, email: str) -> int:
        r = c.get(MEMBERS, params={"filter": f'equals(email,["{email}"])'})
        return len(r.json()["data"])

    with sb.client("klaviyo", headers={"revision": "2026-07-15"}) as c:
        faults(c, job_never_ends=True, count=1)
        subscribe(c, "stuck@example.org")
        subscribe(c, "settled@example.org")
        assert members(c, "stuck@example.org") == 0
        assert members(c, "settled@example.org") == 1


def test_each_host_has_its_own_switches(sb: SandboxServer) -> None:
    with sb.client() as zendesk, sb.client("klaviyo", headers={"revision": "2026-07-15"}) as k:
        faults(zendesk, down=503)
        assert zendesk.get(GROUPS).status_code == 503
        assert k.get("/api/lists").status_code == 200


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"dwon": True}, "unknown fault dwon"),
        ({"retry_after": "a day"}, "retry_after is a number of seconds"),
        ({"write_timeout": -1}, "write_timeout is a number of seconds"),
        ({"down": 404}, "down is true"),
        ({"down": True, "count": 0}, "count is a whole number"),
        ({"job_never_ends": "yes"}, "job_never_ends is true or false"),
        ({"down": True, "methods": "POST"}, "methods is a list"),
        ([1], "expected a JSON object"),
    ],
)
def test_a_bad_control_request_is_refused_with_one_line(
    sb: SandboxServer, body: Any, says: str
) -> None:
    with sb.client() as c:
        r = c.post("/__sandbox/faults", json=body)
        assert r.status_code == 400 and says in r.json()["description"]
        assert c.get("/__sandbox/faults").json()["active"] == {}
        bad = c.post("/__sandbox/faults", content=b"{not json")
        assert bad.status_code == 400


def test_switches_count_down_and_match_paths() -> None:
    s = Switches()
    s.apply({"retry_after": 60, "count": 2, "paths": ["/api/v2/tickets"]})
    assert s.take("retry_after", "/api/v2/groups") is None
    assert s.take("retry_after", "/api/v2/tickets/1") == 60
    assert s.take("write_timeout", "/api/v2/tickets/1", "GET") is None
    assert s.take("retry_after", "/api/v2/tickets/2") == 60
    assert s.take("retry_after", "/api/v2/tickets/3") is None
    assert s.snapshot()["injected"]["retry_after"] == 2
    s.apply({"write_timeout": 5, "paths": ["/api/v2/tickets"], "methods": ["post"]})
    assert s.take("write_timeout", "/api/v2/tickets/update_many", "PUT") is None
    assert s.take("write_timeout", "/api/v2/tickets", "POST") == 5
    with pytest.raises(SwitchError):
        s.apply({"down": True, "nosuch": 1})
    assert "down" not in s.snapshot()["active"]  # nothing of a refused request applies
