"""The KPI digest: periods in the reporting time zone, hand-worked content, and posted once per
period and target whatever happens (a second push, a changed number)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from deskpulse.connectors.base import WRITE_POSTS, Post, RequestStats, WriteResult
from deskpulse.kpi_core.canonical import coerce_row
from deskpulse.kpi_core.config import KpiConfig, Target
from deskpulse.sync.actions import actions_from_dict
from deskpulse.sync.digest import last_due, last_period, plan_digests, render_digest
from deskpulse.sync.warehouse import Warehouse, table
from deskpulse.sync.writeback import push
from deskpulse.sync.writeback_plan import Context

BERLIN = ZoneInfo("Europe/Berlin")
# Tuesday 2026-12-01 10:00 UTC: yesterday is Monday 11-30; last week is 11-23 .. 11-30 (W48).
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_last_complete_period_in_the_reporting_zone() -> None:
    assert last_period("day", NOW, BERLIN) == (
        "2026-11-30",
        datetime(2026, 11, 30, tzinfo=BERLIN),
        datetime(2026, 12, 1, tzinfo=BERLIN),
    )
    assert last_period("week", NOW, BERLIN) == (
        "2026-W48",
        datetime(2026, 11, 23, tzinfo=BERLIN),
        datetime(2026, 11, 30, tzinfo=BERLIN),
    )
    # 23:30 UTC on Monday is already Tuesday in Berlin: Monday is then complete.
    assert last_period("day", datetime(2026, 11, 30, 23, 30, tzinfo=UTC), BERLIN)[0] == "2026-11-30"
    # A week across the end of October's DST change is 169 hours long.
    _, start, end = last_period("week", datetime(2026, 10, 28, tzinfo=UTC), BERLIN)
    hours = (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 3600
    assert (start.isoformat(), end.isoformat(), hours) == (
        "2026-10-19T00:00:00+02:00",
        "2026-10-26T00:00:00+01:00",
        169.0,
    )


def test_when_a_digest_was_last_due_in_the_reporting_zone() -> None:
    """The daemon's catch-up asks when each digest was last due (its `at`, local time)."""
    weekly = actions_from_dict(
        {"digest": [{"source": "zendesk", "every": "week", "at": "08:00"}]}
    ).digests[0]
    daily = actions_from_dict({"digest": [{"source": "zendesk", "every": "day", "at": "08:00"}]})
    # Tuesday 10:00 UTC: Monday 08:00 Berlin; Tuesday 06:00 UTC (07:00 Berlin): Monday's too.
    assert last_due(weekly, NOW, BERLIN) == datetime(2026, 11, 30, 8, tzinfo=BERLIN)
    early = datetime(2026, 12, 1, 6, tzinfo=UTC)
    assert last_due(daily.digests[0], early, BERLIN) == datetime(2026, 11, 30, 8, tzinfo=BERLIN)
    assert last_due(daily.digests[0], NOW, BERLIN) == datetime(2026, 12, 1, 8, tzinfo=BERLIN)
    # Monday 07:00 Berlin: the last weekly one was the Monday before.
    monday = datetime(2026, 11, 30, 6, tzinfo=UTC)
    assert last_due(weekly, monday, BERLIN) == datetime(2026, 11, 23, 8, tzinfo=BERLIN)


def ticket(tid: str, created: str, replied: str, group: str) -> tuple[dict[str, Any], ...]:
    return (
        {"id": tid, "created_at": created, "status": "open", "group": group},
        {"id": f"{tid}-c", "ticket_id": tid, "created_at": created, "kind": "message",
         "author_kind": "customer"},
        {"id": f"{tid}-a", "ticket_id": tid, "created_at": replied, "kind": "message",
         "author_kind": "agent"},
    )  # fmt: skip


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    wh = Warehouse(f"sqlite:///{tmp_path / 'digest.db'}")
    rows = [
        # The week before (W47): one ticket answered in 60 min.
        ticket("1", "2026-11-17T09:00:00Z", "2026-11-17T10:00:00Z", "billing"),
        # W48: billing 30 and 90 min, support 10 min: mean 130 / 3 = 43.3 min.
        ticket("2", "2026-11-24T09:00:00Z", "2026-11-24T09:30:00Z", "billing"),
        ticket("3", "2026-11-25T09:00:00Z", "2026-11-25T10:30:00Z", "billing"),
        ticket("4", "2026-11-26T09:00:00Z", "2026-11-26T09:10:00Z", "support"),
    ]
    with wh.begin() as conn:
        for t, c, a in rows:
            conn.execute(insert(table("tickets")), [coerce_row("tickets", t, source="zendesk")])
            conn.execute(
                insert(table("ticket_events")),
                [coerce_row("ticket_events", e, source="zendesk") for e in (c, a)],
            )
    return wh


