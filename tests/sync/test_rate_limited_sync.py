"""A sync told to wait a day (issue 22, item 4): each stream fails at once with one line giving
the vendor's time; nobody sleeps past the cap; no cursor moves."""

from __future__ import annotations

from pathlib import Path

import httpx

from deskpulse.connectors.http import MAX_WAIT
from deskpulse.connectors.zendesk import ZendeskConnector
from deskpulse.sync.engine import load_cursors, run_sync
from deskpulse.sync.warehouse import Warehouse


def test_a_retry_after_of_a_day_fails_the_streams_at_once_and_moves_no_cursor(
    tmp_path: Path,
) -> None:
    requests: list[str] = []

    def zendesk(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.path)
        return httpx.Response(429, headers={"Retry-After": "86400"})

    sleeps: list[float] = []
    connector = ZendeskConnector(
        "zendesk",
        transport=httpx.MockTransport(zendesk),
        subdomain="acme",
        email="agent@example.com",
        api_token="t0ken",
        rate_limits=None,
        max_retries=5,
        sleep=sleeps.append,
    )
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        report = run_sync(warehouse, connector)
    finally:
        connector.close()
    assert all(s <= MAX_WAIT for s in sleeps)
    failed = [s for s in report.streams if s.status == "failed"]
    assert failed and report.status != "ok"
    for stream in failed:
        assert (stream.error or "").startswith("zendesk asked to wait 24 h (until ")
        assert "\n" not in (stream.error or "")
    assert len(requests) <= len(report.streams)  # one 429 each at most, never retried
    assert load_cursors(warehouse, "zendesk") == {}
