"""Survey, review and knowledge-base metrics: rows in, numbers out, worked by hand."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert

import deskpulse.kpi_core.metrics.surveys  # noqa: F401 - registers the metrics
from deskpulse.kpi_core.canonical import parse_datetime
from deskpulse.kpi_core.models import SurveyResponse
from tests.kpi_core.conftest import Wh

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)
WHEN = "2026-03-10T12:00:00Z"


def responses(survey: str, scores: Sequence[float | None], **fields: Any) -> list[dict[str, Any]]:
    prefix = fields.pop("prefix", survey)
    return [
        {"id": f"{prefix}{i}", "survey": survey, "score": s, "created_at": WHEN, **fields}
        for i, s in enumerate(scores)
    ]


def one(wh: Wh, metric: str, **fields: Any) -> Any:
    values = wh.kpi(metric, START, END, **fields)
    assert len(values) == 1
    return values[0]


def add_responses(wh: Wh, rows: list[dict[str, Any]]) -> None:
    # The import format requires a score; unanswered offers (score null) come from connectors
    # (e.g. Zendesk `offered`), so insert them straight into the nullable column.
    answered = [r for r in rows if r["score"] is not None]
    wh.add("survey_responses", *answered)
    offers = [r for r in rows if r["score"] is None]
    if offers:
        wh.conn.execute(
            insert(SurveyResponse.__table__),  # type: ignore[attr-defined]
            [
                {
                    "source": r.get("source", "zd"),
                    "id": r["id"],
                    "survey": r["survey"],
                    "score": None,
                    "created_at": parse_datetime(r["created_at"]),
                }
                for r in offers
            ],
        )


def test_csat_worked_example(wh: Wh) -> None:
    # KPI_CATALOG 4: 50 responses on 1-5, 30 of them 4 or 5 -> 30 / 50 = 0.60.
    # 15 x 5, 15 x 4, 10 x 3, 10 x 1: mean = (75 + 60 + 30 + 10) / 50 = 3.5.
    wh.add("survey_responses", *responses("csat", [5] * 15 + [4] * 15 + [3] * 10 + [1] * 10))
    v = one(wh, "csat")
    assert v.value == pytest.approx(0.60)
    assert v.n == 50
    assert v.mean == pytest.approx(3.5)
    assert v.details["scale"] == [1.0, 5.0]  # the default csat scale: rows gave none


@pytest.mark.parametrize(
    ("scale", "scores", "expected", "mean"),
    [
        # 0-10: positive >= 0 + 0.75 x 10 = 7.5 -> 8 and 10 of {7, 8, 10}: 2/3; mean 25/3.
        ((0, 10), [7, 8, 10], 2 / 3, 25 / 3),
        # 1-7: positive >= 1 + 0.75 x 6 = 5.5 -> 6 and 7 of {5, 6, 7}: 2/3; mean 6.
        ((1, 7), [5, 6, 7], 2 / 3, 6.0),
        # 1-5 explicit: 4 is positive, 3 is not: 1/2.
        ((1, 5), [3, 4], 0.5, 3.5),
        # 1-3: >= 1 + 0.75 x 2 = 2.5 -> only 3: 1/3.
        ((1, 3), [1, 2, 3], 1 / 3, 2.0),
    ],
)
def test_csat_other_scales(
    wh: Wh, scale: tuple[int, int], scores: list[float], expected: float, mean: float
) -> None:
    rows = responses("csat", list(scores), scale_min=scale[0], scale_max=scale[1])
    wh.add("survey_responses", *rows)
    v = one(wh, "csat")
    assert v.value == pytest.approx(expected)
    assert v.mean == pytest.approx(mean)


def test_csat_mixed_scales_and_deleted_tickets(wh: Wh) -> None:
    wh.add(
        "tickets",
        {"id": "t1", "created_at": WHEN, "status": "solved", "group": "EU"},
        {"id": "t2", "created_at": WHEN, "status": "deleted", "group": "EU"},
    )
    wh.add(
        "survey_responses",
        # 5 on 1-5 (positive, position 1.0) and 0 on 0-10 (negative, position 0.0).
        *responses("csat", [5], ticket_id="t1", prefix="a"),
        *responses("csat", [0], ticket_id="t1", scale_min=0, scale_max=10, prefix="b"),
        # About a deleted ticket: left out.
        *responses("csat", [1], ticket_id="t2", prefix="c"),
    )
    v = one(wh, "csat", by="group")
    assert v.group == {"group": "EU"}
    assert v.value == pytest.approx(0.5) and v.n == 2
    # Two scales: no mean on "the" scale; normalized mean (1.0 + 0.0) / 2 = 0.5.
    assert v.mean is None
    assert v.details["mean_normalized"] == pytest.approx(0.5)


def test_nps_worked_example(wh: Wh) -> None:
    # KPI_CATALOG 4: 70% promoters, 10% detractors -> 60.
    # 10 responses: 7 promoters (9, 10), 2 passives (7, 8), 1 detractor (6): 100 x (7 - 1) / 10.
    wh.add("survey_responses", *responses("nps", [9, 10, 9, 10, 9, 10, 9, 7, 8, 6]))
    v = one(wh, "nps")
    assert v.value == pytest.approx(60.0)
    assert v.details["promoters"] == 7 and v.details["detractors"] == 1
    assert v.details["passives"] == 2


def test_nps_on_another_scale(wh: Wh) -> None:
    # On 1-5 mapped onto 0-10: 5 -> 10 (promoter), 4 -> 7.5 (passive), 3 -> 5 (detractor).
    # 100 x (1 - 1) / 3 = 0; with two 5s: 100 x (2 - 1) / 4 = 25.
    wh.add("survey_responses", *responses("nps", [5, 5, 4, 3], scale_min=1, scale_max=5))
    assert one(wh, "nps").value == pytest.approx(25.0)


def test_ces_mean_on_1_to_7(wh: Wh) -> None:
    # 5, 6, 7 on the default 1-7 scale, plus 5 on 1-5 -> mapped to 1 + (5-1) x 6/4 = 7.
    # Mean (5 + 6 + 7 + 7) / 4 = 6.25.
    wh.add(
        "survey_responses",
        *responses("ces", [5, 6, 7]),
        *responses("ces", [5], scale_min=1, scale_max=5, prefix="other"),
    )
    v = one(wh, "ces")
    assert v.value == pytest.approx(6.25)
    assert v.n == 4


def test_ces_interactions(wh: Wh) -> None:
    solved = "2026-03-12T09:00:00Z"
    wh.add(
        "tickets",
        *[
            {"id": t, "created_at": WHEN, "solved_at": solved, "status": "solved"}
            for t in ("easy", "hard", "quiet")
        ],
        # Solved before the window: not counted.
        {"id": "old", "created_at": "2026-02-01T00:00:00Z", "solved_at": "2026-02-02T00:00:00Z"},
    )

    def msg(i: int, ticket: str, kind: str, public: bool = True) -> dict[str, Any]:
        return {
            "id": f"e{i}",
            "ticket_id": ticket,
            "created_at": WHEN,
            "kind": "message",
            "author_kind": kind,
            "public": public,
        }

    wh.add(
        "ticket_events",
        # easy: customer + agent = 2 messages; a bot reply and an internal note do not count.
        msg(1, "easy", "customer"),
        msg(2, "easy", "agent"),
        msg(3, "easy", "bot"),
        msg(4, "easy", "agent", public=False),
        # hard: 3 messages.
        msg(5, "hard", "customer"),
        msg(6, "hard", "agent"),
        msg(7, "hard", "customer"),
    )
    # quiet has no messages (0 <= 2): easy. easy = 2, hard = 1: 100 x (2 - 1) / 3 = 33.3.
    v = one(wh, "ces_interactions")
    assert v.value == pytest.approx(100 / 3)
    assert v.details == {"easy": 2, "hard": 1, "solved": 3}
    # With N = 3 every ticket is easy: 100.
    assert one(wh, "ces_interactions", params={"easy_max_messages": 3}).value == 100.0


def test_iqs_scaled_to_100(wh: Wh) -> None:
    # 80 on 0-100 stays 80; 4 on 1-5 is 100 x (4 - 1) / 4 = 75. Mean 77.5.
    wh.add(
        "survey_responses",
        *responses("iqs", [80], agent_id="a1"),
        *responses("iqs", [4], agent_id="a1", scale_min=1, scale_max=5, prefix="x"),
    )
    v = one(wh, "iqs", by="agent")
    assert v.group == {"agent": "a1"}
    assert v.value == pytest.approx(77.5)


def test_employee_engagement_scaled_to_10(wh: Wh) -> None:
    # Default scale 1-10: 1 -> 0, 10 -> 10; 5 on 0-10 stays 5. Mean (0 + 10 + 5) / 3 = 5.
    wh.add(
        "survey_responses",
        *responses("employee", [1, 10]),
        *responses("employee", [5], scale_min=0, scale_max=10, prefix="x"),
    )
    assert one(wh, "employee_engagement").value == pytest.approx(5.0)


def test_survey_response_rate(wh: Wh) -> None:
    add_responses(
        wh,
        # zd reports offers: 3 answered + 1 unanswered csat -> 3 / 4.
        responses("csat", [5, 4, 1, None])
        # zd nps has no unanswered row: offers unknown, left out.
        + responses("nps", [9, 10])
        # files: only answers, never offers: left out.
        + responses("csat", [5, 5], source="files", prefix="f"),
    )
    v = one(wh, "survey_response_rate")
    assert v.value == pytest.approx(0.75)
    assert v.details == {"answered": 3, "offered": 4}
    assert one(wh, "survey_response_rate", params={"survey": "nps"}).value is None


def test_reviews(wh: Wh) -> None:
    def review(i: int, rating: int, responded: bool) -> dict[str, Any]:
        row = {"id": f"r{i}", "rating": rating, "created_at": WHEN}
        return row | ({"responded_at": "2026-03-11T00:00:00Z"} if responded else {})

    wh.add(
        "reviews", review(1, 5, True), review(2, 5, False), review(3, 4, True), review(4, 1, True)
    )
    # 5-star: r1, r2 = 2 of 4 reviews (share 0.5).
    v = one(wh, "positive_reviews")
    assert (v.value, v.n, v.details["share"]) == (2.0, 4, 0.5)
    # Responded to 3 of 4 = 0.75.
    assert one(wh, "feedback_response_rate").value == pytest.approx(0.75)


def test_positive_reviews_zero_is_zero_not_null(wh: Wh) -> None:
    # Reviews exist but none has 5 stars: 0 (data), not None (no data).
    wh.add("reviews", {"id": "r", "rating": 3, "created_at": WHEN})
    v = one(wh, "positive_reviews")
    assert (v.value, v.n) == (0.0, 1)


def test_kb_helpfulness(wh: Wh) -> None:
    wh.add(
        "kb_articles",
        {"id": "k1", "helpful_votes": 10, "unhelpful_votes": 5},
        {"id": "k2", "helpful_votes": 0, "unhelpful_votes": 5},
        {"id": "k3"},  # no votes
    )
    # 10 / (10 + 5 + 0 + 5) = 0.5, the same in every period (votes have no timestamps).
    rows = wh.kpi("kb_helpfulness", START, END, every="week")
    assert {r.value for r in rows} == {0.5}


@pytest.mark.parametrize(
    "metric",
    [
        "csat",
        "nps",
        "ces",
        "ces_interactions",
        "iqs",
        "employee_engagement",
        "survey_response_rate",
        "positive_reviews",
        "feedback_response_rate",
        "kb_helpfulness",
    ],
)
def test_empty_window_is_null(wh: Wh, metric: str) -> None:
    # Data outside the window only.
    wh.add("survey_responses", *responses("csat", [5], created_at="2026-01-01T00:00:00Z"))
    v = one(wh, metric)
    assert (v.value, v.n) == (None, 0)
