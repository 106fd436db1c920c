"""Sources as rows: many accounts in one TOML file (DESKPULSE_SOURCES_FILE) instead of one set of
environment variables per account.

    [[source]]
    name = "acme"                    # the source's name (cursors, runs, status key by it)
    vendor = "<vendor>"              # a registered connector
    interval = 300                   # seconds between syncs (default DESKPULSE_SYNC_INTERVAL)
    account = "acme"                 # the vendor account whose rate budget it spends (default: name)
    budget_share = 1.0               # share of that account's budget this source may spend
    secrets_file = "/etc/deskpulse/acme.env"   # optional: NAME=value lines (ACME_API_TOKEN=...)
    writeback = "/etc/deskpulse/acme-writeback.toml"   # optional: this source's write-back actions
    [source.settings]                # the vendor's non-secret settings, by field name
    base_url = "https://acme.example.com"

Contracts:
* Secrets never sit in this file: a vendor settings field typed `SecretStr` given under
  `settings` is refused at load with one line naming the variable to use instead. A secret is
  read, like any unset field, from the environment under the source's prefix (`ACME_API_TOKEN`)
  or from its `secrets_file`; the warehouse never sees it (the fleet's lease rows hold names,
  accounts and intervals only).
* The sources of one `account` share one vendor budget: their `budget_share`s must add up to at
  most 1, each paces at its share of the account's budgets (sync.sources.build), and the fleet
  leases the account as a whole (sync.fleet), so its budget is never spent by two daemons at once.
* Without DESKPULSE_SOURCES_FILE nothing changes: DESKPULSE_SOURCES and the per-vendor variables
  configure the sources as before (sync.sources).

`deskpulse sources add/list/remove` edit the file through `add_entry`/`remove_entry`; the file is
rewritten whole (comments are not kept), atomically (a temporary file renamed over it).
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from deskpulse.connectors.errors import ConfigError
from deskpulse.sync.source_spec import NAME, SourceSpec, vendor_settings_classes

_KEYS = {"name", "vendor", "interval", "account", "budget_share", "secrets_file", "writeback",
         "settings"}  # fmt: skip
MAX_INTERVAL = 7 * 86400


def secret_fields(settings_class: type[Any]) -> set[str]:
    """The fields of a vendor settings class that hold secrets (typed SecretStr)."""
    found = set()
    for name, info in settings_class.model_fields.items():
        annotation = info.annotation
        if annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ()):
            found.add(name)
    return found


def parse_row(raw: Any, where: str, vendors: Mapping[str, type[Any]] | None = None) -> SourceSpec:
    """One [[source]] table as a SourceSpec, checked; errors are one ConfigError line."""
    vendors = vendors if vendors is not None else vendor_settings_classes()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: each [[source]] is a table")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})"
        )
    name = raw.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigError(
            f"{where}: name {name!r} is not a source name (lower-case letters, digits and _, "
            "starting with a letter)"
        )
    where = f"{where} ({name})"
    vendor = raw.get("vendor")
    if not isinstance(vendor, str) or vendor not in vendors:
        raise ConfigError(
            f"{where}: unknown vendor {vendor!r} (installed: {', '.join(sorted(vendors))})"
        )
    interval = raw.get("interval")
    if interval is not None and (
        isinstance(interval, bool) or not isinstance(interval, int | float)
        or not 1 <= interval <= MAX_INTERVAL
    ):  # fmt: skip
        raise ConfigError(
            f"{where}: interval is seconds, a number from 1 to {MAX_INTERVAL}, not {interval!r}"
        )
    share = raw.get("budget_share", 1.0)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise ConfigError(f"{where}: budget_share is a number above 0 and at most 1, not {share!r}")
    account = raw.get("account", name)
    if not isinstance(account, str) or not account.strip():
        raise ConfigError(f"{where}: account is a non-empty string, not {account!r}")
    values = raw.get("settings", {})
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: [source.settings] is a table of the vendor's settings")
    settings_class = vendors[vendor]
    fields = settings_class.model_fields
    prefix = f"{name.upper()}_"
    for key, value in values.items():
        if key in secret_fields(settings_class):
            raise ConfigError(
                f"{where}: {key} is a secret and is not read from the sources file: set "
                f"{prefix}{key.upper()} in the environment or in the source's secrets_file"
            )
        if key not in fields:
            raise ConfigError(
                f"{where}: {vendor} has no setting {key!r} (known: {', '.join(sorted(fields))})"
            )
        if not isinstance(value, str | int | float | bool):
            raise ConfigError(f"{where}: setting {key} must be a string, number or boolean")
    paths = {}
    for key in ("secrets_file", "writeback"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{where}: {key} is a file path, not {value!r}")
        paths[key] = Path(value) if value else None
    return SourceSpec(
        name, vendor, settings=tuple(sorted((k, str(v) if isinstance(v, bool) else v) for k, v in values.items())),
        secrets_file=paths["secrets_file"], interval=float(interval) if interval else None,
        account=account.strip(), budget_share=float(share), writeback=paths["writeback"],
    )  # fmt: skip


def load(path: Path) -> list[SourceSpec]:
    """The sources of the file (an absent file: none); every error is one ConfigError line."""
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"sources file {path}: {exc}") from None
    extra = sorted(set(data) - {"source"})
    if extra:
        raise ConfigError(f"sources file {path}: unknown table {', '.join(extra)} (use [[source]])")
    rows = data.get("source", [])
    if not isinstance(rows, list):
        raise ConfigError(f"sources file {path}: `source` must be an array of tables ([[source]])")
    vendors = vendor_settings_classes()
    specs = [
        parse_row(raw, f"sources file {path}, source {k + 1}", vendors)
        for k, raw in enumerate(rows)
    ]
    seen: set[str] = set()
    shares: dict[str, float] = {}
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(f"sources file {path}: source {spec.name} is listed twice")
        seen.add(spec.name)
        key = spec.account or spec.name
        shares[key] = shares.get(key, 0.0) + spec.budget_share
        if shares[key] > 1.0 + 1e-9:
            raise ConfigError(
                f"sources file {path}: the budget shares of account {key} add up to "
                f"{shares[key]:g}, more than 1"
            )
    return specs


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string


def dumps(specs: Sequence[SourceSpec]) -> str:
    lines: list[str] = [
        "# deskpulse sources (deskpulse sources add/list/remove); no secrets here.",
        "",
    ]
    for spec in specs:
        lines.append("[[source]]")
        lines.append(f"name = {_toml_value(spec.name)}")
        lines.append(f"vendor = {_toml_value(spec.vendor)}")
        if spec.interval is not None:
            lines.append(f"interval = {_toml_value(spec.interval)}")
        if spec.account and spec.account != spec.name:
            lines.append(f"account = {_toml_value(spec.account)}")
        lines.append(f"budget_share = {_toml_value(spec.budget_share)}")
        for key in ("secrets_file", "writeback"):
            value = getattr(spec, key)
            if value is not None:
                lines.append(f"{key} = {_toml_value(str(value))}")
        if spec.settings:
            lines.append("[source.settings]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in spec.settings)
        lines.append("")
    return "\n".join(lines)


def save(path: Path, specs: Sequence[SourceSpec]) -> None:
    """Write the file whole, atomically (renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(dumps(specs))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def add_entry(path: Path, raw: dict[str, Any]) -> SourceSpec:
    """Add one source (checked like the file's own entries, and the whole file again)."""
    specs = load(path)
    spec = parse_row(raw, f"source {raw.get('name')!r}", vendor_settings_classes())
    if any(s.name == spec.name for s in specs):
        raise ConfigError(f"source {spec.name} is already in {path} (remove it first)")
    save(path, [*specs, spec])
    try:
        load(path)  # e.g. the account's budget shares now add up past 1
    except ConfigError:
        save(path, specs)
        raise
    return spec


def split_env(
    name: str, vendor: str, env: Mapping[str, str], prefix: str | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """One account's environment configuration (`<PREFIX>FIELD=value`, prefix default the
    vendor's) as a sources-file row and the secrets to set apart: `({"name", "vendor",
    "settings"}, {"<NAME>_<FIELD>": secret})`."""
    settings_class = vendor_settings_classes()[vendor]
    prefix = prefix or f"{vendor.upper()}_"
    secret = secret_fields(settings_class)
    settings: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for key, value in env.items():
        field = key.removeprefix(prefix).lower()
        if not key.startswith(prefix) or field not in settings_class.model_fields:
            continue
        if field in secret:
            secrets[f"{name.upper()}_{field.upper()}"] = value
        else:
            settings[field] = value
    return {"name": name, "vendor": vendor, "settings": settings}, secrets


def remove_entry(path: Path, name: str) -> None:
    specs = load(path)
    if not any(s.name == name for s in specs):
        known = ", ".join(s.name for s in specs) or "none"
        raise ConfigError(f"no source {name} in {path} (sources: {known})")
    save(path, [s for s in specs if s.name != name])


__all__ = [
    "add_entry",
    "dumps",
    "load",
    "parse_row",
    "remove_entry",
    "save",
    "secret_fields",
    "split_env",
]
