"""Zendesk's settings: the `ZENDESK_*` variables (or `<SOURCE>_*` for a second account).

Field rules live here and name no variable (the loader prefixes "invalid setting ZENDESK_X:");
the either/or rules (subdomain or base URL, API token or OAuth token) are checked when the
connector is built (`ZendeskConnector.from_settings`), with the source's own variable names.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from deskpulse.connectors.http import DEFAULT_BUCKET, base_url_problem
from deskpulse.connectors.zendesk.config import subdomain_problem
from deskpulse.connectors.zendesk.endpoints import (
    CHAT,
    INCREMENTAL,
    INCREMENTAL_CURSOR,
    TALK,
    WRITES,
)

DEFAULT_RATE_LIMITS: Mapping[str, int] = {
    DEFAULT_BUCKET: 700,
    INCREMENTAL: 10,
    INCREMENTAL_CURSOR: 20,
    TALK: 10,
    CHAT: 200,
    WRITES: 100,
}
"""Requests per minute per bucket on real Zendesk (Enterprise plan; lower plans: 200-400, which
the client adopts from the `ratelimit-limit` header as soon as it sees one)."""


RATE_WINDOW = 60.0
"""Seconds of Zendesk's rate-limit windows (budgets are per minute)."""


class ZendeskSettings(BaseSettings):
    """One Zendesk account. Env prefix `ZENDESK_` (source `zendesk`); a source `zendesk_eu`
    reads the same fields as `ZENDESK_EU_*`."""

    model_config = SettingsConfigDict(
        env_prefix="ZENDESK_", extra="ignore", env_ignore_empty=True, env_file=None
    )

    subdomain: str | None = None
    email: str | None = None
    api_token: SecretStr | None = None
    oauth_token: SecretStr | None = None
    # Overrides https://<subdomain>.zendesk.com (a proxy, or the sandbox).
    base_url: str | None = None
    # Client-side pacing, requests per minute per bucket: "off", or e.g. "incremental=30"
    # (the High Volume add-on) over the defaults (DEFAULT_RATE_LIMITS).
    rate_limits: str | None = None
    # Seconds of a rate-limit window the client paces in (60 on Zendesk; shorter against a
    # sandbox run with --time-scale K, whose env lines say ZENDESK_RATE_WINDOW=60/K).
    rate_window: float = Field(RATE_WINDOW, ge=1, le=RATE_WINDOW)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and (problem := base_url_problem(value.strip())):
            raise ValueError(problem)
        return value.strip() if value is not None else None

    @field_validator("subdomain")
    @classmethod
    def _bare_subdomain(cls, value: str | None) -> str | None:
        if value is not None and (problem := subdomain_problem(value.strip())):
            raise ValueError(problem)
        return value.strip() if value is not None else None

    @field_validator("rate_limits")
    @classmethod
    def _known_buckets(cls, value: str | None) -> str | None:
        parse_rate_limits(value, DEFAULT_RATE_LIMITS)
        return value


def parse_rate_limits(text: str | None, defaults: Mapping[str, int]) -> dict[str, int] | None:
    """ "off" (no pacing: None), or `bucket=per_minute` pairs over the defaults."""
    if text is None or not text.strip():
        return dict(defaults)
    if text.strip().lower() in ("off", "none", "0"):
        return None
    limits = dict(defaults)
    for item in text.split(","):
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in defaults or not value.strip().isdigit() or int(value) <= 0:
            raise ValueError(
                f"{item.strip()!r} (use off, or e.g. incremental=30; buckets: "
                f"{', '.join(defaults)})"
            )
        limits[name] = int(value)
    return limits
