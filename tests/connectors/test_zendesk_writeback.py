"""Zendesk write-back (connectors.zendesk.writeback) against the sandbox and respx mocks:
values land on the right tickets and users, per-ticket job failures come back per record and
only those are retried, the per-ticket update limit is kept, and posts are found again by key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from deskpulse.connectors.base import (
    DOUBT,
    FAILED,
    OK,
    RETRY,
    THROTTLED,
    WRITE_CAPABILITIES,
    FieldValues,
    Post,
    Poster,
    TicketFieldWriter,
    UserFieldWriter,
)
from deskpulse.connectors.zendesk import ZendeskConfig, ZendeskConnector
from tests.connectors.zendesk_fakes import BASE
from tests.connectors.zendesk_fakes import make_connector as fake_connector

server = pytest.importorskip("deskpulse.sandbox.server")

FIELD = "360000000101"


@pytest.fixture
def sandbox() -> Iterator[Any]:
    with server.SandboxServer(seed=5, tickets=300, rate_limit=False) as sb:
        yield sb


def connect(sb: Any) -> ZendeskConnector:
    env = sb.env()
    config = ZendeskConfig(
        base_url=sb.base_url, email=env["ZENDESK_EMAIL"], api_token=env["ZENDESK_API_TOKEN"]
    )
    return ZendeskConnector("zendesk", config, rate_limits=None, sleep=lambda s: None)


def statuses(connector: ZendeskConnector, ids: list[int]) -> dict[int, str]:
    out = {}
    for i in range(0, len(ids), 100):
        chunk = ",".join(map(str, ids[i : i + 100]))
        for t in connector.client.get_json("/api/v2/tickets/show_many", {"ids": chunk})["tickets"]:
            out[t["id"]] = t["status"]
    return out


def test_declares_and_implements_every_write_protocol(sandbox: Any) -> None:
    connector = connect(sandbox)
    assert set(WRITE_CAPABILITIES) <= connector.capabilities
    assert isinstance(connector.writer, TicketFieldWriter)
    assert isinstance(connector.writer, UserFieldWriter)
    assert isinstance(connector.writer, Poster)


def test_ticket_fields_land_on_the_right_tickets_in_bulk_jobs(sandbox: Any) -> None:
    connector = connect(sandbox)
    ids = list(range(1, 151))
    now = statuses(connector, ids)
    batch = [FieldValues(str(i), {FIELD: i * 10}) for i in ids]
    results = connector.writer.write_ticket_fields(batch)
    # Closed tickets cannot be updated (Zendesk's rule): those fail, every other one lands.
    expected = [(str(i), FAILED if now.get(i) == "closed" else OK) for i in ids]
    assert [(r.record_id, r.status) for r in results] == expected
    assert 0 < sum(1 for _, s in expected if s == OK) < 150
    writes = sandbox.client().get("/__sandbox/writes").json()["writes"]
    # 150 tickets: two update_many calls of 100 and 50 tickets.
    assert [(w["path"], len(w["ticket_ids"])) for w in writes] == [
        ("/api/v2/tickets/update_many", 100),
        ("/api/v2/tickets/update_many", 50),
    ]
    landed = [i for i in ids if now.get(i) != "closed"]
    back = connector.writer.read_ticket_fields([str(i) for i in landed], [FIELD])
    assert back == {str(i): {FIELD: i * 10} for i in landed}


def test_failed_tickets_come_back_per_record_and_only_they_are_retried(sandbox: Any) -> None:
    connector = connect(sandbox)
    now = statuses(connector, list(range(1, 301)))
    closed = next(i for i, s in now.items() if s == "closed")
    good = [i for i, s in now.items() if s != "closed"][:3]
    sandbox.dialect("zendesk").writes.refuse[good[1]] = 1  # its next bulk update fails once
    batch = [FieldValues(str(i), {FIELD: "x"}) for i in [*good, closed]]
    results = {r.record_id: r for r in connector.writer.write_ticket_fields(batch)}
    assert {k: r.status for k, r in results.items()} == {
        str(good[0]): OK,
        str(good[1]): FAILED,
        str(good[2]): OK,
        str(closed): FAILED,
    }
    assert "closed prevents ticket update" in (results[str(closed)].reason or "")
    retry = [item for item in batch if not results[item.record_id].ok]
    again = {r.record_id: r.status for r in connector.writer.write_ticket_fields(retry)}
    assert again == {str(good[1]): OK, str(closed): FAILED}
    writes = sandbox.client().get("/__sandbox/writes").json()["writes"]
    assert [sorted(w["ticket_ids"]) for w in writes] == [
        sorted([*good, closed]),
        sorted([good[1], closed]),
    ]


def test_thirty_updates_per_ticket_per_ten_minutes(sandbox: Any) -> None:
    clock = [1000.0]
    connector = connect(sandbox)
    connector.writer.recent._clock = lambda: clock[0]
    ticket = next(i for i, s in statuses(connector, list(range(1, 50))).items() if s != "closed")
    item = [FieldValues(str(ticket), {FIELD: 1})]
    for _ in range(30):
        assert connector.writer.write_ticket_fields(item)[0].ok
        clock[0] += 10  # 30 writes over 300 s
    held = connector.writer.write_ticket_fields(item)[0]
    assert held.status == RETRY and held.retry_after == pytest.approx(300.0)
    assert len(sandbox.client().get("/__sandbox/writes").json()["writes"]) == 30
    clock[0] += 300  # the first write leaves the 10-minute window
    assert connector.writer.write_ticket_fields(item)[0].ok


def test_user_fields_round_trip(sandbox: Any) -> None:
    connector = connect(sandbox)
    users = connector.client.get_json("/api/v2/users", {"role[]": "end-user"})["users"][:2]
    ids = [str(u["id"]) for u in users]
    results = connector.writer.write_user_fields(
        [FieldValues(ids[0], {"lifetime_csat": 0.8}), FieldValues("999999999999", {"x": 1})]
    )
    assert [(r.record_id, r.status) for r in results] == [(ids[0], OK), ("999999999999", FAILED)]
    assert connector.writer.read_user_fields(ids, ["lifetime_csat"]) == {
        ids[0]: {"lifetime_csat": 0.8},
        ids[1]: {"lifetime_csat": None},
    }


def test_a_post_is_an_internal_note_ticket_found_again_by_its_key(sandbox: Any) -> None:
    connector = connect(sandbox)
    key = "digest:daily:2026-11-30:zendesk"
    assert connector.writer.find_post(key) is None
    result = connector.writer.post(Post(key, "KPI digest 2026-11-30", "FRT 42 min (target 60)"))
    assert result.ok and result.record_id == key and result.ref is not None
    assert connector.writer.find_post(key) == result.ref
    (write,) = sandbox.client().get("/__sandbox/writes").json()["writes"]
    ticket = write["body"]["ticket"]
    assert (write["method"], write["path"]) == ("POST", "/api/v2/tickets")
    assert ticket["comment"] == {"body": "FRT 42 min (target 60)", "public": False}
    assert ticket["external_id"] == key


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (httpx.Response(422, json={"error": "RecordInvalid"}), FAILED),  # refused: say why
        (httpx.Response(503), DOUBT),  # a job may have been made: read back, never resent
        (httpx.Response(429, headers={"Retry-After": "86400"}), THROTTLED),  # wait a day
        (httpx.ReadTimeout("applied, answered late"), DOUBT),
    ],
)
def test_refused_and_unavailable_requests_become_results(answer: Any, status: str) -> None:
    router = respx.Router(base_url=BASE, assert_all_called=False)
    route = router.put("/api/v2/tickets/update_many").mock(side_effect=[answer])
    sleeps: list[float] = []
    connector = fake_connector(router, sleeps, max_retries=5)
    (result,) = connector.writer.write_ticket_fields([FieldValues("1", {FIELD: 1})])
    assert result.status == status and result.reason
    assert route.call_count == 1 and sleeps == []  # sent once, nobody waits
    if status == THROTTLED:
        assert result.retry_after == 86400 and "asked to wait 24 h" in result.reason


def test_a_field_key_that_is_not_a_custom_field_id_fails_that_record_only() -> None:
    router = respx.Router(base_url=BASE, assert_all_called=False)
    connector = fake_connector(router)
    (bad,) = connector.writer.write_ticket_fields([FieldValues("3", {"not-an-id": 1})])
    assert bad.status == FAILED and "numeric id" in (bad.reason or "")
