"""Klaviyo settings (`KLAVIYO_*`), the API-key auth, and the revision pin.

The private API key goes in `Authorization: Klaviyo-API-Key <key>`; it is a pydantic `SecretStr`
and only `KlaviyoAuth` reads its value, so no repr, log line or error message can show it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Generator
from datetime import UTC, date, datetime, timedelta

import httpx
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from deskpulse.connectors.errors import ConfigError
from deskpulse.connectors.http import base_url_problem

log = logging.getLogger(__name__)

DEFAULT_REVISION = "2026-07-15"
"""The revision of shared/specs/klaviyo/stable.json: every request and test is checked against it."""

DEFAULT_BASE_URL = "https://a.klaviyo.com"

REVISION_MAX_AGE = timedelta(days=365)
"""Klaviyo keeps a revision stable for a year, deprecated for the next, then retires it."""

_REVISION = re.compile(r"^(\d{4}-\d{2}-\d{2})(\.[a-z0-9]+)?$")


class KlaviyoSettings(BaseSettings):
    """One Klaviyo account, from `KLAVIYO_*` variables (or a `.env` line each)."""

    model_config = SettingsConfigDict(
        env_prefix="KLAVIYO_", extra="ignore", env_ignore_empty=True, env_file=None
    )

    api_key: SecretStr | None = Field(None, repr=False)
    revision: str = DEFAULT_REVISION
    base_url: str = DEFAULT_BASE_URL
    # Read Klaviyo's own predictive analytics (historic/predicted CLV, churn probability).
    predictive: bool = False
    # Client-side pacing: "off", or the spec's per-operation limits (the default).
    rate_limits: str | None = None
    # Seconds of the steady (per-minute) window the client paces in, its burst window 1/60 of
    # it (60 on Klaviyo; shorter against a sandbox run with --time-scale K, whose env lines say
    # KLAVIYO_RATE_WINDOW=60/K).
    rate_window: float = Field(60.0, ge=1, le=60)

    @field_validator("revision")
    @classmethod
    def _revision_format(cls, value: str) -> str:
        value = value.strip()
        match = _REVISION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a revision (YYYY-MM-DD, e.g. {DEFAULT_REVISION})")
        try:
            date.fromisoformat(match.group(1))
        except ValueError:
            raise ValueError(f"{value!r} is not a valid date") from None
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if problem := base_url_problem(value):
            raise ValueError(problem)
        return value

    @property
    def configured(self) -> bool:
        return self.api_key is not None and bool(self.api_key.get_secret_value())

    @property
    def paced(self) -> bool:
        return (self.rate_limits or "").strip().lower() not in ("off", "none", "0")


def load(**values: object) -> KlaviyoSettings:
    """Settings from the environment (and `values`); a bad value is one ConfigError line
    naming the variable."""
    try:
        return KlaviyoSettings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "KLAVIYO_" + str(error["loc"][0]).upper() if error["loc"] else "KLAVIYO_*"
        reason = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {name}: {reason}") from None


def revision_date(revision: str) -> date:
    return date.fromisoformat(revision.split(".", 1)[0])


def revision_warning(revision: str, today: date | None = None) -> str | None:
    """A warning when the pinned revision is more than a year old (deprecated, then retired
    in its third year), else None."""
    today = today or datetime.now(UTC).date()
    released = revision_date(revision)
    if today - released <= REVISION_MAX_AGE:
        return None
    years = "two years" if today - released > 2 * REVISION_MAX_AGE else "a year"
    return (
        f"klaviyo: KLAVIYO_REVISION {revision} is more than {years} old; Klaviyo deprecates "
        f"revisions after a year and retires them after two: move to a current revision "
        f"(deskpulse is tested with {DEFAULT_REVISION})"
    )


class KlaviyoAuth(httpx.Auth):
    """`Authorization: Klaviyo-API-Key <private key>`; its repr hides the key."""

    def __init__(self, key: SecretStr) -> None:
        self._key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Klaviyo-API-Key {self._key.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "KlaviyoAuth(**********)"


def require_key(settings: KlaviyoSettings, variable: str = "KLAVIYO_API_KEY") -> SecretStr:
    if not settings.configured:
        raise ConfigError(
            f"klaviyo: set {variable} (a private API key with read access to profiles, "
            "events and metrics; see .env.example)"
        )
    assert settings.api_key is not None
    return settings.api_key


__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_REVISION",
    "KlaviyoAuth",
    "KlaviyoSettings",
    "load",
    "require_key",
    "revision_warning",
]
