"""The sandbox's registered dialects: built-ins and plugins register the same way (see
sandbox.dialect for what one is).

A plugin that brings a connector (connectors.registry) can bring the sandbox dialect that serves
its vendor's API the same way, as an entry point in the group `deskpulse.sandbox`, named by
vendor:

    [project.entry-points."deskpulse.sandbox"]
    acme = "acme_deskpulse.sandbox:AcmeDialect"

The built-ins are the very same specs in `BUILTIN`. The order is the order of their ports
(`deskpulse sandbox --port P` serves the first on P, the next on P+1, ...) and of their env
lines: the built-ins first, then plugins by name.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from deskpulse.sandbox.dialect import DialectFactory

GROUP = "deskpulse.sandbox"

BUILTIN: tuple[str, ...] = (
    "zendesk = deskpulse.sandbox.zendesk:ZendeskDialect",
    "klaviyo = deskpulse.sandbox.klaviyo:KlaviyoDialect",
    "liveagent = deskpulse.sandbox.liveagent:LiveAgentDialect",
    "freshdesk = deskpulse.sandbox.freshdesk:FreshdeskDialect",
)
"""Entry point specs (`vendor = module:attr`) of the dialects shipped with deskpulse."""


class DialectPluginError(RuntimeError):
    """A dialect plugin that cannot be loaded (the message names it and why)."""


def _load(entry: EntryPoint) -> DialectFactory:
    try:
        factory = entry.load()
    except Exception as exc:  # a broken plugin must not take the built-ins down with it
        raise DialectPluginError(
            f"sandbox dialect plugin {entry.name!r} ({entry.value}) failed to load: "
            f"{exc.__class__.__name__}: {exc}"
        ) from None
    if not callable(factory):
        raise DialectPluginError(f"sandbox dialect plugin {entry.name!r} is not callable")
    loaded: DialectFactory = factory
    return loaded


def load() -> dict[str, DialectFactory]:
    """The built-ins, then every installed plugin by name; a plugin claiming a built-in's name
    with another factory is an error."""
    found: dict[str, DialectFactory] = {}
    specs: dict[str, str] = {}
    for spec in BUILTIN:
        name, _, value = spec.partition("=")
        entry = EntryPoint(name.strip(), value.strip(), GROUP)
        found[entry.name] = _load(entry)
        specs[entry.name] = entry.value
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        if specs.get(entry.name) == entry.value:
            continue  # the package may publish its built-ins as entry points too
        if entry.name in found:
            raise DialectPluginError(
                f"two sandbox dialects claim vendor {entry.name!r}; uninstall one of them"
            )
        found[entry.name] = _load(entry)
        specs[entry.name] = entry.value
    return found


DIALECTS: dict[str, DialectFactory] = load()
"""vendor -> dialect factory, in port order."""
