"""The daemon against the sandbox while an operator changes tickets: a ticket the daemon wrote
back to (update_many) and the operator then solves (PUT) is solved in the warehouse after the
next cycle (issue 23: the stored tickets cursor skipped it for good)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deskpulse.sync.daemon import Daemon
from deskpulse.sync.settings import load_settings
from tests.connectors.sandbox_runs import dump
from tests.sync.fakes import FRT_WRITEBACK

server = pytest.importorskip("deskpulse.sandbox.server")


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with server.SandboxServer(seed=3, tickets=60, rate_limit=False) as sb:
        for name, value in sb.env(oauth=True).items():
            monkeypatch.setenv(name, value)
        (tmp_path / "wb.toml").write_text(FRT_WRITEBACK)
        yield sb


def test_a_ticket_written_back_then_solved_is_solved_after_the_next_cycle(
    tmp_path: Path, sandbox: Any
) -> None:
    settings = load_settings(
        None,
        database_url=f"sqlite:///{tmp_path / 'daemon.db'}",
        writeback=tmp_path / "wb.toml",
        sources="zendesk",
        sync_jitter=0,
        metrics_port=0,
    )

    def cycle() -> dict[str, dict[str, Any]]:
        daemon = Daemon(settings)
        daemon.run(cycles=1, signals=False)
        assert daemon.sources["zendesk"].cycles == 1
        return {r["id"]: r for r in dump(daemon.warehouse)["tickets"]}

    cycle()  # syncs, then writes each ticket's first response minutes back (update_many)
    client = sandbox.client()
    written = {
        str(i)
        for w in client.get("/__sandbox/writes").json()["writes"]
        if w["path"] == "/api/v2/tickets/update_many"
        for i in w["ticket_ids"]
    }
    rows = cycle()  # reads the written-back tickets from its stored cursor
    ticket = min(
        (i for i in written if rows[i]["status"] in ("new", "open", "pending", "hold")), key=int
    )
    answer = client.put(f"/api/v2/tickets/{ticket}.json", json={"ticket": {"status": "solved"}})
    assert answer.status_code == 200
    assert cycle()[ticket]["status"] == "solved"
