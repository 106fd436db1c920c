"""End to end: two sources of one account at budget_share 0.5 each, from a sources file, against
the sandbox: each paces at half the account's budget (10 a minute -> 5), whatever else shares
the vendor's limiter."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from deskpulse.sync.engine import run_sync
from deskpulse.sync.settings import load_settings
from deskpulse.sync.sources import build, configured
from deskpulse.sync.warehouse import Warehouse
from tests.sync.conftest import fresh_env

server = pytest.importorskip("deskpulse.sandbox.server")


def test_two_sources_at_half_each_pace_at_half_the_accounts_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warehouse: Warehouse
) -> None:
    fresh_env(tmp_path, monkeypatch)
    sources = tmp_path / "sources.toml"
    monkeypatch.setenv("DESKPULSE_SOURCES_FILE", str(sources))
    with server.SandboxServer(seed=5, tickets=40, rate_limit=False) as sb:
        la = sb.dialect("liveagent").env(limited=False)
        rows = []
        for name in ("chat_a", "chat_b"):
            monkeypatch.setenv(f"{name.upper()}_API_KEY", la["LIVEAGENT_API_KEY"])
            rows.append(
                f'[[source]]\nname = "{name}"\nvendor = "liveagent"\naccount = "chat"\n'
                f"budget_share = 0.5\n[source.settings]\n"
                f'url = "{la["LIVEAGENT_URL"]}"\ntimezone = "{la["LIVEAGENT_TIMEZONE"]}"\n'
                f"rate_limit = 10\n"  # the account's budget: 10 requests a minute
            )
        sources.write_text("\n".join(rows))
        settings = load_settings(None)
        for spec in configured(settings):
            slept: list[float] = []  # an injected sleep: the test never waits
            connector = build(spec, settings, sleep=slept.append)
            try:
                assert connector.client.limiter.budget("default") == 5  # type: ignore[attr-defined]
                report = run_sync(warehouse, connector, parallel=1)
            finally:
                connector.close()
            assert report.status == "ok", report.message
            requests = report.requests
            assert requests > 10
            # The limiter's clock is real, its sleeps are not: request i goes out in the window
            # minute i // 5, so every request past the first five waits a whole number of
            # minutes, five to a minute: 5 a minute, half the account's 10.
            minutes = Counter(round(s / 60) for s in slept)
            last = (requests - 1) // 5
            assert len(slept) == requests - 5
            assert all(abs(s - 60 * round(s / 60)) < 5 for s in slept)
            assert minutes == {m: min(5, requests - 5 * m) for m in range(1, last + 1)}
