"""What a source is (`SourceSpec`) and which vendors can be one: shared by sync.sources (the
environment's sources) and sync.sources_file (the sources file's rows)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings

NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class SourceSpec:
    """One entry of DESKPULSE_SOURCES, or one row of the sources file (sync.sources_file: its
    non-secret vendor `settings`, a `secrets_file`, its own `interval`, the vendor `account`
    whose budget it spends, its `budget_share` of it, its `writeback` actions file)."""

    name: str
    vendor: str
    settings: tuple[tuple[str, Any], ...] = ()
    secrets_file: Path | None = None
    interval: float | None = None
    account: str | None = None
    budget_share: float = 1.0
    writeback: Path | None = None

    @property
    def env_prefix(self) -> str:
        return f"{self.name.upper()}_"


def vendor_settings_classes() -> dict[str, type[BaseSettings]]:
    """Each vendor `sync` can build, with its settings class."""
    return {vendor: factory.settings_class for vendor, factory in factories().items()}


def factories() -> dict[str, Any]:
    """Registered vendors that `sync` can build from settings: those with a settings class
    (the `files` connector has none: it is read by `deskpulse import`)."""
    from deskpulse.connectors import registry

    return {
        vendor: factory
        for vendor, factory in registry.load().items()
        if getattr(factory, "settings_class", None) is not None
    }


__all__ = ["NAME", "SourceSpec", "factories", "vendor_settings_classes"]
