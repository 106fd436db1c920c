"""Zendesk's rate limits as the sandbox applies them: budgets per bucket, and the headers and 429
body Zendesk sends (see the rate-limit section of sandbox.zendesk's docstring)."""

from __future__ import annotations

from dataclasses import dataclass

from deskpulse.sandbox.limits import SandboxConfigError, Usage

ACCOUNT = "account"
INCREMENTAL_MESSAGE = "Number of allowed incremental export API requests per minute exceeded"
ACCOUNT_MESSAGE = "Number of allowed API requests per minute exceeded"

# Buckets that Zendesk reports in a `Zendesk-RateLimit-<name>` header.
HEADER_BUCKETS = frozenset({"incremental-exports", "incremental-exports-cursor"})


PLANS: dict[str, int] = {"team": 200, "professional": 400, "enterprise": 700}
"""Account-wide requests a minute per Zendesk Support plan (developer.zendesk.com,
api-reference/introduction/rate-limits: "Zendesk Support plan limits")."""


@dataclass(frozen=True)
class RateLimits:
    """Requests per minute. Defaults are Zendesk's real limits (Enterprise plan account-wide).

    `incremental_exports` is one budget shared by the incremental exports (10 a minute: the
    conservative reading of Zendesk's documentation; the High Volume add-on gives 30).
    `ticket_updates` is the Update Ticket endpoint's own limit (100 a minute per account,
    support.zendesk.com article 8638126078234).
    """

    account: int = 700
    incremental_exports: int = 10
    incremental_exports_cursor: int = 20
    talk_incremental_exports: int = 10
    chat: int = 200
    ticket_updates: int = 100
    dialect: str = "zendesk"

    @classmethod
    def for_plan(cls, plan: str) -> RateLimits:
        """A plan's documented budgets (`team`, `professional`, `enterprise`)."""
        if plan not in PLANS:
            raise SandboxConfigError(f"unknown plan {plan!r} (known: {', '.join(PLANS)})")
        return cls(account=PLANS[plan])

    def budgets(self) -> dict[str, int]:
        return {
            ACCOUNT: self.account,
            "incremental-exports": self.incremental_exports,
            "incremental-exports-cursor": self.incremental_exports_cursor,
            "talk-incremental-exports": self.talk_incremental_exports,
            "chat": self.chat,
            "ticket-updates": self.ticket_updates,
        }


def rate_headers(usage: Usage, bucket: str | None) -> list[tuple[str, str]]:
    """The account-wide budget on every answer, plus Zendesk's header for export buckets."""
    reset = usage.reset_text
    acc_limit = str(usage.limits.get(ACCOUNT, 0))
    acc_left = str(usage.remaining.get(ACCOUNT, 0))
    headers = [
        ("X-Rate-Limit", acc_limit),
        ("X-Rate-Limit-Remaining", acc_left),
        ("ratelimit-limit", acc_limit),
        ("ratelimit-remaining", acc_left),
        ("ratelimit-reset", reset),
    ]
    if bucket in HEADER_BUCKETS and bucket in usage.limits:
        total, left = usage.limits[bucket], usage.remaining[bucket]
        headers.append(
            (f"Zendesk-RateLimit-{bucket}", f"total={total}; remaining={left}; resets={reset}")
        )
    return headers


def too_many_message(usage: Usage) -> str:
    return ACCOUNT_MESSAGE if usage.over == (ACCOUNT,) else INCREMENTAL_MESSAGE
