"""The fleet as separate processes: `deskpulse daemon --fleet` daemons against one PostgreSQL
(a schema of their own) and many sandbox accounts on one port. Every account synced, never one
source by two daemons at once; a daemon killed with kill -9 mid-sync is taken over from the
committed cursors with nothing lost or written twice; a daemon that joins gets work."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bench.fleet_harness import Lab, cycles_at_least, pg_schema
from deskpulse.cli import app
from deskpulse.sandbox.accounts import AccountsServer
from deskpulse.sandbox.limits import Faults
from tests.pg import POSTGRES_URL
from tests.sync.conftest import fresh_env
from tests.sync.fakes import FRT_WRITEBACK

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="DESKPULSE_TEST_POSTGRES_URL is not set")

TICKETS = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def lab_for(tmp_path: Path) -> Iterator[Any]:
    labs: list[Lab] = []
    with pg_schema(str(POSTGRES_URL)) as url:

        def make(sb: AccountsServer, **options: Any) -> Lab:
            lab = Lab(sb, url, tmp_path, vendor="zendesk", **options)
            labs.append(lab)
            return lab

        try:
            yield make
        finally:
            for lab in labs:
                lab.close()


def writeback(name: str) -> str:
    return FRT_WRITEBACK.replace('source = "zendesk"', f'source = "{name}"')


def with_digest(name: str) -> str:
    """The ticket field, and a daily digest whose `at` (08:00) has passed: due once per day."""
    return writeback(name) + f'\n[[digest]]\nsource = "{name}"\nevery = "day"\n'


def tickets_per_source(lab: Lab) -> dict[str, int]:
    return dict(lab.query("SELECT source, count(*) FROM tickets GROUP BY source"))


def test_every_account_synced_none_twice_at_once_and_a_joining_daemon_gets_work(
    lab_for: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_env(tmp_path, monkeypatch)
    with AccountsServer(8, tickets=TICKETS, dialects=["zendesk"], rate_limit=False) as sb:
        lab = lab_for(sb, interval=2, writeback=with_digest)
        lab.start("a", concurrency=2)
        lab.start("b", concurrency=2)
        lab.wait(cycles_at_least(2), 120, "two cycles of every account")
        before = {a["account"]: a["cycles"] for a in lab.view()["accounts"]}
        port = free_port()
        lab.start("c", concurrency=2, DESKPULSE_METRICS_PORT=str(port))
        seen_c: set[str] = set()

        def c_worked(view: dict[str, Any]) -> bool:
            seen_c.update(
                a["account"] for a in view["accounts"]
                if a["last_holder"] and a["last_holder"].split(":")[1] == str(lab.procs["c"].pid)
            )  # fmt: skip
            return len(seen_c) >= 2 and all(
                a["cycles"] >= before[a["account"]] + 2 for a in view["accounts"]
            )

        lab.wait(c_worked, 120, "the new daemon to sync accounts")
        view = lab.view()
        health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        monkeypatch.setenv("DESKPULSE_DATABASE_URL", lab.db_url)
        status = json.loads(CliRunner().invoke(app, ["status", "--format", "json"]).stdout)
        table = CliRunner().invoke(app, ["status"]).stdout
        codes = lab.stop_all()
        writes = [sb.account(k).dialect().writes.writes for k in range(8)]
    assert codes == {"a": 0, "b": 0, "c": 0}
    assert tickets_per_source(lab) == {f"acct{k}": TICKETS for k in range(8)}
    assert lab.overlapping_runs() == []
    # At most its concurrency at once, by any daemon (the fair share is 8 / 3 -> 3 > 2).
    assert all(len(d["holding"]) <= 2 for d in view["daemons"])
    # Write-back and digests exactly once across the fleet, however many daemons synced an
    # account: each ticket's value once, one digest per account (the day's, due at 08:00).
    for log in writes:
        tickets = [t["id"] for w in log if "tickets" in (w.get("body") or {})
                   for t in w["body"]["tickets"]]  # fmt: skip
        assert len(tickets) == len(set(tickets))
        assert len([w for w in log if "update_many" not in w["path"]]) == 1, log
    posts = lab.query("SELECT source, status, count(*) FROM write_back_log WHERE kind = 'post' "
                      "GROUP BY 1, 2")  # fmt: skip
    assert sorted(posts) == [(name, "sent", 1) for name in sorted(lab.names)]
    # Every daemon shows the whole fleet: /healthz, /metrics, `deskpulse status`.
    assert health["holding"] == sorted(health["holding"]) and len(health["holding"]) <= 2
    assert health["fleet"]["daemons"] == 3 and health["fleet"]["accounts"] == 8, (health, view)
    assert health["status"] in ("ok", "behind")  # behind: the busy test machine (not asserted)
    assert "deskpulse_fleet_daemons 3.0" in metrics
    assert all(f'deskpulse_fleet_lag_seconds{{account="acct{k}"}}' in metrics for k in range(8))
    assert sorted(a["account"] for a in status["fleet"]["accounts"]) == sorted(lab.names)
    assert len(status["fleet"]["daemons"]) == 3 and "fleet: accounts" in table
    # Every run ended well, or was stopped by the SIGTERM that ended the test.
    assert not lab.query("SELECT id FROM sync_runs WHERE status NOT IN ('ok', 'stopped')")


def test_kill_9_mid_sync_is_taken_over_from_the_cursors_nothing_lost_or_written_twice(
    lab_for: Any,
) -> None:
    slow = Faults(latency=0.25)  # every request a quarter second: a sync lasts seconds
    with AccountsServer(4, tickets=TICKETS, dialects=["zendesk"], rate_limit=False,
                        faults=slow) as sb:  # fmt: skip
        lab = lab_for(sb, interval=600, writeback=writeback)
        lab.start("a", concurrency=4)
        # Mid-sync: every account leased to `a`, some pages committed, no run ended yet.
        lab.wait(
            lambda v: all(a["holder"] for a in v["accounts"])
            and bool(lab.query("SELECT 1 FROM sync_state LIMIT 1")),
            60, "the first daemon to be mid-sync",
        )  # fmt: skip
        assert not lab.query("SELECT id FROM sync_runs WHERE status <> 'running'")
        lab.kill9("a")
        lab.start("b", concurrency=4)
        lab.wait(cycles_at_least(1), 120, "the takeover to sync every account")
        codes = lab.stop_all()
        writes = [sb.account(k).dialect().writes.writes for k in range(4)]
    assert codes["b"] == 0
    assert tickets_per_source(lab) == {f"acct{k}": TICKETS for k in range(4)}
    statuses = sorted(s for (s,) in lab.query("SELECT status FROM sync_runs"))
    assert statuses == ["interrupted"] * 4 + ["ok"] * 4  # a's marked by b's runs
    assert lab.overlapping_runs() == []
    written = [[t["id"] for w in log for t in w["body"]["tickets"]] for log in writes]
    assert all(len(ids) == len(set(ids)) for ids in written), "a ticket written twice"
    # What the help desks received is what the ledger says it sent, once each (or sent with
    # the answer lost on this busy machine: `sending`, in doubt, read back by the next push).
    ((sent,),) = lab.query(
        "SELECT count(*) FROM write_back_log WHERE status IN ('sent', 'sending')"
    )
    ledger = lab.query("SELECT source, status, count(*) FROM write_back_log GROUP BY 1, 2")
    assert sent == sum(len(ids) for ids in written) > 0, (ledger, [len(i) for i in written])


def test_fleet_on_sqlite_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh_env(tmp_path, monkeypatch)
    monkeypatch.setenv("LIVEAGENT_URL", "https://x.example.com")
    monkeypatch.setenv("LIVEAGENT_API_KEY", "k")
    result = CliRunner().invoke(app, ["daemon", "--fleet"])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert lines == [lines[0]] and "fleet mode needs a PostgreSQL warehouse" in lines[0]
    assert os.environ["DESKPULSE_DATABASE_URL"].startswith("sqlite")
