"""Exactly once under SIGKILL: a push killed at many points and run again until it completes
delivers every value to the sandbox, and none twice.

The push runs in a child process (small batches, so there are many points to die at) against
the sandbox in this process, which records every write it receives. A kill between marking a
batch `sending` and recording its results leaves it in doubt; the next push reads the tickets
back and marks what is already there as sent instead of writing it again.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from deskpulse.connectors.zendesk import ZendeskConfig, ZendeskConnector
from deskpulse.sync.engine import run_sync
from deskpulse.sync.warehouse import Warehouse, table

server = pytest.importorskip("deskpulse.sandbox.server")
limits = pytest.importorskip("deskpulse.sandbox.limits")

CHILD = textwrap.dedent(
    """
    import sys
    from deskpulse.connectors.zendesk import ZendeskConfig, ZendeskConnector
    from deskpulse.sync import writeback
    from deskpulse.sync.actions import actions_from_dict
    from deskpulse.sync.warehouse import Warehouse
    from deskpulse.sync.writeback_plan import Context

    writeback.BATCH = 4
    base_url, token, db = sys.argv[1:4]
    actions = actions_from_dict({"ticket_field": [
        {"source": "zendesk", "field": "360000000101", "value": "first_response_minutes",
         "days": 3650},
        {"source": "zendesk", "field": "360000000102", "value": "requester_tickets_30d",
         "days": 3650},
    ]})
    config = ZendeskConfig(base_url=base_url, oauth_token=token)
    connector = ZendeskConnector("zendesk", config, rate_limits=None)
    warehouse = Warehouse(db)
    warehouse.ensure_schema()
    print("ready", flush=True)
    report = writeback.push(warehouse, actions, {"zendesk": connector}, Context())
    print("done", report.count("sent"), report.count("verified"), report.failed, flush=True)
    """
)


def _child(script: Path, sb: Any, db: str) -> subprocess.Popen[str]:
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, str(script), sb.base_url, sb.env(oauth=True)["ZENDESK_OAUTH_TOKEN"], db],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_killed_pushes_deliver_every_value_exactly_once(tmp_path: Path) -> None:
    # Each write request takes 30 ms more: a push of ~100 tickets in batches of 4 takes a while.
    faults = limits.Faults(
        latency=0.03, paths=("/api/v2/tickets/update_many", "/api/v2/job_statuses")
    )
    with server.SandboxServer(seed=7, tickets=100, rate_limit=False, faults=faults) as sb:
        db = f"sqlite:///{tmp_path / 'kill.db'}"
        warehouse = Warehouse(db)
        config = ZendeskConfig(
            base_url=sb.base_url, oauth_token=sb.env(oauth=True)["ZENDESK_OAUTH_TOKEN"]
        )
        connector = ZendeskConnector("zendesk", config, rate_limits=None, sleep=lambda s: None)
        assert run_sync(warehouse, connector).status in ("ok", "partial")
        sb.dialect("zendesk").writes.clear()
        script = tmp_path / "child.py"
        script.write_text(CHILD)
        ledger = table("write_back_log")
        rng = random.Random(5)
        in_doubt_seen = 0
        kills = 0
        for _ in range(12):
            child = _child(script, sb, db)
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.6))
            if child.poll() is not None:
                break  # it finished before the kill
            child.send_signal(signal.SIGKILL)
            child.wait()
            kills += 1
            with warehouse.connect() as conn:
                in_doubt_seen += conn.execute(
                    select(func.count()).select_from(ledger).where(ledger.c.status == "sending")
                ).scalar_one()
        final = _child(script, sb, db)
        out, _ = final.communicate(timeout=300)
        assert final.returncode == 0, out
        assert kills >= 3 and in_doubt_seen > 0  # the kills did land mid-write

        with warehouse.connect() as conn:
            rows = conn.execute(select(ledger)).all()
        sent = {(r.record_id, r.field): r.value for r in rows if r.status == "sent"}
        failed = {(r.record_id, r.field) for r in rows if r.status == "failed"}
        assert sent and all("closed" in (r.error or "") for r in rows if r.status == "failed")
        # What the sandbox applied: each value once (refused updates of closed tickets aside).
        applied: dict[tuple[str, str], list[Any]] = {}
        closed = {rid for rid, _ in failed}
        for w in sb.client().get("/__sandbox/writes").json()["writes"]:
            for t in w["body"]["tickets"]:
                if str(t["id"]) in closed:
                    continue
                for f in t["custom_fields"]:
                    applied.setdefault((str(t["id"]), str(f["id"])), []).append(f["value"])
        assert applied == {k: [v] for k, v in sent.items()}
