"""PostgreSQL for tests: a private schema per test on DESKPULSE_TEST_POSTGRES_URL, else a skip."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bench.fleet_harness import pg_schema

POSTGRES_URL = os.environ.get("DESKPULSE_TEST_POSTGRES_URL")


@contextmanager
def postgres_schema_url() -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema; dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("DESKPULSE_TEST_POSTGRES_URL is not set")
    with pg_schema(POSTGRES_URL, prefix="t_") as url:
        yield url
