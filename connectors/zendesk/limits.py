"""Zendesk's rate-limit headers, read for the shared client (a `LimitReader`).

Zendesk sends the account-wide budget as `ratelimit-remaining`/`ratelimit-reset` (older
responses: `X-Rate-Limit-Remaining` alone, for a 60 s window), and the endpoint's own budget as
`Zendesk-RateLimit-<endpoint>: total=10; remaining=9; resets=45` (e.g.
`Zendesk-RateLimit-incremental-exports`, `...-incremental-exports-cursor` on the users export).
The endpoint header describes the endpoint just called, i.e. the request's own bucket; a request
in the default bucket that gets one anyway is charged to a bucket named after the endpoint.
The budgets themselves (`ratelimit-limit`/`X-Rate-Limit`, `total=`) are passed on as well: the
plan's real budget paces the client and plans a backfill (zendesk.backfill).
"""

from __future__ import annotations

import httpx

from deskpulse.connectors.http import DEFAULT_BUCKET, Observed, header_number

ENDPOINT_HEADER = "zendesk-ratelimit-"


def _endpoint_budget(value: str) -> tuple[int | None, float | None, int | None]:
    """`total=10; remaining=9; resets=45` -> (remaining, resets seconds, total)."""
    remaining: int | None = None
    resets: float | None = None
    total: int | None = None
    for part in value.split(";"):
        key, _, raw = part.strip().partition("=")
        try:
            if key == "remaining":
                remaining = int(raw)
            elif key == "resets":
                resets = float(raw)
            elif key == "total":
                total = int(raw)
        except ValueError:
            continue
    return remaining, resets, total


def read_limits(bucket: str, headers: httpx.Headers) -> list[Observed]:
    """What a Zendesk response says about the account's and the endpoint's budgets."""
    seen: list[Observed] = []
    remaining = header_number(headers, "ratelimit-remaining", "x-rate-limit-remaining")
    if remaining is not None:
        reset = header_number(headers, "ratelimit-reset")
        limit = header_number(headers, "ratelimit-limit", "x-rate-limit")
        seen.append(Observed(DEFAULT_BUCKET, int(remaining), reset, int(limit) if limit else None))
    for name, value in headers.items():
        lowered = name.lower()
        if not lowered.startswith(ENDPOINT_HEADER):
            continue
        left, resets, total = _endpoint_budget(value)
        if left is not None:
            target = bucket if bucket != DEFAULT_BUCKET else lowered[len(ENDPOINT_HEADER) :]
            seen.append(Observed(target, left, resets, total))
    return seen
