from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import inspect, select, text

from deskpulse.sync.warehouse import (
    Warehouse,
    current_revision,
    head_revision,
    table,
    upgrade,
    upsert,
)


def ticket(**fields: object) -> dict[str, object]:
    return {
        "source": "zendesk",
        "id": "7",
        "created_at": datetime(2026, 3, 1, 9, tzinfo=UTC),
        "status": "open",
        **fields,
    }


def test_upsert_inserts_updates_in_place_and_skips_unchanged_rows(warehouse: Warehouse) -> None:
    with warehouse.begin() as connection:
        assert upsert(connection, "tickets", [ticket(), ticket(id="8")]) == 2
        assert upsert(connection, "tickets", [ticket(), ticket(id="8")]) == 0
        assert upsert(connection, "tickets", [ticket(status="solved"), ticket(id="8")]) == 1
        rows = connection.execute(select(table("tickets").c.id, table("tickets").c.status)).all()
    assert sorted(rows) == [("7", "solved"), ("8", "open")]


def test_the_same_id_in_two_sources_is_two_rows(warehouse: Warehouse) -> None:
    with warehouse.begin() as connection:
        upsert(connection, "tickets", [ticket(), ticket(source="zendesk-eu")])
    assert warehouse.counts()["tickets"] == 2


def test_a_repeated_key_within_one_batch_keeps_the_last(warehouse: Warehouse) -> None:
    with warehouse.begin() as connection:
        assert upsert(connection, "tickets", [ticket(status="new"), ticket(status="open")]) == 1
        assert connection.execute(select(table("tickets").c.status)).scalar_one() == "open"


def test_times_come_back_as_aware_utc(warehouse: Warehouse) -> None:
    berlin = timezone(timedelta(hours=2))
    with warehouse.begin() as connection:
        upsert(
            connection,
            "tickets",
            [
                ticket(
                    created_at=datetime(2026, 6, 1, 12, tzinfo=berlin),
                    extra={"custom": [1, "a", None]},
                )
            ],
        )
        created, extra = connection.execute(
            select(table("tickets").c.created_at, table("tickets").c.extra)
        ).one()
    assert created == datetime(2026, 6, 1, 10, tzinfo=UTC)
    assert created.utcoffset() == timedelta(0)
    assert extra == {"custom": [1, "a", None]}


def test_upgrading_a_first_migration_database_keeps_its_data(warehouse: Warehouse) -> None:
    raw = Warehouse(warehouse.url, migrate=False)
    upgrade(raw.engine, "0001")
    with raw.engine.begin() as connection:
        assert current_revision(connection) == "0001"
        assert "write_back_log" not in inspect(connection).get_table_names()
        upsert(connection, "tickets", [ticket(subject="Printer on fire")])
        connection.execute(
            text(
                "INSERT INTO sync_state (source, stream, cursor, updated_at) "
                "VALUES ('zendesk', 'tickets', :cursor, :at)"
            ),
            {"cursor": '{"cursor": "abc"}', "at": datetime(2026, 3, 2)},
        )

    warehouse.ensure_schema()  # first use migrates to head by itself

    with warehouse.connect() as connection:
        assert current_revision(connection) == head_revision()
        assert "write_back_log" in inspect(connection).get_table_names()
        subject = connection.execute(select(table("tickets").c.subject)).scalar_one()
        cursor = connection.execute(select(table("sync_state").c.cursor)).scalar_one()
    assert subject == "Printer on fire"
    assert cursor == {"cursor": "abc"}


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    wh = Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    with wh.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"


def test_upgrading_turns_zendesk_sla_event_words_into_the_neutral_vocabulary(
    warehouse: Warehouse,
) -> None:
    """Warehouses synced before the neutral SLA vocabulary held Zendesk's own event words."""
    raw = Warehouse(warehouse.url, migrate=False)
    upgrade(raw.engine, "0002")
    zendesk_words = ["apply_sla", "apply_group_sla", "activate", "pause", "fulfill", "breach",
                     "measure", "update_status"]  # fmt: skip
    with raw.engine.begin() as connection:
        for n, word in enumerate(zendesk_words):
            connection.execute(
                text(
                    "INSERT INTO sla_events (source, id, ticket_id, metric, type, time) "
                    "VALUES ('zendesk', :id, '7', 'reply_time', :type, :at)"
                ),
                {"id": str(n), "type": word, "at": datetime(2026, 3, 2)},
            )
    raw.dispose()

    warehouse.ensure_schema()

    events = table("sla_events")
    with warehouse.connect() as connection:
        rows = connection.execute(select(events.c.raw_type, events.c.type)).all()
    assert dict(rows) == {
        "apply_sla": "applied",
        "apply_group_sla": "applied",
        "activate": "started",
        "pause": "paused",
        "fulfill": "fulfilled",
        "breach": "breached",
        "measure": "measured",
        "update_status": "updated",
    }


def test_upgrading_collapses_repeated_quarantine_entries(warehouse: Warehouse) -> None:
    """Before fingerprints, each re-import added its bad rows to the quarantine again."""
    raw = Warehouse(warehouse.url, migrate=False)
    upgrade(raw.engine, "0003")
    insert_entry = text(
        "INSERT INTO quarantine (run_id, source, stream, location, reason, payload, created_at) "
        "VALUES (:run, 'files', 'tickets', :location, 'bad date', :payload, :at)"
    )
    with raw.engine.begin() as connection:
        for run in (1, 2, 3):
            for location in ("tickets.csv:3", "tickets.csv:9"):
                payload = json.dumps({"location": location, "row": {"id": "7"}, "error": None})
                connection.execute(
                    insert_entry,
                    {
                        "run": run,
                        "location": location,
                        "payload": payload,
                        "at": datetime(2026, 3, 2),
                    },
                )
    raw.dispose()

    warehouse.ensure_schema()

    q = table("quarantine")
    with warehouse.connect() as connection:
        rows = connection.execute(select(q.c.location, q.c.run_id).order_by(q.c.location)).all()
    assert rows == [("tickets.csv:3", 3), ("tickets.csv:9", 3)]
