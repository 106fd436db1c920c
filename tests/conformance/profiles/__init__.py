"""Conformance profiles: how the shared suite gets a working instance of each connector.

A vendor joins the suite with one module here (found automatically), registering a profile:

    @profile("acme")
    @contextmanager
    def acme(tmp_path: Path) -> Iterator[dict[str, str]]:
        with SandboxServer(dialects=["acme"], tickets=60, rate_limit=False) as sandbox:
            yield sandbox.dialect("acme").env(limited=False)   # the ACME_* variables

The profile starts the vendor's sandbox dialect and yields the environment that points
deskpulse at it; the suite builds the source through the real path (`DESKPULSE_SOURCES`, the
vendor's settings class, `from_settings`) and syncs it end to end. A connector read by another
command (the `files` import) registers `connect=True` and yields the connector itself.

A plugin brings its profile as it brings its connector and its sandbox dialect: an entry point
in the group `deskpulse.conformance`, named by vendor, whose object is the `start(tmp_path)`
above (see tests/plugin_example: `acme = "acme_deskpulse.sandbox:conformance"`).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Profile:
    vendor: str
    start: Callable[[Path], AbstractContextManager[Any]]
    connect: bool = False  # True: `start` yields a Connector, not an environment


PROFILES: dict[str, Profile] = {}


def profile(
    vendor: str, *, connect: bool = False
) -> Callable[[Callable[[Path], AbstractContextManager[Any]]], Any]:
    def register(start: Callable[[Path], AbstractContextManager[Any]]) -> Any:
        if vendor in PROFILES:
            raise ValueError(f"two conformance profiles for {vendor!r}")
        PROFILES[vendor] = Profile(vendor, start, connect)
        return start

    return register


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

for _entry in entry_points(group="deskpulse.conformance"):
    if _entry.name not in PROFILES:  # a profile here wins over the plugin's own
        PROFILES[_entry.name] = Profile(_entry.name, _entry.load())
