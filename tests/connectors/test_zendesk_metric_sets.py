"""Metric sets (`include=metric_sets`) in both shapes Zendesk clients meet: embedded in each
ticket (`ticket.metric_set`, what the live API answers and Singer's tap-zendesk reads) and a
top-level `metric_sets` list joined by `ticket_id` (what older recordings show). A sync that asked
for them and got none says so once, and the run record counts the ones it stored."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
from typer.testing import CliRunner

from deskpulse.cli import app
from tests.connectors.zendesk_fakes import collect, fixture, make_connector, zendesk_router


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def embedded_page() -> dict[str, Any]:
    """tickets_page1.json in the live API's shape: each ticket carries its own metric set."""
    page = fixture("tickets_page1.json")
    by_ticket = {m["ticket_id"]: m for m in page.pop("metric_sets")}
    for ticket in page["tickets"]:
        ticket["metric_set"] = by_ticket[ticket["id"]]
    page["end_of_stream"] = True
    return page


def tickets_from(*pages: dict[str, Any]) -> Any:
    router = zendesk_router()
    router.get("/api/v2/incremental/tickets/cursor").mock(
        side_effect=[httpx.Response(200, json=p) for p in pages]
    )
    return collect(make_connector(router), only={"tickets"})


def test_embedded_metric_sets_are_read() -> None:
    result = tickets_from(embedded_page())
    tickets = result.table("tickets")
    assert tickets["102"]["solved_at"] == utc("2025-03-02T08:59:00")  # from its metric set
    assert [p.counts for p in result.pages["tickets"]] == [{"metric_sets": 3}]


def test_a_top_level_list_is_joined_by_ticket_id() -> None:
    page = fixture("tickets_page1.json")
    page["end_of_stream"] = True
    page["metric_sets"].reverse()  # joined by ticket_id, not by position
    result = tickets_from(page)
    assert result.table("tickets")["102"]["solved_at"] == utc("2025-03-02T08:59:00")
    assert [p.counts for p in result.pages["tickets"]] == [{"metric_sets": 3}]


def test_a_bad_embedded_metric_set_costs_only_itself() -> None:
    page = embedded_page()
    page["tickets"][1]["metric_set"]["ticket_id"] = {"not": "an id"}
    result = tickets_from(page)
    assert not result.rejects
    ticket = result.table("tickets")["102"]
    assert ticket["status"] == "solved"
    assert ticket["solved_at"] == utc("2025-03-02T09:00:00")  # its updated_at: no metric set
    assert [p.counts for p in result.pages["tickets"]] == [{"metric_sets": 2}]


def test_missing_metric_sets_warn_once_per_run(caplog) -> None:
    first = fixture("tickets_page1.json")
    del first["metric_sets"]
    second = fixture("tickets_page2.json")
    del second["metric_sets"]
    second["end_of_stream"] = True
    with caplog.at_level(logging.WARNING, logger="deskpulse"):
        tickets_from(first, second)
    warnings = [r.getMessage() for r in caplog.records if "metric set" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "include=metric_sets" in warnings[0] and "101" in warnings[0]


def test_deleted_tickets_need_no_metric_set(caplog) -> None:
    page = embedded_page()
    for ticket in page["tickets"]:
        ticket["status"] = "deleted"
        del ticket["metric_set"]
    with caplog.at_level(logging.WARNING, logger="deskpulse"):
        tickets_from(page)
    assert not [r for r in caplog.records if "metric set" in r.getMessage()]


def test_the_run_record_and_status_count_metric_sets(tmp_path, monkeypatch) -> None:
    from deskpulse.sync.engine import run_sync
    from deskpulse.sync.warehouse import Warehouse

    second = fixture("tickets_page2.json")  # 104, 105 (deleted), 106: one set each
    second["tickets"] = copy.deepcopy(second["tickets"])
    second["end_of_stream"] = True
    first = embedded_page()
    first["end_of_stream"] = False
    first["after_cursor"] = "next"
    router = zendesk_router()
    router.get("/api/v2/incremental/tickets/cursor").mock(
        side_effect=[httpx.Response(200, json=first), httpx.Response(200, json=second)]
    )
    url = f"sqlite:///{tmp_path / 'w.db'}"
    warehouse = Warehouse(url)
    report = run_sync(warehouse, make_connector(router), streams=["tickets"])
    expected = 3 + len(second["metric_sets"])
    assert report.streams[0].counts == {"metric_sets": expected}
    warehouse.dispose()

    monkeypatch.setenv("DESKPULSE_DATABASE_URL", url)
    result = CliRunner().invoke(app, ["status", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert f'"metric_sets": {expected}' in result.output
    table = CliRunner().invoke(app, ["status"], env={"COLUMNS": "120"})
    assert f"metric sets: {expected:,} stored" in table.output
