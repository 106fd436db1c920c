"""The daemon told to wait a day by a vendor (issue 22, item 4): the source's syncs are held
until the vendor's time instead of sending a 429-bound request every cycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from deskpulse.connectors.http import MAX_WAIT
from deskpulse.connectors.zendesk import ZendeskConnector
from deskpulse.sync.daemon import Daemon
from deskpulse.sync.settings import load_settings
from deskpulse.sync.sources import SourceSpec

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def test_a_retry_after_of_a_day_holds_the_sources_syncs_until_then(tmp_path: Path) -> None:
    now = [NOW]
    requests: list[str] = []
    sleeps: list[float] = []

    def zendesk(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.path)
        return httpx.Response(429, headers={"Retry-After": "86400"})

    def connect(spec: SourceSpec) -> Any:
        c = ZendeskConnector(
            "zendesk", transport=httpx.MockTransport(zendesk), subdomain="acme",
            email="agent@example.com", api_token="t0ken", rate_limits=None, max_retries=5,
            sleep=sleeps.append,
        )  # fmt: skip
        c.client._wall = lambda: now[0].timestamp()
        return c

    settings = load_settings(
        None, database_url=f"sqlite:///{tmp_path / 'd.db'}", sync_jitter=0, metrics_port=0
    )
    daemon = Daemon(
        settings, specs=[SourceSpec("zendesk", "zendesk")], connect=connect, clock=lambda: now[0]
    )
    daemon.sync_cycle("zendesk")
    sent = len(requests)
    assert sent >= 1 and all(s <= MAX_WAIT for s in sleeps)
    state = daemon.sources["zendesk"]
    assert state.backoff_until == NOW + timedelta(days=1)
    for hours in (1, 12, 23):  # every cycle before the vendor's time: no request at all
        now[0] = NOW + timedelta(hours=hours)
        daemon.sync_cycle("zendesk")
    assert len(requests) == sent
    now[0] = NOW + timedelta(days=1, minutes=1)
    daemon.sync_cycle("zendesk")
    assert len(requests) > sent
