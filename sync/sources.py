"""Which sources are configured, and the connectors that read them.

One Zendesk source comes from the ZENDESK_* variables and is named `zendesk`. Further sources of
the same vendor (e.g. two Zendesk brands) get their own names through the same factory path in
connectors.registry; the warehouse keys every row by source, so they never collide.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from deskpulse.connectors.base import Connector
from deskpulse.connectors.errors import ConfigError
from deskpulse.kpi_core.canonical import InvalidRow, parse_datetime
from deskpulse.sync.settings import Settings

NO_SOURCE = (
    "no source configured: set ZENDESK_SUBDOMAIN, ZENDESK_EMAIL and ZENDESK_API_TOKEN "
    "(see .env.example), or load files with `deskpulse import DIR`"
)


def start_time(settings: Settings) -> datetime | None:
    if not settings.start_date:
        return None
    try:
        return parse_datetime(settings.start_date)
    except InvalidRow:
        raise ConfigError(
            f"invalid setting DESKPULSE_START_DATE: {settings.start_date!r} is not a date "
            "(use YYYY-MM-DD)"
        ) from None


def rate_limits(text: str | None, defaults: Mapping[str, int]) -> dict[str, int] | None:
    """`ZENDESK_RATE_LIMITS`: "off", or `bucket=per_minute` pairs over the defaults."""
    if text is None or not text.strip():
        return dict(defaults)
    if text.strip().lower() in ("off", "none", "0"):
        return None
    limits = dict(defaults)
    for item in text.split(","):
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in defaults or not value.strip().isdigit() or int(value) <= 0:
            raise ConfigError(
                f"invalid setting ZENDESK_RATE_LIMITS: {item.strip()!r} (use off, or e.g. "
                f"incremental=30; buckets: {', '.join(defaults)})"
            )
        limits[name] = int(value)
    return limits


def configured(settings: Settings) -> list[str]:
    """Names of the sources the settings describe."""
    names = []
    if settings.zendesk_subdomain or settings.zendesk_base_url:
        names.append("zendesk")
    return names


def build_connectors(settings: Settings, only: Sequence[str] | None = None) -> list[Connector]:
    names = configured(settings)
    if not names:
        raise ConfigError(NO_SOURCE)
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise ConfigError(
                f"unknown source {', '.join(unknown)} (configured: {', '.join(names)})"
            )
        names = [n for n in names if n in only]
    return [_build(name, settings) for name in names]


def _build(name: str, settings: Settings) -> Connector:
    from deskpulse.connectors.registry import create
    from deskpulse.connectors.zendesk import DEFAULT_RATE_LIMITS, ZendeskConfig

    config = ZendeskConfig(
        subdomain=settings.zendesk_subdomain,
        email=settings.zendesk_email,
        api_token=settings.zendesk_api_token,  # type: ignore[arg-type]
        oauth_token=settings.zendesk_oauth_token,  # type: ignore[arg-type]
        base_url=settings.zendesk_base_url,
    )
    return create(
        "zendesk",
        name,
        config=config,
        timeout=settings.http_timeout,
        max_retries=settings.max_retries,
        start_time=start_time(settings),
        rate_limits=rate_limits(settings.zendesk_rate_limits, DEFAULT_RATE_LIMITS),
    )
