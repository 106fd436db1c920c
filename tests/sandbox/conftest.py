from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from deskpulse.sandbox import SandboxServer


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxServer]:
    """A small sandbox without rate limits, shared by a test module."""
    with SandboxServer(seed=11, tickets=300, rate_limit=False) as server:
        yield server


@pytest.fixture
def client(sb: SandboxServer) -> Iterator[httpx.Client]:
    with sb.client() as c:
        yield c


class FakeClock:
    """Injectable clock for the rate limiter."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
