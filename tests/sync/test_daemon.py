"""The daemon with short intervals: jobs run and write back, never overlap, back a failing source
off while the others keep running, serve /healthz and /metrics, refuse a second instance on the
same warehouse, and stop cleanly on SIGTERM within seconds."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from deskpulse.connectors.base import Page, RequestStats, Row
from deskpulse.connectors.errors import ConfigError, DeskpulseError, UnreachableError
from deskpulse.kpi_core.canonical import coerce_row
from deskpulse.sync.daemon import Daemon, parse_intervals
from deskpulse.sync.settings import load_settings
from deskpulse.sync.sources import SourceSpec
from tests.sync.fakes import FRT_WRITEBACK

server = pytest.importorskip("deskpulse.sandbox.server")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SlowStream:
    """One page per sync, taking `seconds`; records how many syncs ran at once."""

    name = "tickets"

    def __init__(self, seconds: float, seen: dict[str, int], source: str) -> None:
        self.seconds, self.seen, self.source = seconds, seen, source

    def pages(self, cursor: Any) -> Iterator[Page]:
        key = f"running:{self.source}"
        self.seen[key] = self.seen.get(key, 0) + 1
        self.seen["max"] = max(self.seen.get("max", 0), self.seen[key])
        time.sleep(self.seconds)
        self.seen[key] -= 1
        n = self.seen.setdefault("pages", 0) + 1
        self.seen["pages"] = n
        yield Page(records=[{"id": str(n), "created_at": "2026-11-01T10:00:00Z"}], cursor=n)

    def normalise(self, record: dict[str, Any]) -> list[Row]:
        return [Row("tickets", coerce_row("tickets", record, source=self.source))]


class SlowConnector:
    vendor = "fake"
    capabilities = frozenset({"read"})

    def __init__(self, source: str, seconds: float, seen: dict[str, int]) -> None:
        self.source = source
        self.stats = RequestStats()
        self._stream = SlowStream(seconds, seen, source)

    def streams(self) -> list[Any]:
        return [self._stream]

    def close(self) -> None:
        pass


def settings_for(tmp_path: Path, **overrides: Any) -> Any:
    overrides.setdefault("database_url", f"sqlite:///{tmp_path / 'daemon.db'}")
    overrides.setdefault("sync_jitter", 0)
    overrides.setdefault("metrics_port", 0)
    return load_settings(None, **overrides)


def running_sync(db: Path, seconds: float) -> bool:
    """Wait until a sync of the daemon writing `db` is under way."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(db) as conn:
                if conn.execute("SELECT 1 FROM sync_runs WHERE status = 'running'").fetchone():
                    return True
        except sqlite3.Error:  # not created yet
            pass
        time.sleep(0.05)
    return False


def run_in_thread(daemon: Daemon, **kw: Any) -> threading.Thread:
    thread = threading.Thread(target=daemon.run, kwargs={"signals": False, **kw}, daemon=True)
    thread.start()
    return thread


def test_intervals_per_source() -> None:
    assert parse_intervals("zendesk=120, klaviyo=900", 300, ["zendesk", "klaviyo", "x"]) == {
        "zendesk": 120.0,
        "klaviyo": 900.0,
        "x": 300.0,
    }
    with pytest.raises(ConfigError, match="DESKPULSE_SYNC_INTERVALS: 'nope=5'"):
        parse_intervals("nope=5", 300, ["zendesk"])


def test_cycles_never_overlap_and_a_failing_source_backs_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, int] = {}
    calls = {"bad": 0, "trimmed": 0}

    def trim() -> None:
        calls["trimmed"] += 1

    monkeypatch.setattr("deskpulse.sync.daemon.release_memory", trim)

    def connect(spec: SourceSpec) -> Any:
        if spec.name == "bad":
            calls["bad"] += 1
            raise UnreachableError("bad: cannot reach host 127.0.0.1:9")
        return SlowConnector(spec.name, 0.5, seen)  # a sync takes longer than its interval

    settings = settings_for(tmp_path, sync_interval=1)
    daemon = Daemon(
        settings, specs=[SourceSpec("good", "fake"), SourceSpec("bad", "fake")], connect=connect
    )
    daemon.sources["good"].interval = 0.2  # a sync takes 0.5 s: runs would pile up if allowed
    started = time.monotonic()
    thread = run_in_thread(daemon)
    while daemon.sources["good"].failures == 0 and time.monotonic() - started < 120:
        if daemon.sources["good"].cycles >= 4:
            break
        time.sleep(0.1)
    daemon.stop()
    elapsed = time.monotonic() - started
    thread.join(30)
    assert not thread.is_alive()
    assert seen["max"] == 1  # max_instances=1: never two syncs of a source at once
    good, bad = daemon.sources["good"], daemon.sources["bad"]
    assert good.cycles >= 4 and good.failures == 0 and good.last_success is not None
    assert calls["trimmed"] == good.cycles + bad.cycles  # memory handed back after every cycle
    # The failing source (1 s interval) is retried after 2 s, then 4, 8...: about log2(elapsed)
    # tries, where a steady pace would have made about `elapsed` of them.
    assert 1 <= calls["bad"] <= 2 + math.log2(elapsed + 1) and bad.failures == calls["bad"]
    assert bad.backoff_until is not None and "cannot reach host" in (bad.last_error or "")
    status, health = daemon.health()
    assert (status, health["status"]) == (503, "stopping")
    assert health["sources"]["bad"]["failures"] == calls["bad"]


