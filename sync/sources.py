"""Which sources are configured, and the connectors that read them.

A source is a name, a vendor and that vendor's settings read under the name's env prefix:

    DESKPULSE_SOURCES="zendesk, zendesk_eu=zendesk"
    -> source `zendesk`    (vendor zendesk) from ZENDESK_SUBDOMAIN, ZENDESK_API_TOKEN, ...
    -> source `zendesk_eu` (vendor zendesk) from ZENDESK_EU_SUBDOMAIN, ZENDESK_EU_API_TOKEN, ...

Unset, every registered vendor (plugins included) with a settings class is a candidate source
named after itself, and it is built when any of its variables is set. A source named in
DESKPULSE_SOURCES must be configured. Each source has its own connector instance: its own
cursors (the warehouse keys them by source name) and its own rate-limit budget; a source with a
`budget_share` below 1 paces at that part of it (connectors.skeleton.VendorConnector.spend_share;
a connector that cannot is refused at start).

The vendor's settings class, its `from_settings` and the `SourceOptions` it receives are the
contract of connectors.base; this module knows no vendor.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, DotEnvSettingsSource, EnvSettingsSource

from deskpulse.connectors.base import Connector, SourceOptions
from deskpulse.connectors.errors import ConfigError
from deskpulse.kpi_core.canonical import InvalidRow, parse_datetime
from deskpulse.sync.settings import Settings, setting_error
from deskpulse.sync.source_spec import NAME as _NAME
from deskpulse.sync.source_spec import SourceSpec as SourceSpec
from deskpulse.sync.source_spec import factories
from deskpulse.sync.source_spec import vendor_settings_classes as vendor_settings_classes
from deskpulse.sync.sources_file import load

_factories = factories  # the name sync.hints and older callers import


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


def no_source_message(vendors: Sequence[str]) -> str:
    """Names every vendor `sync` can read, with its variables' prefix."""
    hints = ", ".join(f"{v} ({v.upper()}_*)" for v in vendors) or "none installed"
    return (
        f"no source configured: set the variables of a vendor: {hints}; see .env.example "
        "(or load files with `deskpulse import DIR`)"
    )


def parse_sources(text: str | None, vendors: Sequence[str]) -> list[SourceSpec] | None:
    """DESKPULSE_SOURCES as specs; None when unset (every vendor is a candidate)."""
    if text is None or not text.strip():
        return None
    specs: list[SourceSpec] = []
    for item in text.split(","):
        if not item.strip():
            continue
        name, _, vendor = item.partition("=")
        name, vendor = name.strip().lower(), (vendor.strip() or name.strip()).lower()
        if not _NAME.match(name):
            raise ConfigError(
                f"invalid setting DESKPULSE_SOURCES: {name!r} is not a source name "
                "(lower-case letters, digits and _, starting with a letter)"
            )
        if vendor not in vendors:
            raise ConfigError(
                f"invalid setting DESKPULSE_SOURCES: {item.strip()!r}: unknown vendor "
                f"{vendor!r} (installed: {', '.join(vendors)})"
            )
        if any(s.name == name for s in specs):
            raise ConfigError(f"invalid setting DESKPULSE_SOURCES: source {name!r} is listed twice")
        specs.append(SourceSpec(name, vendor))
    return specs


def _present(settings_class: type[BaseSettings], prefix: str, env_file: Path | None) -> bool:
    """Whether any variable of the settings class is set under `prefix` (environment or file)."""
    fields = set(settings_class.model_fields)
    found = dict(EnvSettingsSource(settings_class, env_prefix=prefix, env_ignore_empty=True)())
    if env_file is not None:
        dotenv = DotEnvSettingsSource(
            settings_class, env_file=env_file, env_prefix=prefix, env_ignore_empty=True
        )
        found.update(dotenv())
    return any(key in fields and value not in (None, "") for key, value in found.items())


def load_source_settings(
    settings_class: type[BaseSettings],
    prefix: str,
    env_file: Path | None,
    values: dict[str, Any] | None = None,
) -> BaseSettings:
    """A vendor's settings under `prefix` (`values`: given outright, over the environment's);
    a bad value is one ConfigError naming the variable."""
    try:
        return settings_class(_env_prefix=prefix, _env_file=env_file, **(values or {}))
    except ValidationError as exc:
        raise ConfigError(setting_error(exc, settings_class, prefix)) from None


def configured(settings: Settings) -> list[SourceSpec]:
    """The sources the settings describe, in order (DESKPULSE_SOURCES, else vendor order)."""
    if settings.sources_file is not None:
        return load(settings.sources_file)
    factories = _factories()
    vendors = sorted(factories)
    specs = parse_sources(settings.sources, vendors)
    if specs is None:
        return [
            SourceSpec(v, v)
            for v in vendors
            if _present(factories[v].settings_class, f"{v.upper()}_", settings.env_file)
        ]
    for spec in specs:
        if not _present(factories[spec.vendor].settings_class, spec.env_prefix, settings.env_file):
            raise ConfigError(
                f"source {spec.name} ({spec.vendor}) is listed in DESKPULSE_SOURCES but none of "
                f"its {spec.env_prefix}* variables is set (see .env.example)"
            )
    return specs


def build_connectors(settings: Settings, only: Sequence[str] | None = None) -> list[Connector]:
    """A connector per configured source (`only`: just these names)."""
    specs = configured(settings)
    if not specs:
        raise ConfigError(no_source_message(sorted(_factories())))
    names = [s.name for s in specs]
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise ConfigError(
                f"unknown source {', '.join(unknown)} (configured: {', '.join(names)})"
            )
        specs = [s for s in specs if s.name in only]
    begin = start_time(settings)
    connectors: list[Connector] = []
    try:
        for spec in specs:
            connectors.append(build(spec, settings, start=begin))
    except BaseException:
        for connector in connectors:
            connector.close()
        raise
    return connectors


def build(
    spec: SourceSpec, settings: Settings, *, start: datetime | None = None, **options: Any
) -> Connector:
    """One source's connector: its vendor's settings under its prefix, plus the shared options."""
    factory = _factories()[spec.vendor]
    vendor_settings = load_source_settings(
        factory.settings_class, spec.env_prefix, spec.secrets_file or settings.env_file,
        dict(spec.settings),
    )  # fmt: skip
    shared = SourceOptions(
        env_prefix=spec.env_prefix,
        timeout=settings.http_timeout,
        max_retries=settings.max_retries,
        start_time=start,
        **options,
    )
    connector: Connector = factory.from_settings(spec.name, vendor_settings, shared)
    if spec.budget_share < 1:
        spend_share = getattr(connector, "spend_share", None)
        if spend_share is None:
            connector.close()
            raise ConfigError(
                f"source {spec.name}: its connector ({spec.vendor}) cannot pace at a "
                f"budget_share of {spec.budget_share:g}: leave budget_share out"
            )
        spend_share(spec.budget_share)  # connectors.skeleton.VendorConnector.spend_share
    return connector
