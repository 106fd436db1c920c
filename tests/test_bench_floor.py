"""The backfill benchmark's floor (bench.backfill.least_minutes): the least time a client that
keeps at most a budget's requests in any minute needs before its last request may go."""

from __future__ import annotations

import pytest

from bench.backfill import least_minutes


@pytest.mark.parametrize(
    ("requests", "per_minute", "minutes"),
    [
        (0, 10, 0),
        (10, 10, 0),  # a minute's worth goes at once
        (11, 10, 1),  # the eleventh a minute after the first
        (80, 10, 7),  # bursts at minutes 0 to 7
        (5_168, 700, 7),
        (173, 10, 17),
    ],
)
def test_least_minutes(requests: int, per_minute: int, minutes: int) -> None:
    assert least_minutes(requests, per_minute) == minutes