@pytest.fixture
def sandbox_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with server.SandboxServer(seed=3, tickets=60, rate_limit=False) as sb:
        for name, value in sb.env(oauth=True).items():
            monkeypatch.setenv(name, value)
        (tmp_path / "wb.toml").write_text(FRT_WRITEBACK)
        yield sb


def test_a_cycle_syncs_writes_back_and_serves_metrics(tmp_path: Path, sandbox_env: Any) -> None:
    sb = sandbox_env
    port = free_port()
    settings = settings_for(tmp_path, writeback=tmp_path / "wb.toml", metrics_port=port)
    daemon = Daemon(settings)
    thread = run_in_thread(daemon)
    deadline = time.monotonic() + 120
    # The sandbox serves every vendor's dialect: wait for each source's first cycle (until
    # then /healthz says `starting`).
    while min(s.cycles for s in daemon.sources.values()) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    answer = httpx.get(f"http://127.0.0.1:{port}/healthz")
    assert answer.status_code == 200
    health = answer.json()
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    daemon.stop()
    thread.join(30)
    assert not thread.is_alive()
    assert health["status"] == "ok" and health["sources"]["zendesk"]["status"] in ("ok", "partial")
    assert 'deskpulse_syncs_total{source="zendesk",status=' in metrics
    assert 'deskpulse_write_backs_total{outcome="sent",target="frt"}' in metrics
    writes = sb.client().get("/__sandbox/writes").json()["writes"]
    assert writes and all(w["path"] == "/api/v2/tickets/update_many" for w in writes)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")  # the server stopped with the daemon


def test_a_second_daemon_on_the_same_warehouse_refuses(tmp_path: Path) -> None:
    seen: dict[str, int] = {}
    settings = settings_for(tmp_path, sync_interval=60)
    specs = [SourceSpec("good", "fake")]
    first = Daemon(settings, specs=specs, connect=lambda s: SlowConnector(s.name, 0.1, seen))
    thread = run_in_thread(first)
    time.sleep(0.5)
    second = Daemon(settings, specs=specs, connect=lambda s: SlowConnector(s.name, 0.1, seen))
    with pytest.raises(DeskpulseError, match="another deskpulse daemon is running on this ware"):
        second.run(signals=False)  # a DeskpulseError, not a ConfigError: exit 1, not 2
    first.stop()
    thread.join(10)
    # Once the first one is gone, a new one starts.
    third = Daemon(settings, specs=specs, connect=lambda s: SlowConnector(s.name, 0.1, seen))
    third.run(cycles=1, signals=False)


def test_sigterm_stops_the_daemon_within_seconds(tmp_path: Path, sandbox_env: Any) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DESKPULSE_DATABASE_URL": f"sqlite:///{tmp_path / 'term.db'}",
        "DESKPULSE_WRITEBACK": str(tmp_path / "wb.toml"),
        "DESKPULSE_METRICS_PORT": "0",
        "DESKPULSE_LOG_FORMAT": "json",
        "DESKPULSE_LOG_LEVEL": "INFO",
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "deskpulse.cli", "daemon"],
        env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stderr is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(child.stderr or ()), daemon=True)
    reader.start()
    assert running_sync(tmp_path / "term.db", 60)  # SIGTERM in the middle of the first sync
    child.send_signal(signal.SIGTERM)
    started = time.monotonic()
    child.wait(timeout=30)
    reader.join(5)
    rest = ""
    assert child.returncode == 0, "".join(lines) + rest
    assert time.monotonic() - started < 10
    events = [json.loads(x) for x in [*lines, *rest.splitlines()] if x.strip().startswith("{")]
    assert events and all({"ts", "level", "logger", "msg"} <= set(e) for e in events)
    assert any("stopped for the shutdown" in e["msg"] for e in events), events
    token = sandbox_env.env()["ZENDESK_API_TOKEN"]
    assert token not in "".join(lines) + rest
    # The runs it stopped say so, with what they committed; none is left `running`.
    with sqlite3.connect(tmp_path / "term.db") as db:
        statuses = dict(db.execute("SELECT source, status FROM sync_runs").fetchall())
        stopped = db.execute("SELECT message FROM sync_runs WHERE status = 'stopped'").fetchall()
    assert "running" not in statuses.values() and "stopped" in statuses.values(), statuses
    assert all("the daemon is shutting down" in m and "rows committed" in m for (m,) in stopped)


