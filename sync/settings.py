"""Settings, from the environment and an optional `.env` file (every variable is in .env.example).

Secrets are `SecretStr`: their repr and str are `**********`, so a printed or logged Settings never
shows a key. Only the HTTP auth of a connector ever reads `get_secret_value()`.
"""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from deskpulse.connectors.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    database_url: str = Field("sqlite:///deskpulse.db", alias="DESKPULSE_DATABASE_URL", repr=False)
    timezone: str = Field("UTC", alias="DESKPULSE_TIMEZONE")
    schedules: Path | None = Field(None, alias="DESKPULSE_SCHEDULES")
    kpi_config: Path | None = Field(None, alias="DESKPULSE_KPI_CONFIG")
    log_level: str = Field("WARNING", alias="DESKPULSE_LOG_LEVEL")
    # Processes that compute the KPI catalog side by side (0: one per CPU core, at most 4).
    kpi_workers: int = Field(0, alias="DESKPULSE_KPI_WORKERS", ge=0)
    http_timeout: float = Field(30.0, alias="DESKPULSE_HTTP_TIMEOUT", gt=0)
    max_retries: int = Field(6, alias="DESKPULSE_MAX_RETRIES", ge=0)
    # First sync of an incremental stream starts here (ISO date or epoch); default: all history.
    start_date: str | None = Field(None, alias="DESKPULSE_START_DATE")

    zendesk_subdomain: str | None = Field(None, alias="ZENDESK_SUBDOMAIN")
    zendesk_email: str | None = Field(None, alias="ZENDESK_EMAIL")
    zendesk_api_token: SecretStr | None = Field(None, alias="ZENDESK_API_TOKEN")
    zendesk_oauth_token: SecretStr | None = Field(None, alias="ZENDESK_OAUTH_TOKEN")
    zendesk_base_url: str | None = Field(None, alias="ZENDESK_BASE_URL")
    # Client-side pacing, requests per minute per bucket: "off", or e.g. "incremental=30"
    # (the High Volume add-on) over the defaults default=700, incremental=10, talk=10, chat=200.
    zendesk_rate_limits: str | None = Field(None, alias="ZENDESK_RATE_LIMITS")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Berlin)") from None
        return value

    @property
    def database_url_display(self) -> str:
        """The database URL with any password masked, for output."""
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.database_url).render_as_string(hide_password=True)
        except Exception:
            return "<unparseable database URL>"

    @property
    def workers(self) -> int:
        return self.kpi_workers or min(os.cpu_count() or 1, 4)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def zendesk_configured(self) -> bool:
        return bool(
            (self.zendesk_subdomain or self.zendesk_base_url)
            and (self.zendesk_oauth_token or (self.zendesk_email and self.zendesk_api_token))
        )


def load_settings(**overrides: object) -> Settings:
    """Read settings; a bad value becomes one `ConfigError` line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        alias = Settings.model_fields[field].alias if field in Settings.model_fields else field
        raise ConfigError(f"invalid setting {alias}: {first['msg']}") from None
