"""The sandbox's outgoing webhooks (sandbox.webhooks): signed, retried, and broken on request."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import httpx

from deskpulse.connectors.webhooks import Request
from deskpulse.connectors.zendesk.webhooks import ZendeskWebhooks
from deskpulse.sandbox import webhooks
from deskpulse.sandbox.webhooks import Outbox
from deskpulse.sandbox.zendesk.hooks import sign_zendesk


def _outbox(answer: Callable[[httpx.Request], int]) -> tuple[Outbox, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            seen.append(request)
        return httpx.Response(answer(request))

    box = Outbox(sign_zendesk)
    box.client = httpx.Client(transport=httpx.MockTransport(handler))
    box.configure({"url": "http://receiver/hook", "secret": "s3cret"})
    return box, seen


def _settled(box: Outbox, n: int) -> list[dict]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        log = box.deliveries()
        if len(log) >= n and all(d["outcome"] != "pending" for d in log):
            return log
        time.sleep(0.02)
    raise AssertionError(box.deliveries())


def test_signed_as_zendesk_signs_and_verified_by_the_connector() -> None:
    box, seen = _outbox(lambda r: 200)
    try:
        box.changed(17)
        (log,) = _settled(box, 1)
        assert log["outcome"] == "delivered" and log["ticket_id"] == "17"
        (request,) = seen
        headers = {k.lower(): v for k, v in request.headers.items()}
        # The connector's verifier accepts what the sandbox sent (time checked by the receiver).
        hint = ZendeskWebhooks("s3cret").verify(Request(headers, {}, request.content))
        assert hint.ticket_ids == ("17",) and hint.delivery == log["id"]
    finally:
        box.stop()


def test_a_non_2xx_answer_is_retried(monkeypatch) -> None:
    monkeypatch.setattr(webhooks, "RETRY_WAIT", 0.01)
    answers = iter([500, 503, 200])
    box, seen = _outbox(lambda r: next(answers))
    try:
        box.changed(5)
        (log,) = _settled(box, 1)
        assert [a["status"] for a in log["attempts"]] == [500, 503, 200]
        assert log["outcome"] == "delivered" and len(seen) == 3
    finally:
        box.stop()


def test_a_receiver_always_failing_ends_failed(monkeypatch) -> None:
    monkeypatch.setattr(webhooks, "RETRY_WAIT", 0.01)
    box, seen = _outbox(lambda r: 401)
    try:
        box.changed(5)
        (log,) = _settled(box, 1)
        assert log["outcome"] == "failed" and len(seen) == 1 + webhooks.RETRIES
    finally:
        box.stop()


def test_drop_duplicate_and_reorder() -> None:
    box, seen = _outbox(lambda r: 200)
    try:
        box.set_faults({"drop": 1.0})
        box.changed(1)
        box.set_faults({"duplicate": 1.0})
        box.changed(2)
        box.set_faults({"reorder": 1.0})
        box.changed(3)
        box.set_faults({})
        box.changed(4)
        log = _settled(box, 4)
        assert [d["outcome"] for d in log] == ["dropped", "delivered", "delivered", "delivered"]
        time.sleep(0.3)  # the held-back delivery has gone by now
        order = [json.loads(r.content)["ticket_id"] for r in seen]
        assert order == ["2", "2", "4", "3"]  # 1 lost, 2 twice (one id), 3 behind 4
        ids = [r.headers["X-Zendesk-Webhook-Invocation-Id"] for r in seen[:2]]
        assert ids[0] == ids[1]
    finally:
        box.stop()


def test_generated_activity_sends_a_signed_delivery_per_changed_ticket() -> None:
    from deskpulse.sandbox.server import SandboxServer
    from deskpulse.sync.webhooks import Receiver, ReceiverServers, Route

    hints: list[tuple[str, ...]] = []
    route = Route("zendesk", "/in", "127.0.0.1", 0, ZendeskWebhooks("s3cret"), 900)
    servers = ReceiverServers(Receiver([route], lambda s, ids: hints.append(tuple(ids))), [route])
    servers.start()
    host, port = servers.addresses[0]
    try:
        with SandboxServer(seed=2, tickets=50, rate_limit=False, dialects=["zendesk"]) as sb:
            client = sb.client()
            target = {"url": f"http://{host}:{port}/in", "secret": "s3cret"}
            assert client.post("/__sandbox/webhooks", json=target).status_code == 200
            touched = client.post("/__sandbox/activity", json={"count": 3}).json()["tickets"]
            assert len(touched) == 3
            deadline = time.monotonic() + 20
            while len(hints) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sorted(hints) == sorted((str(t),) for t in touched)
            log = client.get("/__sandbox/webhooks/deliveries").json()["deliveries"]
            assert [d["outcome"] for d in log] == ["delivered"] * 3
    finally:
        servers.stop()
