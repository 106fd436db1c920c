"""The webhook receivers: verification, replay window, size cap, slow clients (sync.webhooks)."""

from __future__ import annotations

import logging
import socket
import time
from datetime import UTC, datetime

import httpx
import pytest

from deskpulse.connectors.klaviyo.webhooks import KlaviyoWebhooks
from deskpulse.connectors.liveagent.webhooks import LiveAgentWebhooks
from deskpulse.connectors.webhooks import Malformed, Request, Unverified
from deskpulse.connectors.zendesk import ZendeskConnector
from deskpulse.connectors.zendesk.webhooks import ZendeskWebhooks, signature
from deskpulse.sync.observability import Metrics, StatusServer
from deskpulse.sync.webhooks import MAX_BODY, Receiver, ReceiverServers, Route, route_for

SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
STAMP = "2026-12-05T10:00:00Z"
NOW = datetime(2026, 12, 5, 10, 1, tzinfo=UTC).timestamp()  # a minute after STAMP
BODY = b'{"ticket_id": "42"}'


def test_zendesk_signature_is_base64_hmac_of_timestamp_then_body() -> None:
    # openssl: printf '%s' "$STAMP$BODY" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64
    assert signature(SECRET, STAMP, BODY) == "111zlQP6Wb2RCIOvydumwf9lm0/CPNft1Pguv2jFNZY="


def _zendesk(body: bytes = BODY, stamp: str = STAMP, sig: str | None = None) -> Request:
    headers = {
        "x-zendesk-webhook-signature": sig if sig is not None else signature(SECRET, stamp, body),
        "x-zendesk-webhook-signature-timestamp": stamp,
        "x-zendesk-webhook-invocation-id": "inv-1",
    }
    return Request(headers, {}, body)


def test_zendesk_verifier() -> None:
    v = ZendeskWebhooks(SECRET)
    hint = v.verify(_zendesk())
    assert hint.ticket_ids == ("42",) and hint.delivery == "inv-1"
    assert hint.sent_at == datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    with pytest.raises(Unverified, match="wrong signature"):
        v.verify(_zendesk(sig="111zlQP6Wb2RCIOvydumwf9lm0/CPNft1Pguv2jFNZZ="))
    with pytest.raises(Unverified, match="unsigned"):
        v.verify(Request({}, {}, BODY))
    with pytest.raises(Unverified, match="wrong signature"):  # the body changed on the way
        v.verify(Request(dict(_zendesk().headers), {}, b'{"ticket_id": "43"}'))
    with pytest.raises(Malformed, match="no ticket id"):
        v.verify(_zendesk(body=b'{"ticket_id": "1; DROP"}'))
    with pytest.raises(Malformed, match="not JSON"):
        v.verify(_zendesk(body=b"\xff\xfe"))
    assert SECRET not in repr(v)


def test_klaviyo_verifier_hex_hmac_of_body_then_timestamp() -> None:
    secret = "klaviyo-secret-0123456789"
    body = b'{"data": [], "meta": {"klaviyo_webhook_id": "wh1"}}'
    # openssl: printf '%s' "$BODY$STAMP" | openssl dgst -sha256 -hmac "$SECRET"
    sig = "475ca16e7d982a52699a00f918e72b6d1b29aa36cd7151b32a7f483a0c7d5dbd"
    headers = {"klaviyo-signature": sig, "klaviyo-timestamp": STAMP, "klaviyo-webhook-id": "wh1"}
    hint = KlaviyoWebhooks(secret).verify(Request(headers, {}, body))
    assert hint.ticket_ids == () and hint.sent_at is not None
    with pytest.raises(Unverified, match="does not match"):
        KlaviyoWebhooks(secret).verify(Request({**headers, "klaviyo-webhook-id": "x"}, {}, body))
    with pytest.raises(Unverified, match="wrong signature"):
        KlaviyoWebhooks("another-secret-0000").verify(Request(headers, {}, body))


def test_liveagent_token_in_header_or_url() -> None:
    v = LiveAgentWebhooks("s3cret-token")
    body = b'{"ticket_id": "abc123"}'
    assert v.verify(Request({"x-deskpulse-token": "s3cret-token"}, {}, body)).ticket_ids == (
        "abc123",
    )
    assert v.verify(Request({}, {"token": "s3cret-token"}, body)).ticket_ids == ("abc123",)
    with pytest.raises(Unverified, match="wrong token"):
        v.verify(Request({}, {"token": "s3cret-tokem"}, body))
    with pytest.raises(Unverified, match="no token"):
        v.verify(Request({}, {}, body))


# --- the receiver over HTTP -----------------------------------------------------------------


