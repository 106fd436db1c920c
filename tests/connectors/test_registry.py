"""The connector registry: built-ins and plugins go through the same entry-point path."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from deskpulse.connectors import registry
from deskpulse.connectors.errors import ConfigError
from deskpulse.connectors.zendesk import ZendeskConnector


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "REGISTRY", {})
    monkeypatch.setattr(registry, "_loaded", False)


def test_builtins_are_registered(fresh):
    loaded = registry.load()
    assert loaded["zendesk"] is ZendeskConnector
    assert "files" in loaded
    assert registry.vendors() == sorted(loaded)


def test_create_builds_a_named_instance(fresh):
    connector = registry.create(
        "zendesk", "zendesk-eu", subdomain="acme", email="a@example.com", api_token="t"
    )
    assert connector.source == "zendesk-eu" and connector.vendor == "zendesk"


def test_unknown_vendor_lists_the_known_ones(fresh):
    with pytest.raises(ConfigError, match=r"unknown connector 'acme'.*zendesk"):
        registry.create("acme")


class AcmeConnector:
    def __init__(self, source: str, **options: object) -> None:
        self.source = source


def test_plugins_register_through_entry_points(fresh, monkeypatch):
    plugin = EntryPoint("acme", f"{__name__}:AcmeConnector", registry.GROUP)

    def entry_points(group: str) -> list[EntryPoint]:
        return [plugin] if group == registry.GROUP else []

    monkeypatch.setattr(registry, "entry_points", entry_points)
    assert registry.load()["acme"] is AcmeConnector  # type: ignore[comparison-overlap]
    assert registry.load()["zendesk"] is ZendeskConnector


def test_a_plugin_cannot_silently_replace_a_builtin(fresh, monkeypatch):
    rogue = EntryPoint("zendesk", f"{__name__}:AcmeConnector", registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [rogue])
    with pytest.raises(ConfigError, match="two connectors claim vendor 'zendesk'"):
        registry.load()


def test_a_broken_plugin_is_one_clear_error(fresh, monkeypatch):
    broken = EntryPoint("broken", "no_such_module_xyz:Thing", registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [broken])
    with pytest.raises(ConfigError, match=r"plugin 'broken'.*failed to load"):
        registry.load()
