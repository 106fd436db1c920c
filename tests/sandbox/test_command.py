"""The CLI entry and the subprocess helper used by `make demo` and the benchmark."""

from __future__ import annotations

import httpx

from deskpulse.sandbox import start_subprocess


def test_subprocess_prints_env_lines_and_serves() -> None:
    with start_subprocess(seed=3, tickets=100, rate_limit=False) as proc:
        assert list(proc.env) == [
            "ZENDESK_BASE_URL",
            "ZENDESK_SUBDOMAIN",
            "ZENDESK_EMAIL",
            "ZENDESK_API_TOKEN",
            "ZENDESK_RATE_LIMITS",
        ]
        assert proc.env["ZENDESK_RATE_LIMITS"] == "off"  # started without limits: no pacing
        assert proc.base_url.startswith("http://127.0.0.1:")
        auth = (f"{proc.env['ZENDESK_EMAIL']}/token", proc.env["ZENDESK_API_TOKEN"])
        r = httpx.get(f"{proc.base_url}/api/v2/groups.json", auth=auth, timeout=10)
        assert r.status_code == 200 and r.json()["groups"]
    assert proc.proc.poll() is not None  # stopped