ACTIONS = actions_from_dict(
    {"digest": [{"source": "zendesk", "every": "week", "metrics": ["first_response_time"]}]}
)
CTX = Context(config=KpiConfig(targets=(Target("first_response_time", max=45.0),)), tz=BERLIN)


def test_digest_content_is_hand_worked(warehouse: Warehouse) -> None:
    with warehouse.connect() as conn:
        period, post = render_digest(conn, ACTIONS.digests[0], CTX, NOW)
    assert period == "2026-W48"
    assert post["title"] == "deskpulse KPI digest: Week 2026-W48 (from 2026-11-23)"
    assert post["body"].splitlines() == [
        "Week 2026-W48, Europe/Berlin: each KPI against its target and the week before.",
        # 43.3 min over 3 tickets against a 45 min target, 16.7 min faster than W47's 60.
        "- First response time: 43.3 min (n=3, too few to judge; target 45.0 min: met), "
        "-16.7 min vs previous, better",
        # Worst: the groups missing the target: billing mean(30, 90) = 60 (support's 10 met it).
        "    worst by group: billing 1.0 h (n=2)",
    ]


@pytest.mark.parametrize(
    ("targets", "worst"),
    [
        # Without a target: the groups worse than the team's 43.3 min: billing's 60.
        ((), "    worst by group: billing 1.0 h (n=2)"),
        # Every group within 2 h: no group is the "worst", even billing at 60 min.
        ((Target("first_response_time", max=120.0),), "    worst by group: none, every group met the target"),
    ],
)  # fmt: skip
def test_worst_means_missing_the_target_or_worse_than_the_team(
    warehouse: Warehouse, targets: tuple[Target, ...], worst: str
) -> None:
    ctx = Context(config=KpiConfig(targets=targets), tz=BERLIN)
    with warehouse.connect() as conn:
        _, post = render_digest(conn, ACTIONS.digests[0], ctx, NOW)
    assert post["body"].splitlines()[2] == worst


def test_groups_no_worse_than_the_team_are_none() -> None:
    from deskpulse.kpi_core import KpiValue
    from deskpulse.sync.render import worst_slices

    def csat(group: str | None, value: float, n: int) -> KpiValue:
        return KpiValue("csat", NOW, NOW, {"group": group} if group else None, value, "ratio", n)

    same = [csat("Technical", 1.0, 4), csat("VIP", 1.0, 3)]
    assert worst_slices("csat", same, csat(None, 1.0, 7)) == []
    mixed = [csat("Technical", 1.0, 4), csat("VIP", 0.5, 2)]
    assert worst_slices("csat", mixed, csat(None, 5 / 6, 6)) == ["VIP 50.0% (n=2)"]
    # A neutral metric (request volume) has no worst; neither has a single group.
    assert worst_slices("request_volume", same, None) is None
    assert worst_slices("csat", same[:1], csat(None, 1.0, 4)) is None


def test_values_carry_their_unit_and_currency() -> None:
    from deskpulse.kpi_core import KpiValue
    from deskpulse.sync.render import kpi_line

    clv = KpiValue("customer_lifetime_value", NOW, NOW, None, 1204.5, "currency", 12,
                   details={"currency": "EUR"})  # fmt: skip
    assert kpi_line("customer_lifetime_value", clv, None) == (
        "- Customer lifetime value: 1,204.50 EUR (n=12)"
    )
    ces = KpiValue("ces_interactions", NOW, NOW, None, -47.67, "points", 150)
    before = KpiValue("ces_interactions", NOW, NOW, None, -40.0, "points", 140)
    assert kpi_line("ces_interactions", ces, before) == (
        "- Customer effort (interactions): -47.7 points (n=150), -7.7 points vs previous, worse"
    )
    # A service level over 2 tickets: its n, and that 2 is too few to judge.
    sl = KpiValue("ticket_service_level", NOW, NOW, None, 0.0, "ratio", 2)
    assert kpi_line("ticket_service_level", sl, None).startswith(
        "- Ticket service level: 0.0% (n=2, too few to judge)"
    )


