"""End to end: the Klaviyo connector and the sync engine against the sandbox's Klaviyo dialect.

* a sync finds exactly the shop the sandbox generated (profiles, orders, refunds, engagement),
  worked out from the generator itself;
* a second sync writes nothing new;
* the dialect answers in Klaviyo's shapes: 401, a retired revision, 429 with its headers;
* profile e-mails match the help desk's end-users once normalised.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from deskpulse.connectors.klaviyo import KlaviyoConnector
from deskpulse.connectors.klaviyo.normalise import normalise_email
from deskpulse.sandbox.klaviyo import KlaviyoDialect
from deskpulse.sandbox.server import SandboxServer
from deskpulse.sync import engine
from deskpulse.sync.warehouse import Warehouse, table

SEED = 5
TICKETS = 400


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(seed=SEED, tickets=TICKETS, rate_limit=False) as sb:
        yield sb


def dialect(sb: SandboxServer) -> KlaviyoDialect:
    found = sb.dialect("klaviyo")
    assert isinstance(found, KlaviyoDialect)
    return found


def make_connector(sb: SandboxServer, **options: Any) -> KlaviyoConnector:
    env = sb.host_of("klaviyo").dialect.env(limited=False)
    options.setdefault("now", lambda: sb.account.anchor)
    return KlaviyoConnector(
        "klaviyo",
        api_key=env["KLAVIYO_API_KEY"],
        base_url=env["KLAVIYO_BASE_URL"],
        rate_limits="off",
        sleep=lambda seconds: None,
        **options,
    )


def paced_connector(sb: SandboxServer, **options: Any) -> KlaviyoConnector:
    """A connector paced as in production (the sandbox's limits on), at the sandbox's anchor."""
    env = sb.host_of("klaviyo").dialect.env()
    return KlaviyoConnector(
        "klaviyo",
        api_key=env["KLAVIYO_API_KEY"],
        base_url=env["KLAVIYO_BASE_URL"],
        now=lambda: sb.account.anchor,
        **options,
    )


def rows(warehouse: Warehouse, name: str) -> list[dict[str, Any]]:
    with warehouse.connect() as connection:
        t = table(name)
        return [dict(r._mapping) for r in connection.execute(select(t).order_by(t.c.id))]


def test_sync_is_exact(sandbox: SandboxServer, tmp_path: Any) -> None:
    shop = dialect(sandbox).shop
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'k.db'}")
    report = engine.run_sync(warehouse, make_connector(sandbox))
    assert report.status == "ok", report

    customers = rows(warehouse, "customers")
    assert {c["id"] for c in customers} == {p.id for p in shop.profiles()}
    placed = shop.events("PlcOrd")
    orders = {o["id"]: o for o in rows(warehouse, "orders")}
    assert set(orders) == {e.properties["$event_id"] for e in placed}
    assert round(sum(o["amount"] for o in orders.values()), 2) == round(
        sum(e.properties["$value"] for e in placed), 2
    )
    # "Ordered Product" (line items) was never read: order totals are not doubled.
    assert len(orders) < len(shop.events("OrdPrd"))
    adjustments = rows(warehouse, "order_adjustments")
    expected = shop.events("RfdOrd") + shop.events("CnlOrd")
    assert {a["id"] for a in adjustments} == {e.id for e in expected}
    assert all(a["order_id"] in orders for a in adjustments)
    engagement = rows(warehouse, "engagement_events")
    kinds: dict[str, int] = {}
    for e in engagement:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    assert kinds == {
        "email_open": len(shop.events("OpnEml")),
        "email_click": len(shop.events("ClkEml")),
        "site_visit": len(shop.events("ActSte")),
        "referral_sent": len(shop.events("RefFrd")),
    }
    # The future-dated order is kept, but the cursor stays at the sync's start.
    with warehouse.connect() as connection:
        state = table("sync_state")
        cursor = connection.execute(
            select(state.c.cursor).where(state.c.source == "klaviyo", state.c.stream == "orders")
        ).scalar_one()
    assert "SB1-future" in orders
    assert cursor["PlcOrd"]["since"] == sandbox.account.anchor.isoformat()

    # A second sync re-reads the overlap only and changes nothing.
    again = engine.run_sync(warehouse, make_connector(sandbox))
    assert again.status == "ok"
    assert sum(s.written for s in again.streams) == 0


def test_profiles_are_the_help_desk_end_users(sandbox: SandboxServer) -> None:
    shop = dialect(sandbox).shop
    account = sandbox.account
    desk = {
        normalise_email(account.user(len(account.staff) + j).email)
        for j in range(account.n_end_users)
    }
    profiles = shop.profiles()
    matched = [p for p in profiles if normalise_email(p.email) in desk]
    shop_only = [p for p in profiles if p.end_user is None]
    assert len(matched) + len(shop_only) == len(profiles)
    assert 0.85 * account.n_end_users < len(matched) < account.n_end_users  # some never shopped
    assert any(p.email != p.email.strip().lower() for p in matched)  # case and spaces differ


def _get(sb: SandboxServer, path: str, **headers: str) -> httpx.Response:
    base = dict(dialect(sb).auth_headers())
    base.update(headers)
    return httpx.get(f"{sb.host_of('klaviyo').base_url}{path}", headers=base, timeout=10)


def test_dialect_speaks_klaviyo_errors(sandbox: SandboxServer) -> None:
    unauthorised = _get(sandbox, "/api/profiles", authorization="Klaviyo-API-Key nope")
    assert unauthorised.status_code == 401
    assert unauthorised.json()["errors"][0]["code"] == "not_authenticated"
    retired = _get(sandbox, "/api/profiles", revision="2023-02-22")
    assert retired.status_code == 410
    quoted = _get(sandbox, "/api/events?filter=greater-than(datetime,'2026-01-01T00:00:00Z')")
    assert quoted.status_code == 400
    bad_cursor = _get(sandbox, "/api/profiles?page[cursor]=bm9wZQ")
    assert bad_cursor.json()["errors"][0]["detail"] == "Invalid cursor provided."
    ok = _get(sandbox, "/api/profiles?page[size]=2")
    assert ok.headers["content-type"] == "application/vnd.api+json"
    assert ok.json()["links"]["next"].startswith(sandbox.host_of("klaviyo").base_url)


def test_a_retired_revision_fails_the_sync_with_one_line(
    sandbox: SandboxServer, tmp_path: Any
) -> None:
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'r.db'}")
    report = engine.run_sync(warehouse, make_connector(sandbox, revision="2023-02-22"))
    assert report.status == "failed"
    assert "revision 2023-02-22" in (report.message or "")


def test_rate_limits_answer_429_and_the_connector_waits() -> None:
    clock = [1_000_000.0]
    with SandboxServer(seed=SEED, tickets=100, clock=lambda: clock[0]) as sb:
        host = sb.host_of("klaviyo")
        assert host.limiter is not None
        host.limiter.budgets["get_metrics"] = 2
        first = _get(sb, "/api/metrics")
        assert first.headers["RateLimit-Limit"] == "2"
        assert first.headers["RateLimit-Remaining"] == "1"
        _get(sb, "/api/metrics")
        third = _get(sb, "/api/metrics")
        assert third.status_code == 429
        assert "RateLimit-Remaining" not in third.headers
        assert int(third.headers["Retry-After"]) >= 1
        assert third.json()["errors"][0]["code"] == "throttled"

        slept: list[float] = []

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            clock[0] += max(seconds, 60.0)  # the fixed window moves on with the sandbox clock

        connector = paced_connector(sb, sleep=sleep, streams=["orders"])
        stream = connector.streams()[0]
        next(iter(stream.pages(None)), None)
        assert connector.stats.throttled >= 1 and slept


def test_the_connector_reads_its_budgets_from_klaviyos_headers() -> None:
    # The sandbox's account allows 2 metric reads a minute, not the document's 150: its answers
    # say so (RateLimit-Limit: 2, then Remaining: 0). The connector, paced at 150, adopts 2 from
    # the first answer and waits before the third request: no 429.
    clock = [1_000_000.0]  # 40 s into a fixed minute

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    slept: list[float] = []
    with SandboxServer(seed=SEED, tickets=100, clock=lambda: clock[0]) as sb:
        host = sb.host_of("klaviyo")
        assert host.limiter is not None
        host.limiter.budgets["get_metrics"] = 2
        connector = paced_connector(sb, sleep=sleep, clock=lambda: clock[0])
        limiter = connector.client.limiter
        assert limiter.budget("get_metrics") == 150
        assert connector.context().metric_ids("Placed Order")  # one request: 2 a minute, 1 left
        assert limiter.budget("get_metrics") == 2 and slept == []
        connector.context().metric_ids("Placed Order")  # the second: none left for 20 s
        assert slept == []
        # The third waits a minute after the first: the adopted pace, 2 in any trailing minute
        # (the spent window alone would hold it 20 s, to the fixed minute's end).
        connector.context().metric_ids("Placed Order")
        assert sum(slept) == pytest.approx(60.0, abs=1.0)
        assert connector.stats.throttled == 0 and connector.stats.requests == 3


def test_a_burst_over_the_per_second_limit_answers_429_until_the_second_ends() -> None:
    # get_metrics: 10 a second, 150 a minute (x-klaviyo-ratelimit). Eleven requests in one
    # second: the eleventh is throttled by the burst window although the minute has 140 left;
    # the next second takes requests again, and the 429 spent nothing of the minute.
    clock = [1_000_000.0]  # 40 s into a minute, at the start of a second
    with SandboxServer(seed=SEED, tickets=100, clock=lambda: clock[0]) as sb:
        answers = [_get(sb, "/api/metrics") for _ in range(11)]
        assert [a.status_code for a in answers] == [200] * 10 + [429]
        assert answers[9].headers["RateLimit-Limit"] == "150"
        assert answers[9].headers["RateLimit-Remaining"] == "140"
        throttled = answers[10]
        assert throttled.headers["Retry-After"] == "1"
        assert "RateLimit-Remaining" not in throttled.headers
        assert throttled.json()["errors"][0]["code"] == "throttled"
        # Another operation has its own burst budget: profiles are not throttled meanwhile.
        assert _get(sb, "/api/profiles").status_code == 200
        clock[0] += 1.0
        again = _get(sb, "/api/metrics")
        assert again.status_code == 200
        assert again.headers["RateLimit-Remaining"] == "139"


def test_sandbox_clock_and_anchor_keep_the_data_in_the_past(sandbox: SandboxServer) -> None:
    shop = dialect(sandbox).shop
    anchor = sandbox.account.anchor
    late = [
        e
        for m in ("RfdOrd", "CnlOrd", "OpnEml")
        for e in shop.events(m)
        if datetime.fromtimestamp(e.ts, UTC) > anchor
    ]
    assert not late
    future = [e for e in shop.events("PlcOrd") if datetime.fromtimestamp(e.ts, UTC) > anchor]
    assert [e.properties["$event_id"] for e in future] == ["SB1-future"]
    assert datetime.fromtimestamp(future[0].ts, UTC) == anchor + timedelta(days=180)


def test_shop_bulk_import_orders_share_one_second(sandbox: SandboxServer) -> None:
    shop = dialect(sandbox).shop
    same = [e for e in shop.events("PlcOrd") if e.ts == shop.import_order_ts]
    assert len(same) > 20  # more than fit a small page: a boundary falls inside the second


def test_order_count_matches_through_kpis(sandbox: SandboxServer, tmp_path: Any) -> None:
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'kpi.db'}")
    engine.run_sync(warehouse, make_connector(sandbox, streams=["orders"]))
    with warehouse.connect() as connection:
        count = connection.execute(select(func.count()).select_from(table("orders"))).scalar_one()
    assert count == len(dialect(sandbox).shop.events("PlcOrd"))


@pytest.mark.parametrize("pages", [3, 8])
def test_killed_sync_with_small_pages_restarted_ends_identical(
    sandbox: SandboxServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, pages: int
) -> None:
    # Small pages put page boundaries inside the same-second blocks (bulk-imported orders).
    from deskpulse.connectors.klaviyo import streams
    from tests.connectors.sandbox_runs import dump, killed_then_resumed

    monkeypatch.setattr(streams, "EVENT_PAGE", 7)
    monkeypatch.setattr(streams, "PROFILE_PAGE", 9)
    clean = Warehouse(f"sqlite:///{tmp_path / 'clean.db'}")
    assert engine.run_sync(clean, make_connector(sandbox, streams=["orders"])).status == "ok"
    killed = Warehouse(f"sqlite:///{tmp_path / 'killed.db'}")
    killed_then_resumed(killed, lambda: make_connector(sandbox, streams=["orders"]), pages)
    assert dump(killed)["orders"] == dump(clean)["orders"]