@pytest.fixture
def served():
    hints: list[tuple[str, tuple[str, ...]]] = []
    route = Route("zendesk", "/webhooks/zendesk", "127.0.0.1", 0, ZendeskWebhooks(SECRET), 900)
    receiver = Receiver([route], lambda s, ids: hints.append((s, tuple(ids))), clock=lambda: NOW)
    servers = ReceiverServers(receiver, [route], idle=2).start()
    host, port = servers.addresses[0]
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=5) as client:
        yield client, hints, receiver
    servers.stop()


def _post(client: httpx.Client, req: Request, path: str = "/webhooks/zendesk") -> httpx.Response:
    return client.post(path, content=req.body, headers=dict(req.headers))


def test_receiver_accepts_once_and_refuses_the_rest(served, caplog) -> None:
    client, hints, receiver = served
    caplog.set_level(logging.INFO)
    assert _post(client, _zendesk()).status_code == 202
    assert _post(client, _zendesk()).status_code == 200  # the same delivery again: dropped
    assert hints == [("zendesk", ("42",))]
    bad = _zendesk(sig="111zlQP6Wb2RCIOvydumwf9lm0/CPNft1Pguv2jFNZZ=")
    assert _post(client, bad).status_code == 401
    stale = "2026-12-05T09:54:00Z"  # 7 minutes before NOW: outside the 5-minute window
    assert _post(client, _zendesk(stamp=stale)).status_code == 401
    future = "2026-12-05T10:07:00Z"
    assert _post(client, _zendesk(stamp=future)).status_code == 401
    assert client.post("/webhooks/zendesk", content=BODY).status_code == 401  # unsigned
    malformed = _zendesk(body=b"[1, 2")
    assert _post(client, malformed).status_code == 400
    big = b'{"ticket_id": "42", "pad": "' + b"x" * MAX_BODY + b'"}'
    assert _post(client, _zendesk(body=big)).status_code == 413
    assert client.get("/webhooks/zendesk").status_code == 405
    assert _post(client, _zendesk(), path="/webhooks/other").status_code == 404
    assert hints == [("zendesk", ("42",))]  # nothing refused reached the daemon
    assert receiver.counts[("zendesk", "unauthorized")] == 2
    assert receiver.counts[("zendesk", "stale")] == 2
    logged = caplog.text
    assert SECRET not in logged and "111zlQP6" not in logged and "ticket_id" not in logged
    assert "wrong signature" in logged and "stale" in logged


def test_slow_clients_do_not_stop_metrics_or_deliveries(served) -> None:
    client, hints, _ = served
    host, port = client.base_url.host, client.base_url.port
    status = StatusServer(Metrics(), lambda: (200, {"status": "ok"})).start()
    slow: list[socket.socket] = []
    try:
        for _ in range(40):  # each sends half a request, then nothing
            s = socket.create_connection((host, port))
            s.sendall(b"POST /webhooks/zendesk HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
            slow.append(s)
        metrics = httpx.get(f"http://{status.host}:{status.port}/metrics", timeout=5)
        assert metrics.status_code == 200
        assert _post(client, _zendesk()).status_code == 202  # a real delivery still gets in
        assert hints == [("zendesk", ("42",))]
    finally:
        for s in slow:
            s.close()
        status.stop()


def test_idle_connection_is_closed(served) -> None:
    client, _, _ = served
    s = socket.create_connection((client.base_url.host, client.base_url.port))
    s.sendall(b"POST /webhooks/zendesk HTTP/1.1\r\n")
    s.settimeout(30)
    started = time.monotonic()
    assert s.recv(1024) == b""  # closed by the server after `idle` seconds, not by us
    assert time.monotonic() - started < 30
    s.close()


def test_route_off_by_default_and_loopback(monkeypatch) -> None:
    assert route_for("zendesk", "ZENDESK_", ZendeskConnector) is None
    monkeypatch.setenv("ZENDESK_WEBHOOK_SECRET", SECRET)
    route = route_for("zendesk", "ZENDESK_", ZendeskConnector)
    assert route is not None
    assert (route.host, route.port, route.path) == ("127.0.0.1", 8787, "/webhooks/zendesk")
    assert SECRET not in repr(route)
    monkeypatch.setenv("ZENDESK_WEBHOOK_LISTEN", "nonsense")
    with pytest.raises(Exception, match="ZENDESK_WEBHOOK_LISTEN"):
        route_for("zendesk", "ZENDESK_", ZendeskConnector)


def test_a_bad_setting_is_one_line_naming_its_variable(monkeypatch) -> None:
    monkeypatch.setenv("ZENDESK_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("ZENDESK_WEBHOOK_POLL", "soon")
    with pytest.raises(Exception, match="ZENDESK_WEBHOOK_POLL") as caught:
        route_for("zendesk", "ZENDESK_", ZendeskConnector)
    assert SECRET not in str(caught.value)
