"""Which connector serves which vendor: built-ins and plugins register the same way.

A connector factory is any callable `factory(source, **options) -> Connector` (a connector class
is one). `deskpulse sync` builds sources from factories that also carry a `settings_class` and a
`from_settings` classmethod (the configuration contract in connectors.base). Plugins publish it as an entry point in the group `deskpulse.connectors`, named by vendor:

    [project.entry-points."deskpulse.connectors"]
    acme = "acme_deskpulse:AcmeConnector"

Built-in vendors are declared as the very same entry point specs in `BUILTIN` and loaded by the
same code, so a built-in has no privileges a plugin lacks (and a plugin cannot silently replace a
built-in: a clash is an error).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from deskpulse.connectors.base import Connector
from deskpulse.connectors.errors import ConfigError

ConnectorFactory = Callable[..., Connector]

GROUP = "deskpulse.connectors"

BUILTIN: tuple[str, ...] = (
    "files = deskpulse.connectors.files:FilesConnector",
    "klaviyo = deskpulse.connectors.klaviyo:KlaviyoConnector",
    "zendesk = deskpulse.connectors.zendesk:ZendeskConnector",
    "liveagent = deskpulse.connectors.liveagent:LiveAgentConnector",
    "freshdesk = deskpulse.connectors.freshdesk:FreshdeskConnector",
)
"""Entry point specs (`vendor = module:attr`) of the connectors shipped with deskpulse."""

REGISTRY: dict[str, ConnectorFactory] = {}
"""vendor -> factory. Filled by `load()`; `register()` adds to it."""

_loaded = False


def register(vendor: str, factory: ConnectorFactory, *, replace: bool = False) -> None:
    """Make `factory` serve `vendor`; a second, different factory for a vendor is a ConfigError."""
    current = REGISTRY.get(vendor)
    if current is not None and current is not factory and not replace:
        raise ConfigError(f"two connectors claim vendor {vendor!r}; uninstall one of them")
    REGISTRY[vendor] = factory


def _entry_point(spec: str) -> EntryPoint:
    name, _, value = spec.partition("=")
    return EntryPoint(name.strip(), value.strip(), GROUP)


def _register_entry_point(entry: EntryPoint) -> None:
    try:
        factory = entry.load()
    except Exception as exc:  # a broken plugin must not take the built-ins down with it
        raise ConfigError(
            f"connector plugin {entry.name!r} ({entry.value}) failed to load: "
            f"{exc.__class__.__name__}: {exc}"
        ) from None
    if not callable(factory):
        raise ConfigError(f"connector plugin {entry.name!r} ({entry.value}) is not callable")
    register(entry.name, factory)


def load() -> dict[str, ConnectorFactory]:
    """Register the built-ins and every installed plugin (once); return the registry."""
    global _loaded
    if not _loaded:
        seen: set[str] = set()
        for spec in BUILTIN:
            entry = _entry_point(spec)
            seen.add(f"{entry.name}={entry.value}")
            _register_entry_point(entry)
        for entry in entry_points(group=GROUP):
            # The package may publish its built-ins as entry points too: same spec, no clash.
            if f"{entry.name}={entry.value}" not in seen:
                _register_entry_point(entry)
        _loaded = True
    return REGISTRY


def vendors() -> list[str]:
    return sorted(load())


def create(vendor: str, source: str | None = None, **options: Any) -> Connector:
    """A connector instance for `vendor`, named `source` (default: the vendor's name)."""
    factory = load().get(vendor)
    if factory is None:
        raise ConfigError(f"unknown connector {vendor!r} (available: {', '.join(vendors())})")
    return factory(source or vendor, **options)


__all__ = ["BUILTIN", "GROUP", "REGISTRY", "ConnectorFactory", "create", "load", "register"]
