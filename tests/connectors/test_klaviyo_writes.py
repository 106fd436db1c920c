"""Writing to Klaviyo against the sandbox dialect: profile properties, subscription jobs polled
to their end with the profiles they failed, and `push` (profile fields and subscriptions through
the write-back ledger: each value once, consent only, failures reported and retried)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from deskpulse.connectors.base import FAILED, OK, FieldValues
from deskpulse.connectors.klaviyo import KlaviyoConnector
from deskpulse.connectors.klaviyo.writes import NOT_ON_LIST
from deskpulse.connectors.zendesk import ZendeskConfig, ZendeskConnector
from deskpulse.kpi_core.identity import customer_values, people, support_values
from deskpulse.sandbox.klaviyo import LIST_ID, KlaviyoDialect
from deskpulse.sandbox.klaviyo.lists import job_drops as _job_drops
from deskpulse.sandbox.model import ENDUSER_BASE, OPT_IN_TAG
from deskpulse.sandbox.server import SandboxServer
from deskpulse.sandbox.zendesk import ZendeskDialect
from deskpulse.sync.actions import actions_from_dict
from deskpulse.sync.engine import run_sync
from deskpulse.sync.warehouse import Warehouse
from deskpulse.sync.writeback import push
from deskpulse.sync.writeback_plan import Context


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(
        seed=9, tickets=200, rate_limit=False, options={"klaviyo": {"job_delay": 0.0}}
    ) as sb:
        yield sb


def dialect(sb: SandboxServer) -> KlaviyoDialect:
    found = sb.dialect("klaviyo")
    assert isinstance(found, KlaviyoDialect)
    return found


def klaviyo(sb: SandboxServer, **options: Any) -> KlaviyoConnector:
    env = sb.dialect("klaviyo").env(limited=False)
    options.setdefault("now", lambda: sb.account.anchor)
    return KlaviyoConnector(
        "klaviyo",
        api_key=env["KLAVIYO_API_KEY"],
        base_url=env["KLAVIYO_BASE_URL"],
        rate_limits="off",
        sleep=lambda seconds: None,
        **options,
    )


def test_profile_properties_are_patched_and_read_back(sandbox: SandboxServer) -> None:
    d = dialect(sandbox)
    d.writes.clear()
    profile = d.shop.profiles()[3]
    connector = klaviyo(sandbox)
    results = connector.writer.write_user_fields(
        [
            FieldValues(profile.id, {"deskpulse_ticket_count": 3, "deskpulse_last_csat": 5.0}),
            FieldValues("01JNOSUCHPROFILE0000000000", {"deskpulse_ticket_count": 1}),
        ]
    )
    assert [r.status for r in results] == [OK, FAILED]
    assert "no such profile" in (results[1].reason or "")
    assert d.writes.writes == [
        {
            "method": "PATCH",
            "profile_id": profile.id,
            "properties": {"deskpulse_ticket_count": 3, "deskpulse_last_csat": 5.0},
        }
    ]
    back = connector.writer.read_user_fields([profile.id], ["deskpulse_ticket_count", "nope"])
    assert back == {profile.id: {"deskpulse_ticket_count": 3, "nope": None}}


def test_subscription_job_is_polled_and_reports_the_profiles_it_failed(
    sandbox: SandboxServer,
) -> None:
    d = dialect(sandbox)
    emails = [p.email for p in d.shop.profiles()[:40]] + [
        "not-an-address",
        "new.person@example.org",
    ]
    dropped = {e for e in emails if "@" in e and _job_drops(e)}
    assert dropped, "the sample should include profiles the job drops"
    results = klaviyo(sandbox).writer.subscribe(LIST_ID, emails)
    by_email = {r.record_id: r for r in results}
    assert [r.record_id for r in results] == emails
    assert by_email["not-an-address"].status == FAILED
    for email in dropped:
        assert by_email[email].status == FAILED and by_email[email].reason == NOT_ON_LIST
    ok = [e for e in emails if by_email[e].ok]
    assert len(ok) == len(emails) - len(dropped) - 1
    assert "new.person@example.org" in ok  # Klaviyo creates the profile
    job = [w for w in d.writes.writes if w.get("job") == "subscribe"][-1]
    assert "not-an-address" not in job["emails"]  # never sent


def test_a_job_still_running_is_waited_for() -> None:
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    with SandboxServer(
        seed=9,
        tickets=100,
        rate_limit=False,
        options={"klaviyo": {"job_delay": 3.0, "clock": lambda: clock[0]}},
    ) as sb:
        connector = klaviyo(sb, clock=lambda: clock[0])
        connector.writer._sleep = sleep
        email = next(p.email for p in dialect(sb).shop.profiles() if not _job_drops(p.email))
        (result,) = connector.writer.subscribe(LIST_ID, [email])
        assert result.ok
        assert clock[0] >= 3.0  # polled until the job had run


ACTIONS = {
    "profile_fields": [{"source": "klaviyo", "target_minutes": 60, "days": 3650}],
    "subscribe": [{"source": "klaviyo", "list": LIST_ID, "tag": OPT_IN_TAG}],
}


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[tuple[SandboxServer, Warehouse, dict[str, Any]]]:
    with SandboxServer(
        seed=6, tickets=200, rate_limit=False, options={"klaviyo": {"job_delay": 0.0}}
    ) as sb:
        warehouse = Warehouse(f"sqlite:///{tmp_path / 'people.db'}")
        zendesk = ZendeskConnector(
            "zendesk",
            ZendeskConfig(
                base_url=sb.base_url, oauth_token=sb.env(oauth=True)["ZENDESK_OAUTH_TOKEN"]
            ),
            rate_limits=None,
            sleep=lambda s: None,
        )
        assert run_sync(warehouse, zendesk).status in ("ok", "partial")
        k = klaviyo(sb)
        assert run_sync(warehouse, k).status == "ok"
        yield sb, warehouse, {"zendesk": zendesk, "klaviyo": k}


def test_push_writes_profile_values_and_subscribes_consenting_requesters_once(
    synced: tuple[SandboxServer, Warehouse, dict[str, Any]],
) -> None:
    sb, warehouse, connectors = synced
    d = dialect(sb)
    d.writes.clear()
    actions = actions_from_dict(ACTIONS)
    now = sb.account.anchor + timedelta(days=1)

    dry = push(warehouse, actions, connectors, Context(), dry_run=True, clock=lambda: now)
    assert dry.items and not d.writes.writes  # a dry run writes nothing

    report = push(warehouse, actions, connectors, Context(), clock=lambda: now)
    patches = [w for w in d.writes.writes if w["method"] == "PATCH"]
    jobs = [w for w in d.writes.writes if w.get("job") == "subscribe"]

    # Profile values: every profile of a person with tickets, from the help desk's facts.
    with warehouse.connect() as conn:
        everyone = people(conn)
        support = support_values(conn, everyone=everyone, target_minutes=60, now=now)
    expected: dict[str, dict[str, Any]] = {}
    for key, s in support.items():
        for source, profile_id in everyone[key].rows:
            if source == "klaviyo":
                values = {f"deskpulse_{k}": v for k, v in s.values().items() if v is not None}
                expected[profile_id] = values
    written: dict[str, dict[str, Any]] = {}
    for w in patches:
        written.setdefault(w["profile_id"], {}).update(w["properties"])
    assert written == expected
    assert len(expected) > 20
    assert {v["deskpulse_first_response_experience"] for v in expected.values()} >= {
        "within_target",
        "missed_target",
    }

    # Subscriptions: exactly the requesters the sandbox made ask for the newsletter (their
    # web-form and e-mail tickets carry `newsletter_opt_in`), each e-mail once, minus those
    # already subscribed; the job's dropped profiles are reported failed.
    (job,) = jobs
    account = sb.account
    tickets = [
        account.ticket(i, custom_fields=False, story=False) for i in range(account.n_tickets)
    ]
    asked = {
        account.user(len(account.staff) + t.requester_id - ENDUSER_BASE - 1).email
        for t in tickets
        if OPT_IN_TAG in t.tags and t.status != "deleted"
    }
    subscribed = {p.email.strip().lower() for p in d.shop.profiles() if p.consent == "SUBSCRIBED"}
    sent = {e.strip().lower() for e in job["emails"]}
    assert sent == {e.strip().lower() for e in asked} - subscribed
    assert (len(asked), len(sent)) == (16, 14)  # of 200 tickets (seed 6); the job drops one
    failed = [i for i in report.items if i.kind == "subscription" and i.outcome == "failed"]
    assert {i.record_id for i in failed} == {e for e in sent if _job_drops(e)}
    assert len(failed) == 1
    assert all(i.error == NOT_ON_LIST for i in failed)

    # A second push: nothing changed, nothing written (the failed ones wait for their backoff).
    d.writes.clear()
    again = push(warehouse, actions, connectors, Context(), clock=lambda: now)
    assert not d.writes.writes
    assert again.unchanged >= len(expected) * 3
    # After the backoff only the failed subscriptions are tried again.
    later = push(warehouse, actions, connectors, Context(), clock=lambda: now + timedelta(hours=1))
    retried = [w for w in d.writes.writes if w.get("job") == "subscribe"]
    assert [sorted(w["emails"]) for w in retried] == [sorted(i.record_id for i in failed)]
    assert not [w for w in d.writes.writes if w["method"] == "PATCH"]
    assert later.failed == len(failed)


def test_unknown_profile_value_is_one_config_line() -> None:
    from deskpulse.connectors.errors import ConfigError

    with pytest.raises(ConfigError, match="values` must be a list of"):
        actions_from_dict({"profile_fields": [{"source": "klaviyo", "values": ["ltv"]}]})
    with pytest.raises(ConfigError, match="opt-in rule"):
        actions_from_dict({"subscribe": [{"source": "klaviyo", "list": "L"}]})


def test_customer_values_land_on_the_help_desks_users_once(
    synced: tuple[SandboxServer, Warehouse, dict[str, Any]],
) -> None:
    """Lifetime CSAT (Zendesk's ratings) and lifetime value (Klaviyo's orders) of each person,
    matched by e-mail, as Zendesk user fields; unchanged values are not written again."""
    sb, warehouse, connectors = synced
    desk = sb.dialect("zendesk")
    assert isinstance(desk, ZendeskDialect)
    desk.writes.clear()
    actions = actions_from_dict(
        {"profile_fields": [{"source": "zendesk", "values": ["lifetime_csat", "last_nps", "clv"]}]}
    )
    now = sb.account.anchor + timedelta(days=1)
    dry = push(warehouse, actions, connectors, Context(), dry_run=True, clock=lambda: now)
    assert dry.items and not desk.writes.writes and not desk.writes.user_fields

    report = push(warehouse, actions, connectors, Context(), clock=lambda: now)
    assert report.failed == 0
    with warehouse.connect() as conn:
        everyone = people(conn)
        values = customer_values(conn, everyone=everyone, now=now)
    expected: dict[int, dict[str, Any]] = {}
    for key, row in values.items():
        for source, user_id in everyone[key].rows:
            if source == "zendesk":
                found = {f"deskpulse_{k}": v for k, v in row.items() if v is not None}
                if found:
                    expected[int(user_id)] = found
    assert desk.writes.user_fields == expected
    # Both kinds of value arrived: ratings from the help desk, orders from the shop.
    assert any("deskpulse_clv" in v for v in expected.values())
    assert any("deskpulse_lifetime_csat" in v for v in expected.values())
    calls = [w for w in desk.writes.writes if w["path"] == "/api/v2/users/update_many"]
    assert calls and all(len(w["body"]["users"]) <= 100 for w in calls)
    # Zendesk answers them back on the users.
    sample = sorted(expected)[:3]
    back = connectors["zendesk"].writer.read_user_fields(
        [str(u) for u in sample], ["deskpulse_clv"]
    )
    assert {int(u): v["deskpulse_clv"] for u, v in back.items()} == {
        u: expected[u].get("deskpulse_clv") for u in sample
    }

    again = push(warehouse, actions, connectors, Context(), clock=lambda: now)
    assert again.items == [] and again.unchanged == sum(len(v) for v in expected.values())
    assert [w for w in desk.writes.writes if w["path"] == "/api/v2/users/update_many"] == calls
