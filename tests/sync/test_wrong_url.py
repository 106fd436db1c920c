"""A wrong base URL or an unreachable host is a failed run with one line saying what to check,
and it fails in seconds (issue 8 item 9)."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path

import httpx
import pytest
import respx
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.sandbox.server import SandboxServer
from deskpulse.sync.engine import PARALLEL_STREAMS, run_sync
from deskpulse.sync.settings import load_settings
from deskpulse.sync.sources import SourceSpec, build
from deskpulse.sync.warehouse import Warehouse
from tests.connectors.zendesk_fakes import BASE, make_connector

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("ZENDESK", "DESKPULSE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    return tmp_path


def test_a_base_url_answering_404_everywhere_is_a_failed_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SandboxServer(seed=1, tickets=20, rate_limit=False, dialects=["zendesk"]) as sandbox:
        for key, value in sandbox.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("ZENDESK_BASE_URL", f"{sandbox.base_url}/wrong")
        result = runner.invoke(app, ["sync"])
        base = sandbox.base_url
    assert result.exit_code == 1
    # One line, not a warning per stream before it.
    assert result.stderr.splitlines() == [
        f"error: zendesk: every stream answered 404 (e.g. at "
        f"{base}/wrong/api/v2/incremental/users/cursor): check ZENDESK_BASE_URL"
    ]
    status = json.loads(runner.invoke(app, ["status", "--format", "json"]).stdout)
    assert status["sources"][0]["last_run"]["status"] == "failed"


def test_403_everywhere_says_to_check_the_url_and_the_role() -> None:
    router = respx.Router(base_url=BASE, assert_all_called=False)
    router.route().mock(return_value=httpx.Response(403))
    connector = make_connector(router, oauth_token="t")
    report = run_sync(Warehouse("sqlite://"), connector)
    assert report.status == "failed"
    assert report.message == (
        "zendesk: every stream answered 403 (e.g. at https://acme.zendesk.com/api/v2/"
        "incremental/users/cursor): check ZENDESK_SUBDOMAIN and the API user's role"
    )


def test_one_stream_the_plan_forbids_is_still_skipped(caplog: pytest.LogCaptureFixture) -> None:
    router = respx.Router(base_url=BASE, assert_all_called=False)
    router.get("/api/v2/business_hours/schedules").mock(
        return_value=httpx.Response(200, json={"schedules": []})
    )
    router.route().mock(return_value=httpx.Response(404))
    with caplog.at_level(logging.WARNING):
        report = run_sync(Warehouse("sqlite://"), make_connector(router, oauth_token="t"))
    assert report.status == "ok"
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == len(report.streams) - 1  # each skipped stream is still said
    assert {s.name: s.status for s in report.streams}["schedules"] == "ok"
    assert {s.status for s in report.streams if s.name != "schedules"} == {"skipped"}


def test_a_refused_port_fails_the_run_within_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # bound, never listening: every connect is refused
        sock.bind(("127.0.0.1", 0))
        monkeypatch.setenv("ZENDESK_BASE_URL", f"http://127.0.0.1:{sock.getsockname()[1]}")
        monkeypatch.setenv("ZENDESK_OAUTH_TOKEN", "t")
        sleeps: list[float] = []
        connector = build(SourceSpec("zendesk", "zendesk"), load_settings(), sleep=sleeps.append)
        started = time.monotonic()
        report = run_sync(Warehouse("sqlite://"), connector)
        elapsed = time.monotonic() - started
    assert report.status == "failed"
    assert report.message is not None
    assert report.message.startswith("zendesk: cannot reach host 127.0.0.1")
    assert report.message.endswith("after 3 attempts: check ZENDESK_BASE_URL / network")
    # Streams read side by side each give up after 2 short waits (1 s, 2 s): about 3 s of
    # waiting in all, where DESKPULSE_MAX_RETRIES=6 of backoff used to take ~45 s.
    assert len(sleeps) <= 2 * PARALLEL_STREAMS
    assert max(sleeps) <= 2.0
    assert elapsed < 10  # no real sleeping: the waits above went to the fake sleep


def test_a_url_answering_a_web_page_fails_at_once_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ZENDESK_BASE_URL pointing at the company's web site (200, text/html, everywhere): every
    retry would get the same page, so the first one ends the run, with what to check."""
    import re
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits: list[str] = []

    class Site(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            page = b"<!doctype html><html><body>Welcome to Acme</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    site = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{site.server_address[1]}"
        monkeypatch.setenv("ZENDESK_BASE_URL", base)
        monkeypatch.setenv("ZENDESK_OAUTH_TOKEN", "t")
        result = runner.invoke(app, ["sync"])
    finally:
        site.shutdown()
        site.server_close()
    assert result.exit_code == 1
    last = result.stderr.splitlines()[-1]
    assert re.fullmatch(
        rf"error: zendesk: {re.escape(base)}/api/v2/\S+ answered a web page \(text/html\), "
        r"not the API: check ZENDESK_BASE_URL",
        last,
    ), last
    assert "Traceback" not in result.stderr
    assert len(hits) <= PARALLEL_STREAMS  # one request per stream in flight, none retried