def test_a_bounded_run_syncs_each_source_once_then_posts_the_digest_once(
    tmp_path: Path, sandbox_env: Any
) -> None:
    """`deskpulse daemon --cycles 1` (the demo's step): every source one cycle, the digest once
    after them, a line per cycle, exit 0; run again, it writes nothing twice."""
    wb = tmp_path / "wb.toml"
    wb.write_text(FRT_WRITEBACK + '\n[[digest]]\nsource = "zendesk"\nevery = "day"\n')
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DESKPULSE_DATABASE_URL": f"sqlite:///{tmp_path / 'bounded.db'}",
        "DESKPULSE_WRITEBACK": str(wb),
        "DESKPULSE_METRICS_PORT": "0",
        "COLUMNS": "200",
    }

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "deskpulse.cli", "daemon", "--cycles", "1"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    first = run()
    assert first.returncode == 0, first.stderr
    for source in ("zendesk", "klaviyo", "liveagent"):  # one line per cycle and source
        assert first.stderr.count(f"{source}: synced ") == 1, first.stderr
    assert re.search(
        r"zendesk: synced [\d,]+ rows in [\d,]+ requests, [\d.]+ s; wrote [\d,]+ "
        r"values \(0 failed\)",
        first.stderr,
    ), first.stderr
    assert "digest zendesk:digest:day: 1 sent, 0 failed" in first.stderr
    writes = sandbox_env.client().get("/__sandbox/writes").json()["writes"]
    posts = [w for w in writes if w["method"] == "POST"]
    assert len(posts) == 1 and posts[0]["body"]["ticket"]["comment"]["public"] is False
    fields = [w for w in writes if w["path"] == "/api/v2/tickets/update_many"]
    assert fields and posts[0]["seq"] > max(w["seq"] for w in fields)  # after the sync's writes

    second = run()
    assert second.returncode == 0, second.stderr
    assert sandbox_env.client().get("/__sandbox/writes").json()["writes"] == writes


def test_status_shows_each_sources_lag_and_the_daemons_next_run(tmp_path: Path) -> None:
    from deskpulse.sync.status import collect_status, source_health

    seen: dict[str, int] = {}
    settings = settings_for(tmp_path, sync_interval=600)
    daemon = Daemon(
        settings,
        specs=[SourceSpec("good", "fake"), SourceSpec("bad", "fake")],
        connect=lambda s: (
            SlowConnector(s.name, 0.1, seen)
            if s.name == "good"
            else (_ for _ in ()).throw(UnreachableError("bad: cannot reach host 127.0.0.1:9"))
        ),
    )
    thread = run_in_thread(daemon)
    deadline = time.monotonic() + 60
    while min(s.cycles for s in daemon.sources.values()) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    started = datetime.now(UTC)
    while time.monotonic() < deadline:  # the schedule rows follow the cycles
        with daemon.warehouse.connect() as conn:
            health = source_health(conn, datetime.now(UTC))
        later = [h["next_run"] for h in health.values() if h["next_run"] is not None]
        if len(later) == 2 and min(later) > started + timedelta(seconds=300):
            break
        time.sleep(0.05)
    data = collect_status(daemon.warehouse, settings)
    daemon.stop()
    thread.join(30)
    good = next(s for s in data["sources"] if s["source"] == "good")
    assert good["last_run"]["status"] == "ok" and good["failed_runs"] == 0
    assert 0 <= good["lag_seconds"] < 30
    assert good["daemon"] == f"running (pid {os.getpid()} on {socket.gethostname()})"
    # The next sync is one interval (600 s) after the first one started.
    assert timedelta(seconds=560) < good["next_run"] - started <= timedelta(seconds=600)
    # A source that cannot connect has no run; its next sync waits out its backoff (twice the
    # interval from its failure: the scheduled runs before that end skip it).
    bad = health["bad"]
    assert bad["last_success"] is None and bad["daemon"] == good["daemon"]
    assert timedelta(seconds=1200) <= bad["next_run"] - started <= timedelta(seconds=1800)
    # Once the daemon has stopped, no next run is claimed.
    with daemon.warehouse.connect() as conn:
        assert "bad" not in source_health(conn, datetime.now(UTC))
    after = collect_status(daemon.warehouse, settings)
    assert next(s for s in after["sources"] if s["source"] == "good")["next_run"] is None
