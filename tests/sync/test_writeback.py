"""Write-back against the sandbox: values land on the right tickets, dry runs write nothing,
unchanged values are not rewritten, changed ones are, and a failed write is retried (only it)
on the next push after its backoff."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from deskpulse.connectors.errors import ConfigError
from deskpulse.connectors.zendesk import ZendeskConfig, ZendeskConnector
from deskpulse.kpi_core.per_ticket import ticket_values
from deskpulse.sync.actions import actions_from_dict
from deskpulse.sync.engine import run_sync
from deskpulse.sync.warehouse import Warehouse, table
from deskpulse.sync.writeback import ledger_summary, push
from deskpulse.sync.writeback_plan import Context

server = pytest.importorskip("deskpulse.sandbox.server")

FRT = "360000000101"
SLA = "360000000102"
ACTIONS = actions_from_dict(
    {
        "ticket_field": [
            {"source": "zendesk", "field": FRT, "value": "first_response_minutes", "days": 3650},
            {
                "name": "sla",
                "source": "zendesk",
                "field": SLA,
                "value": "resolution_minutes",
                "days": 3650,
                "map": {},
            },
        ]
    }
)


def connector(sb: Any) -> ZendeskConnector:
    config = ZendeskConfig(
        base_url=sb.base_url, oauth_token=sb.env(oauth=True)["ZENDESK_OAUTH_TOKEN"]
    )
    return ZendeskConnector("zendesk", config, rate_limits=None, sleep=lambda s: None)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Any, Warehouse]]:
    with server.SandboxServer(seed=7, tickets=120, rate_limit=False) as sb:
        warehouse = Warehouse(f"sqlite:///{tmp_path / 'wb.db'}")
        c = connector(sb)
        assert run_sync(warehouse, c).status in ("ok", "partial")
        c.close()
        yield sb, warehouse


def writes(sb: Any) -> list[dict[str, Any]]:
    return sb.client().get("/__sandbox/writes").json()["writes"]


def written_values(sb: Any) -> dict[tuple[int, str], list[Any]]:
    """(ticket, field) -> every value the sandbox received for it, in order."""
    out: dict[tuple[int, str], list[Any]] = {}
    for w in writes(sb):
        for t in w["body"].get("tickets", []):
            for f in t["custom_fields"]:
                out.setdefault((t["id"], str(f["id"])), []).append(f["value"])
    return out


def expected(warehouse: Warehouse, sb: Any) -> dict[tuple[int, str], Any]:
    """What should land: rounded per-ticket values, on tickets that are not closed (Zendesk
    refuses updates of closed tickets: deskpulse does not try)."""
    with warehouse.connect() as conn:
        values = ticket_values(conn, sources=["zendesk"])
    closed = closed_ids(sb, {int(tid) for _, tid in values})
    assert closed  # the sandbox has closed tickets: they are left out below
    out = {}
    for (_, tid), v in values.items():
        if int(tid) in closed:
            continue
        for field, name in ((FRT, "first_response_minutes"), (SLA, "resolution_minutes")):
            value = v.get(name)
            if value is not None:
                out[(int(tid), field)] = round(value)
    return out


def closed_ids(sb: Any, ids: set[int]) -> set[int]:
    c = connector(sb)
    out = set()
    ordered = sorted(ids)
    for i in range(0, len(ordered), 100):
        chunk = ",".join(map(str, ordered[i : i + 100]))
        body = c.client.get_json("/api/v2/tickets/show_many", {"ids": chunk})
        out |= {t["id"] for t in body["tickets"] if t["status"] == "closed"}
    c.close()
    return out


def test_values_land_once_on_the_right_tickets_and_unchanged_ones_are_skipped(desk) -> None:
    sb, warehouse = desk
    c = connector(sb)
    dry = push(warehouse, ACTIONS, {"zendesk": c}, Context(), dry_run=True)
    assert dry.items and writes(sb) == []  # a dry run writes nothing anywhere...
    with warehouse.connect() as conn:
        assert conn.execute(select(table("write_back_log"))).first() is None  # ...not even plans
    assert {i.reason.split(":")[0] for i in dry.items} == {"new"}

    want = expected(warehouse, sb)
    refused = sorted({t for t, _ in want})[:2]
    for ticket in refused:  # these two tickets' bulk updates fail, as Zendesk reports it
        sb.dialect("zendesk").writes.refuse[ticket] = 1
    report = push(warehouse, ACTIONS, {"zendesk": c}, Context())
    got = written_values(sb)
    # Every value was sent exactly once, to its own ticket and field; closed tickets none.
    assert got == {k: [v] for k, v in want.items()}
    # The refused tickets (only) failed, with Zendesk's reason.
    failed = {(int(i.record_id), i.field) for i in report.items if i.outcome == "failed"}
    assert failed == {k for k in want if k[0] in refused}
    assert all(
        "could not be updated" in (i.error or "") for i in report.items if i.outcome == "failed"
    )
    # Up to 100 tickets per bulk job, each ticket's fields together in one update.
    assert all(len(w["ticket_ids"]) <= 100 for w in writes(sb))
    assert sum(len(w["ticket_ids"]) for w in writes(sb)) == len({t for t, _ in want})

    n = len(writes(sb))
    again = push(warehouse, ACTIONS, {"zendesk": c}, Context())
    assert len(writes(sb)) == n  # nothing changed, failures not yet due: no request at all
    assert again.items == [] and again.unchanged == len(want) - len(failed)
    summary = {s["target"]: s for s in ledger_summary(warehouse)}
    frt_failed = summary[f"zendesk:ticket_field:{FRT}"]["failed"]
    assert summary["sla"]["failed"] + frt_failed == len(failed)


def test_a_changed_value_is_written_again_and_a_failure_retried_after_backoff(desk) -> None:
    sb, warehouse = desk
    c = connector(sb)
    want = expected(warehouse, sb)
    open_tickets = sorted({t for t, f in want if f == FRT})
    flaky, changed = open_tickets[0], open_tickets[1]
    sb.dialect("zendesk").writes.refuse[flaky] = 1  # its first bulk update fails
    now = [datetime(2026, 12, 1, 12, 0, tzinfo=UTC)]
    first = push(warehouse, ACTIONS, {"zendesk": c}, Context(), clock=lambda: now[0])
    assert {int(i.record_id) for i in first.items if i.outcome == "failed"} == {flaky}
    # The warehouse learns a later first reply for `changed`: +90 minutes.
    events = table("ticket_events")
    with warehouse.begin() as conn:
        agent = (
            (events.c.ticket_id == str(changed))
            & (events.c.author_kind == "agent")
            & (events.c.kind == "message")
        )
        for event_id, at in conn.execute(select(events.c.id, events.c.created_at).where(agent)):
            moved = at + timedelta(minutes=90)
            conn.execute(update(events).where(events.c.id == event_id).values(created_at=moved))
    with warehouse.connect() as conn:
        key = ("zendesk", str(changed))
        new_frt = round(ticket_values(conn, [key])[key].first_response_minutes or 0)
    assert new_frt != want[(changed, FRT)]
    before = len(writes(sb))
    # Before the retry is due only the changed value goes out...
    second = push(warehouse, ACTIONS, {"zendesk": c}, Context(), clock=lambda: now[0])
    assert [(i.record_id, i.field, i.value, i.outcome) for i in second.items] == [
        (str(changed), FRT, new_frt, "sent")
    ]
    assert "changed" in second.items[0].reason
    # ...after the backoff (1 minute) the failures are retried: the flaky ticket now lands.
    now[0] += timedelta(minutes=2)
    third = push(warehouse, ACTIONS, {"zendesk": c}, Context(), clock=lambda: now[0])
    outcomes = {(int(i.record_id), i.field): i.outcome for i in third.items}
    assert outcomes[(flaky, FRT)] == "sent"
    assert "failed" not in outcomes.values()
    got = written_values(sb)
    assert got[(changed, FRT)] == [want[(changed, FRT)], new_frt]
    assert got[(flaky, FRT)] == [want[(flaky, FRT)]] * 2  # refused once, then landed
    assert len(writes(sb)) > before


def test_a_source_without_a_connector_is_one_clear_error(desk) -> None:
    _, warehouse = desk
    with pytest.raises(ConfigError, match="write-back source zendesk is not configured"):
        push(warehouse, ACTIONS, {}, Context())


def test_a_ticket_closed_since_its_write_failed_is_not_retried(desk) -> None:
    sb, warehouse = desk
    c = connector(sb)
    want = expected(warehouse, sb)
    ticket = sorted({t for t, _ in want})[0]
    sb.dialect("zendesk").writes.refuse[ticket] = 1
    now = [datetime(2026, 12, 1, 12, 0, tzinfo=UTC)]
    first = push(warehouse, ACTIONS, {"zendesk": c}, Context(), clock=lambda: now[0])
    assert {int(i.record_id) for i in first.items if i.outcome == "failed"} == {ticket}
    tickets, ledger = table("tickets"), table("write_back_log")
    with warehouse.begin() as conn:  # the next sync learns it was closed meanwhile
        conn.execute(update(tickets).where(tickets.c.id == str(ticket)).values(status="closed"))
    before = len(writes(sb))
    now[0] += timedelta(hours=1)  # its retry is due
    again = push(warehouse, ACTIONS, {"zendesk": c}, Context(), clock=lambda: now[0])
    assert again.items == [] and len(writes(sb)) == before
    with warehouse.connect() as conn:
        rows = conn.execute(select(ledger.c.status).where(ledger.c.record_id == str(ticket)))
        assert {s for (s,) in rows} == {"superseded"}
