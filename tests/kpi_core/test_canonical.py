"""The import contract refuses, as one row's reason, every value a warehouse could not store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from deskpulse.kpi_core.canonical import InvalidRow, coerce_row, parse_datetime


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1900-01-01T00:00:00Z", datetime(1900, 1, 1, tzinfo=UTC)),
        ("1900-01-01T00:30:00+00:30", datetime(1900, 1, 1, tzinfo=UTC)),
        ("2199-12-31T23:59:59.999999", datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2026-03-02", datetime(2026, 3, 2, tzinfo=UTC)),
        (1767225600, datetime(2026, 1, 1, tzinfo=UTC)),
        (-2208988800, datetime(1900, 1, 1, tzinfo=UTC)),
    ],
)
def test_times_inside_the_range(value: object, expected: datetime) -> None:
    assert parse_datetime(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "1899-12-31T23:59:59Z",
        "1900-01-01T00:00:00+00:01",  # 1899 in UTC
        "2199-12-31T23:30:00-01:00",  # 2200 in UTC
        "0001-01-01T00:00:00+14:00",  # would overflow converting to UTC
        "9999-12-31T23:59:59-14:00",  # likewise
        1e20,
        -1e20,
        float("nan"),
        float("inf"),
        1767225600000,  # milliseconds taken for seconds: year 57,970
    ],
)
def test_times_outside_the_range_are_a_reason_not_a_crash(value: object) -> None:
    with pytest.raises(InvalidRow, match=r"out of range \(1900-2199\)"):
        parse_datetime(value)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"id": "x" * 129}, "id: longer than 128 characters"),
        ({"id": "1", "views": "2147483648"}, "views: out of range: '2147483648'"),
        ({"id": "1", "views": -(2**31) - 1}, "views: out of range: -2147483649"),
        ({"id": "1", "title": "a\x00b"}, "title: contains a NUL character"),
        ({"id": "1", "title": "a\ud83db"}, "title: not valid Unicode (a lone surrogate)"),
        ({"id": "1", "tags": ["ok", {"deep": float("inf")}]}, "tags: not a finite number: inf"),
        ({"id": "1", "extra": {"k\x00": 1}}, "contains a NUL character"),
    ],
)
def test_unstorable_values_are_refused(row: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidRow, match=reason.replace("(", r"\(").replace(")", r"\)")):
        coerce_row("kb_articles", row, source="files")


def test_the_largest_whole_number_a_column_holds_is_kept() -> None:
    row = coerce_row("kb_articles", {"id": "1", "views": "2147483647"}, source="files")
    assert row["views"] == 2_147_483_647