class FakePoster:
    """A help desk that keeps posts by key (as Zendesk keeps external_id)."""

    vendor = "fake"
    source = "zendesk"
    capabilities = frozenset({"read", WRITE_POSTS})
    stats = RequestStats()

    def __init__(self) -> None:
        self.posts: dict[str, Post] = {}
        self.calls = 0
        self.writer = self  # its own write-back surface

    def streams(self) -> list[Any]:
        return []

    def close(self) -> None:
        pass

    def post(self, post: Post) -> WriteResult:
        self.calls += 1
        self.posts[post.key] = post
        return WriteResult(post.key, ref=str(len(self.posts)))

    def find_post(self, key: str) -> str | None:
        return "1" if key in self.posts else None


def test_a_digest_is_posted_once_per_period_and_target(warehouse: Warehouse) -> None:
    poster = FakePoster()

    def extra(conn: Any, now: datetime) -> Any:
        return plan_digests(conn, ACTIONS.digests, CTX, now)

    first = push(warehouse, ACTIONS, {"zendesk": poster}, CTX, clock=lambda: NOW, extra=extra)
    assert [(i.record_id, i.outcome) for i in first.items] == [("2026-W48", "sent")]
    assert list(poster.posts) == ["zendesk:digest:week|2026-W48"]
    # Again the same day, and after the numbers changed: nothing new to post.
    with warehouse.begin() as conn:
        conn.execute(table("tickets").delete().where(table("tickets").c.id == "4"))
    again = push(warehouse, ACTIONS, {"zendesk": poster}, CTX, clock=lambda: NOW, extra=extra)
    assert again.items == [] and poster.calls == 1
    # The next week gets its own post.
    later = datetime(2026, 12, 8, 10, tzinfo=UTC)
    push(warehouse, ACTIONS, {"zendesk": poster}, CTX, clock=lambda: later, extra=extra)
    assert list(poster.posts) == ["zendesk:digest:week|2026-W48", "zendesk:digest:week|2026-W49"]


def test_social_sentiment_in_the_digest_comes_from_the_scored_mentions(tmp_path: Path) -> None:
    """Mentions scored by the sync (sync.sentiment) give the digest its sentiment line."""
    from deskpulse.sync.sentiment import score_mentions

    wh = Warehouse(f"sqlite:///{tmp_path / 'social.db'}")
    mentions: list[dict[str, Any]] = [
        {"id": "m1", "created_at": "2026-11-24T09:00:00Z", "text": "Love the new update, thanks!"},
        {"id": "m2", "created_at": "2026-11-25T09:00:00Z", "text": "Great support today"},
        {"id": "m3", "created_at": "2026-11-26T09:00:00Z", "text": "Integration broken with Slack"},
        {"id": "m4", "created_at": "2026-11-26T10:00:00Z", "text": "Vielen Dank, das war super!"},
    ]
    for m in mentions:
        m.update(network="twitter", sentiment=None, extra=None)
    score_mentions(mentions)
    with wh.begin() as conn:
        conn.execute(
            insert(table("social_mentions")),
            [coerce_row("social_mentions", m, source="zendesk") for m in mentions],
        )
    action = actions_from_dict(
        {"digest": [{"source": "zendesk", "every": "week", "metrics": ["social_sentiment"]}]}
    ).digests[0]
    with wh.connect() as conn:
        _, post = render_digest(conn, action, Context(config=KpiConfig(), tz=BERLIN), NOW)
    # 3 scored (the German one is not): 2 positive, 1 negative -> 2/3 - 1/3 = +33.3%.
    assert post["body"].splitlines()[1] == "- Social sentiment: 33.3% (n=3, too few to judge)"
