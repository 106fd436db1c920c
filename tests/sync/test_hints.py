"""Webhooks drive the daemon (sync.hints): debounce, targeted read and write-back, the sandbox
sending signed deliveries, `deskpulse webhooks setup`."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bench.daemon import WRITEBACK
from deskpulse.cli import app
from deskpulse.sync.daemon import Daemon
from deskpulse.sync.hints import Debouncer, retry_delay
from deskpulse.sync.settings import load_settings
from deskpulse.sync.warehouse import table

server = pytest.importorskip("deskpulse.sandbox.server")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_one_read_after_the_quiet_second() -> None:
    clock = Clock()
    d = Debouncer(debounce=1.0, max_wait=3.0, clock=clock)
    d.add("zendesk", ["7"])
    clock.now = 100.5
    d.add("zendesk", ["8", "7"])
    clock.now = 101.4  # 0.9 s after the last hint: not yet
    assert d.due()[0] == []
    clock.now = 101.5
    assert d.due()[0] == [("zendesk", frozenset({"7", "8"}), False)]
    assert d.due()[0] == []


def test_a_steady_stream_is_read_every_max_wait() -> None:
    clock = Clock()
    d = Debouncer(debounce=1.0, max_wait=3.0, clock=clock)
    reads = []
    for step in range(13):  # a hint every half second for six seconds
        clock.now = 100.0 + step * 0.5
        d.add("zendesk", [str(step)])
        reads += d.due()[0]
    # 100.0 .. 103.0: never a quiet second, so read at first + 3 s = 103.0 (hints 0..6)
    assert [sorted(ids, key=int) for _, ids, _ in reads] == [[str(i) for i in range(7)]]
    clock.now = 106.5  # the next batch started at 103.5: read at 106.5 (hints 7..12)
    assert [sorted(ids, key=int) for _, ids, _ in d.due()[0]] == [[str(i) for i in range(7, 13)]]


def test_a_hint_naming_nothing_asks_for_the_next_page() -> None:
    clock = Clock()
    d = Debouncer(clock=clock)
    d.add("klaviyo", [])
    clock.now += 1.0
    assert d.due()[0] == [("klaviyo", frozenset(), True)]


def test_failed_reads_back_off_then_leave_it_to_the_poll() -> None:
    assert [retry_delay(n) for n in range(1, 7)] == [5, 10, 20, 40, 80, None]


# --- end to end: the sandbox calls the daemon ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with server.SandboxServer(seed=3, tickets=60, rate_limit=False) as sb:
        for name, value in sb.env().items():
            monkeypatch.setenv(name, value)
        (tmp_path / "wb.toml").write_text(WRITEBACK)
        port = _free_port()
        url = f"http://127.0.0.1:{port}/webhooks/zendesk"
        result = CliRunner().invoke(app, ["webhooks", "setup", "--source", "zendesk", "--url", url])
        assert result.exit_code == 0, result.output
        secret = result.output.split("ZENDESK_WEBHOOK_SECRET=")[1].split()[0]
        monkeypatch.setenv("ZENDESK_WEBHOOK_SECRET", secret)
        monkeypatch.setenv("ZENDESK_WEBHOOK_LISTEN", f"127.0.0.1:{port}")
        yield sb


def _until(check: Callable[[], Any], seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("not within the time allowed")


def _writes_of(sb: Any, ticket: str) -> list[dict[str, Any]]:
    writes = sb.client().get("/__sandbox/writes").json()["writes"]
    return [
        w
        for w in writes
        if w["path"] == "/api/v2/tickets/update_many" and int(ticket) in w["ticket_ids"]
    ]


@pytest.fixture
def running(desk: Any, tmp_path: Path) -> Iterator[tuple[Daemon, Any]]:
    settings = load_settings(
        None,
        database_url=f"sqlite:///{tmp_path / 'daemon.db'}",
        writeback=tmp_path / "wb.toml",
        sources="zendesk",
        sync_jitter=0,
        metrics_port=0,
    )
    daemon = Daemon(settings)
    assert daemon.sources["zendesk"].interval == 900  # the safety net, not every minute
    thread = threading.Thread(target=daemon.run, kwargs={"signals": False}, daemon=True)
    thread.start()
    _until(lambda: daemon.sources["zendesk"].cycles >= 1)
    yield daemon, desk
    daemon.stop()
    thread.join(timeout=20)


def _cursors(daemon: Daemon) -> list[Any]:
    state = table("sync_state")
    with daemon.warehouse.connect() as conn:
        return [tuple(r) for r in conn.execute(select(state.c.stream, state.c.cursor))]


def _open_ticket(daemon: Daemon) -> str:
    tickets = table("tickets")
    with daemon.warehouse.connect() as conn:
        rows = conn.execute(
            select(tickets.c.id).where(tickets.c.status.in_(["open", "pending"]))
        ).all()
    return str(min(int(r[0]) for r in rows))


def test_a_solved_ticket_is_read_and_written_back_without_a_poll(running) -> None:
    daemon, sb = running
    ticket = _open_ticket(daemon)
    before = _cursors(daemon)
    sb.client().delete("/__sandbox/writes")
    answer = sb.client().put(
        f"/api/v2/tickets/{ticket}.json", json={"ticket": {"status": "solved"}}
    )
    assert answer.status_code == 200
    written = _until(lambda: _writes_of(sb, ticket))
    assert len(written) == 1  # the value written once (the write's own echo writes nothing)
    tickets = table("tickets")
    with daemon.warehouse.connect() as conn:
        status = conn.execute(select(tickets.c.status).where(tickets.c.id == ticket)).scalar()
    assert status == "solved"
    assert _cursors(daemon) == before  # a webhook moves no cursor
    assert daemon.sources["zendesk"].cycles == 1  # no poll ran: the hint did it
    log = sb.client().get("/__sandbox/webhooks/deliveries").json()["deliveries"]
    assert any(d["ticket_id"] == ticket and d["outcome"] == "delivered" for d in log)
    time.sleep(1.5)  # the echo of our own write has been read by now
    assert len(_writes_of(sb, ticket)) == 1
    scraped = daemon.metrics.render().decode()
    assert 'deskpulse_webhooks_total{outcome="accepted",source="zendesk"}' in scraped


def test_duplicates_are_read_once_and_drops_are_caught_by_the_poll(running) -> None:
    daemon, sb = running
    client = sb.client()
    client.post("/__sandbox/webhooks/faults", json={"duplicate": 1.0})
    first = _open_ticket(daemon)
    client.delete("/__sandbox/writes")
    client.put(f"/api/v2/tickets/{first}.json", json={"ticket": {"status": "solved"}})
    _until(lambda: _writes_of(sb, first))
    receiver = daemon.hints.receiver if daemon.hints else None
    assert receiver is not None
    _until(lambda: receiver.counts.get(("zendesk", "duplicate"), 0) >= 1)
    assert len(_writes_of(sb, first)) == 1

    client.post("/__sandbox/webhooks/faults", json={"drop": 1.0})
    second = _open_ticket(daemon)
    client.put(f"/api/v2/tickets/{second}.json", json={"ticket": {"status": "solved"}})
    time.sleep(1.5)
    assert _writes_of(sb, second) == []  # the delivery was lost
    daemon.sync_cycle("zendesk")  # the safety-net poll
    assert len(_writes_of(sb, second)) == 1


def test_setup_twice_changes_nothing(desk: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")  # the secret's line is never wrapped
    url = "https://desk.example.com/webhooks/zendesk"
    first = CliRunner().invoke(app, ["webhooks", "setup", "--source", "zendesk", "--url", url])
    assert first.exit_code == 0 and "webhook" in first.output
    (line,) = [x for x in first.output.splitlines() if x.startswith("ZENDESK_WEBHOOK_SECRET=")]
    assert len(line.partition("=")[2]) == 43  # the sandbox's secrets.token_urlsafe(32)
    assert "endpoint changed" in first.output  # the fixture's loopback URL is replaced
    again = CliRunner().invoke(app, ["webhooks", "setup", "--source", "zendesk", "--url", url])
    assert "webhook 01SANDBOX" in again.output and "already there" in again.output
    assert "created" not in again.output and "changed" not in again.output
    client = desk.client()
    assert len(client.get("/api/v2/webhooks").json()["webhooks"]) == 1
    triggers = client.get("/api/v2/triggers").json()["triggers"]
    assert [t["title"] for t in triggers if "deskpulse" in t["title"]] == [
        "deskpulse: notify zendesk"
    ]


def test_a_liveagent_rule_brings_the_next_poll_forward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LiveAgent's connector reads no ticket by id: its hint is the next incremental page now,
    not at the 900 s safety net; the rule's token travels in a header."""
    with server.SandboxServer(seed=4, tickets=40, rate_limit=False) as sb:
        for name, value in sb.env().items():
            monkeypatch.setenv(name, value)
        port = _free_port()
        monkeypatch.setenv("LIVEAGENT_WEBHOOK_SECRET", "a-long-random-token")
        monkeypatch.setenv("LIVEAGENT_WEBHOOK_LISTEN", f"127.0.0.1:{port}")
        la = sb.client("liveagent")
        target = {
            "url": f"http://127.0.0.1:{port}/webhooks/liveagent",
            "secret": "a-long-random-token",
            "body": '{"ticket_id": "{$conversation_id}"}',
        }
        assert la.post("/__sandbox/webhooks", json=target).status_code == 200
        settings = load_settings(
            None, database_url=f"sqlite:///{tmp_path / 'la.db'}", sources="liveagent",
            sync_jitter=0, metrics_port=0,
        )  # fmt: skip
        daemon = Daemon(settings)
        thread = threading.Thread(target=daemon.run, kwargs={"signals": False}, daemon=True)
        thread.start()
        try:
            _until(lambda: daemon.sources["liveagent"].cycles >= 1)
            tickets = la.get("/api/v3/tickets", params={"_perPage": 1}).json()
            ticket = tickets[0]["id"]
            assert la.put(f"/api/v3/tickets/{ticket}", json={"status": "R"}).status_code == 200
            _until(lambda: daemon.sources["liveagent"].cycles >= 2)  # long before 900 s
            log = la.get("/__sandbox/webhooks/deliveries").json()["deliveries"]
            assert [(d["ticket_id"], d["outcome"]) for d in log] == [(ticket, "delivered")]
        finally:
            daemon.stop()
            thread.join(timeout=20)


def test_reordered_and_delayed_deliveries_write_each_value_once(running) -> None:
    daemon, sb = running
    client = sb.client()
    client.post("/__sandbox/webhooks/faults", json={"reorder": 1.0, "delay": 0.5})
    tickets = table("tickets")
    with daemon.warehouse.connect() as conn:
        rows = conn.execute(select(tickets.c.id).where(tickets.c.status.in_(["open", "pending"])))
        first, second = sorted((str(r[0]) for r in rows), key=int)[:2]
    client.delete("/__sandbox/writes")
    for ticket in (first, second, first):  # the first ticket changes twice
        client.put(f"/api/v2/tickets/{ticket}.json", json={"ticket": {"status": "solved"}})
    _until(lambda: _writes_of(sb, first) and _writes_of(sb, second))
    time.sleep(1.5)
    assert (len(_writes_of(sb, first)), len(_writes_of(sb, second))) == (1, 1)
