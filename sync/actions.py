"""Write-back actions: what `deskpulse push` (and the daemon) writes into the help desk.

The file is named by DESKPULSE_WRITEBACK (TOML). Each action has a `source` (a configured source
whose connector offers that kind of write) and an optional `name` (default
`<source>:<kind>:<field>`), which is the action's key in the write-back ledger: renaming an
action writes its values again.

```toml
# Per-ticket KPI values into custom ticket fields (Zendesk: the field's numeric id).
[[ticket_field]]
source = "zendesk"
field = "360000000101"
value = "first_response_minutes"   # any name of kpi_core.per_ticket.VALUE_NAMES
round = 0                          # decimals; 0 writes an integer (default: 0)
days = 30                          # tickets changed in the last N days (default: 30)

[[ticket_field]]
source = "zendesk"
field = "360000000102"
value = "sla_met"                  # booleans: a checkbox field takes true / false...
map = { true = "sla_met", false = "sla_missed" }   # ...a drop-down field takes its tags

# A KPI digest as a summary post (Zendesk: an internal-note ticket), once per period.
[[digest]]
source = "zendesk"
every = "week"                     # day | week (ISO weeks, starting Monday)
metrics = ["first_response_time", "resolution_time", "csat", "sla_attainment"]
at = "08:00"                       # the daemon posts at this local time (DESKPULSE_TIMEZONE)
by = "group"                       # the slices the worst performers are picked from ("": none)
```

# What support knows about a person, as properties of their marketing profile (Klaviyo:
# `deskpulse_<value>`), matched by e-mail (kpi_core.identity).
[[profile_fields]]
source = "klaviyo"
values = ["ticket_count", "open_tickets", "last_csat", "first_response_experience"]
target_minutes = 60                # first response target of first_response_experience
days = 365                         # tickets created in the last N days

# What a customer is worth and how they feel, on their help-desk user record (Zendesk: user
# fields with the keys deskpulse_lifetime_csat, deskpulse_last_nps, deskpulse_clv), from every
# source's surveys and orders (a person = one e-mail across sources).
[[profile_fields]]
source = "zendesk"
values = ["lifetime_csat", "last_nps", "clv"]

# Subscribe the requesters of tickets that say they opted in to a marketing list. Only those:
# consent comes from the ticket (a tag, or a custom field's value), never from deskpulse.
[[subscribe]]
source = "klaviyo"
list = "NwsLtr"                    # the list id (Klaviyo: Lists > the list > Settings)
tag = "newsletter_opt_in"          # or: field = "360000000104" and value = true
```

A value that is None (no first response yet, no SLA policy) is not written, unless an earlier
value was: then the field is cleared (written as null).
A vendor whose closed tickets are final (it refuses any update of them; the connector says so:
connectors.base.closed_is_final): their fields are not written.

What could never be written as meant is refused when the file is read (unknown values, metrics
and dimensions, `map` values that are not scalars) or, against the configured sources, by
`check_targets` (a source not configured or whose vendor cannot write that kind, a ticket field
its vendor cannot name, two actions writing one field): `push`, `push --dry-run` and the daemon
all stop there, before anything is planned or sent.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

from deskpulse.connectors.base import (
    WRITE_POSTS,
    WRITE_SUBSCRIPTIONS,
    WRITE_TICKET_FIELDS,
    WRITE_USER_FIELDS,
)
from deskpulse.connectors.errors import ConfigError
from deskpulse.kpi_core import REGISTRY
from deskpulse.kpi_core.identity import PERSON_VALUES, SUPPORT_VALUES
from deskpulse.kpi_core.per_ticket import VALUE_NAMES
from deskpulse.kpi_core.registry import DIMENSIONS

TICKET_FIELD = "ticket_field"
DIGEST = "digest"
PROFILE_FIELDS = "profile_fields"
SUBSCRIBE = "subscribe"
KINDS = (TICKET_FIELD, DIGEST, PROFILE_FIELDS, SUBSCRIBE)
PROPERTY_PREFIX = "deskpulse_"
EVERY = ("day", "week")
DEFAULT_DIGEST_METRICS = (
    "first_response_time",
    "resolution_time",
    "ticket_service_level",
    "sla_attainment",
    "csat",
    "request_volume",
)


@dataclass(frozen=True)
class TicketFieldAction:
    name: str
    source: str
    field: str
    value: str
    decimals: int = 0  # `round` in the file
    days: int = 30
    map: Mapping[str, Any] = dataclass_field(default_factory=dict)
    kind: str = TICKET_FIELD
    where: str = dataclass_field(default="", compare=False)  # file and entry, for errors

    def render(self, value: Any) -> Any:
        """The value as the help desk gets it: rounded, then mapped."""
        if isinstance(value, float):
            value = round(value, self.decimals) if self.decimals > 0 else round(value)
        if self.map:
            key = str(value).lower() if isinstance(value, bool) else str(value)
            if key in self.map:
                return self.map[key]
        return value


@dataclass(frozen=True)
class DigestAction:
    name: str
    source: str
    every: str = "week"
    metrics: tuple[str, ...] = DEFAULT_DIGEST_METRICS
    at: str = "08:00"
    by: str | None = "group"
    kind: str = DIGEST
    where: str = dataclass_field(default="", compare=False)  # file and entry, for errors


@dataclass(frozen=True)
class ProfileFieldsAction:
    """Values of a person on their record in `source`: a marketing profile's property, or a
    help desk's user field (Zendesk: the user field whose key is `deskpulse_<value>`)."""

    name: str
    source: str
    values: tuple[str, ...] = SUPPORT_VALUES
    target_minutes: float = 60.0
    days: int = 365
    kind: str = PROFILE_FIELDS
    where: str = dataclass_field(default="", compare=False)  # file and entry, for errors


@dataclass(frozen=True)
class SubscribeAction:
    """Subscribe requesters of tickets with the opt-in `tag` (or custom `field` = `value`)."""

    name: str
    source: str
    list_id: str
    tag: str | None = None
    field: str | None = None
    value: Any = True
    kind: str = SUBSCRIBE
    where: str = dataclass_field(default="", compare=False)  # file and entry, for errors


Action = TicketFieldAction | DigestAction | ProfileFieldsAction | SubscribeAction


@dataclass(frozen=True)
class Actions:
    ticket_fields: tuple[TicketFieldAction, ...] = ()
    digests: tuple[DigestAction, ...] = ()
    profile_fields: tuple[ProfileFieldsAction, ...] = ()
    subscriptions: tuple[SubscribeAction, ...] = ()

    def all(self) -> list[Action]:
        return [*self.ticket_fields, *self.digests, *self.profile_fields, *self.subscriptions]

    def only(self, names: Sequence[str] | None) -> Actions:
        """The actions named (or of the sources named) in `names`; all when None."""
        if not names:
            return self
        known = {a.name for a in self.all()} | {a.source for a in self.all()}
        unknown = sorted(set(names) - known)
        if unknown:
            raise ConfigError(
                f"unknown write-back target {', '.join(unknown)} "
                f"(actions: {', '.join(a.name for a in self.all()) or 'none'})"
            )
        keep = set(names)
        return Actions(
            tuple(a for a in self.ticket_fields if a.name in keep or a.source in keep),
            tuple(a for a in self.digests if a.name in keep or a.source in keep),
            tuple(a for a in self.profile_fields if a.name in keep or a.source in keep),
            tuple(a for a in self.subscriptions if a.name in keep or a.source in keep),
        )


def load_actions(path: Path | str | None) -> Actions:
    """The actions of the TOML file at `path` (None: no actions); errors name file and entry."""
    if path is None:
        return Actions()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"DESKPULSE_WRITEBACK: cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"DESKPULSE_WRITEBACK ({path}): not valid TOML: {exc}") from None
    return actions_from_dict(data, origin=str(path))


def actions_from_dict(data: Mapping[str, Any], *, origin: str = "write-back") -> Actions:
    unknown = sorted(set(data) - set(KINDS))
    if unknown:
        raise ConfigError(
            f"{origin}: unknown section {', '.join(unknown)} (expected {', '.join(KINDS)})"
        )
    fields = [
        _ticket_field(e, f"{origin}: ticket_field #{i + 1}")
        for i, e in _entries(data, TICKET_FIELD, origin)
    ]
    digests = [_digest(e, f"{origin}: digest #{i + 1}") for i, e in _entries(data, DIGEST, origin)]
    profiles = [
        _profile_fields(e, f"{origin}: profile_fields #{i + 1}")
        for i, e in _entries(data, PROFILE_FIELDS, origin)
    ]
    subscriptions = [
        _subscribe(e, f"{origin}: subscribe #{i + 1}") for i, e in _entries(data, SUBSCRIBE, origin)
    ]
    actions = Actions(tuple(fields), tuple(digests), tuple(profiles), tuple(subscriptions))
    names = [a.name for a in actions.all()]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{origin}: two actions named {', '.join(twice)}: give each a `name`")
    return actions


NEEDS = {
    TICKET_FIELD: WRITE_TICKET_FIELDS,
    DIGEST: WRITE_POSTS,
    PROFILE_FIELDS: WRITE_USER_FIELDS,
    SUBSCRIBE: WRITE_SUBSCRIPTIONS,
}
"""The connector capability (connectors.base) each kind of action writes through."""


def check_targets(actions: Actions, vendors: Mapping[str, str]) -> None:
    """Refuse, before anything is planned or sent, actions that could never be written: a
    source that is not configured (`vendors`: source name -> vendor), a vendor that cannot write
    that kind, a ticket field its vendor cannot name (the connector class's
    `ticket_field_problem`, connectors.base), two actions writing the same field of a source.
    `push`, `push --dry-run` and the daemon all call it, on the whole file."""
    from deskpulse.connectors import registry

    factories = registry.load()
    for action in actions.all():
        if action.source not in vendors:
            raise ConfigError(
                f"{_where(action)}: `source` {action.source!r} is not a configured source "
                f"(configured: {', '.join(sorted(vendors)) or 'none'})"
            )
        vendor = vendors[action.source]
        factory = factories.get(vendor)
        if factory is None:  # a connector given by hand (tests): nothing more is known
            continue
        capabilities: frozenset[str] = getattr(factory, "capabilities", frozenset())
        if NEEDS[action.kind] not in capabilities:
            can = NEEDS[action.kind].split(":")[1].replace("_", " ")
            raise ConfigError(
                f"{_where(action)}: `source` {action.source} ({vendor}) cannot write {can}"
            )
        problem = getattr(factory, "ticket_field_problem", None)
        if isinstance(action, TicketFieldAction) and problem is not None:
            why = problem(action.field)
            if why:
                raise ConfigError(f"{_where(action)}: `field` {why}")
    _no_field_twice(actions)


def _no_field_twice(actions: Actions) -> None:
    """Two actions writing one field of one source: the help desk would hold only the last
    value while the ledger says both were sent."""
    writers: dict[tuple[str, str, str], Action] = {}
    for action in actions.all():
        if isinstance(action, TicketFieldAction):
            keys = [(TICKET_FIELD, action.field)]
        elif isinstance(action, ProfileFieldsAction):
            keys = [(PROFILE_FIELDS, PROPERTY_PREFIX + value) for value in action.values]
        else:
            continue
        for kind, fld in keys:
            first = writers.setdefault((action.source, kind, fld), action)
            if first is not action:
                key = "field" if kind == TICKET_FIELD else "values"
                raise ConfigError(
                    f"{_where(action)}: `{key}`: {fld} of source {action.source} is also "
                    f"written by {_where(first, short=True)}: keep one of the two actions"
                )


def _where(action: Action, *, short: bool = False) -> str:
    """`file: kind #n (name)`: the entry of the file, and the action's name."""
    where = action.where or action.kind
    if short:
        where = where.rpartition(": ")[2]
    return f"{where} ({action.name})"


def _scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int | bool)


def _toml_type(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, float | int):
        return repr(value)
    return f"a {type(value).__name__}"


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else _toml_type(value)


def _entries(
    data: Mapping[str, Any], kind: str, origin: str
) -> list[tuple[int, Mapping[str, Any]]]:
    raw = data.get(kind, [])
    if not isinstance(raw, list) or not all(isinstance(e, Mapping) for e in raw):
        raise ConfigError(f"{origin}: `{kind}` must be a list of tables ([[{kind}]])")
    return list(enumerate(raw))


def _check_keys(entry: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {', '.join(unknown)} (expected {', '.join(sorted(allowed))})"
        )


def _text(entry: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = entry.get(key, default)
    if value is None:
        raise ConfigError(f"{where}: `{key}` is required")
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise ConfigError(f"{where}: `{key}` must be a non-empty text")
    return str(value).strip()


def _int(entry: Mapping[str, Any], key: str, where: str, default: int, lo: int, hi: int) -> int:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{where}: `{key}` must be a whole number from {lo} to {hi}")
    return value


def _ticket_field(entry: Mapping[str, Any], where: str) -> TicketFieldAction:
    _check_keys(entry, {"name", "source", "field", "value", "round", "days", "map"}, where)
    source = _text(entry, "source", where)
    fld = _text(entry, "field", where)
    value = _text(entry, "value", where)
    if value not in VALUE_NAMES:
        raise ConfigError(f"{where}: unknown value {value!r} (one of {', '.join(VALUE_NAMES)})")
    mapping = entry.get("map", {})
    if not isinstance(mapping, Mapping):
        raise ConfigError(f'{where}: `map` must be a table, e.g. {{ true = "yes" }}')
    for key, mapped in mapping.items():
        if not _scalar(mapped):
            raise ConfigError(
                f"{where}: `map.{key}` must be a text, a number or true/false (what the field "
                f"takes), not {_toml_type(mapped)}"
            )
    return TicketFieldAction(
        name=_text(entry, "name", where, f"{source}:ticket_field:{fld}"),
        source=source,
        field=fld,
        value=value,
        decimals=_int(entry, "round", where, 0, 0, 6),
        days=_int(entry, "days", where, 30, 1, 3660),
        map={
            str(k).lower() if str(k).lower() in ("true", "false") else str(k): v
            for k, v in mapping.items()
        },
        where=where,
    )


def _digest(entry: Mapping[str, Any], where: str) -> DigestAction:
    _check_keys(entry, {"name", "source", "every", "metrics", "at", "by"}, where)
    source = _text(entry, "source", where)
    every = _text(entry, "every", where, "week")
    if every not in EVERY:
        raise ConfigError(f"{where}: `every` must be day or week, not {every!r}")
    metrics = entry.get("metrics", list(DEFAULT_DIGEST_METRICS))
    if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics):
        raise ConfigError(f"{where}: `metrics` must be a list of metric ids")
    unknown = [m for m in metrics if m not in REGISTRY]
    if unknown:
        raise ConfigError(
            f"{where}: `metrics`: unknown metric {', '.join(map(repr, unknown))} "
            "(`deskpulse kpi --list` lists them)"
        )
    at = _text(entry, "at", where, "08:00")
    hour, _, minute = at.partition(":")
    if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
        raise ConfigError(f"{where}: `at` must be a local time HH:MM, not {at!r}")
    by = entry.get("by", "group")
    if by != "" and by not in DIMENSIONS:
        raise ConfigError(
            f'{where}: `by` must be one of {", ".join(DIMENSIONS)} ("" for none), not {_shown(by)}'
        )
    return DigestAction(
        name=_text(entry, "name", where, f"{source}:digest:{every}"),
        source=source,
        every=every,
        metrics=tuple(metrics),
        at=at,
        by=by or None,
        where=where,
    )


def _profile_fields(entry: Mapping[str, Any], where: str) -> ProfileFieldsAction:
    _check_keys(entry, {"name", "source", "values", "target_minutes", "days"}, where)
    source = _text(entry, "source", where)
    values = entry.get("values", list(SUPPORT_VALUES))
    if not isinstance(values, list) or not values or not all(v in PERSON_VALUES for v in values):
        raise ConfigError(f"{where}: `values` must be a list of {', '.join(PERSON_VALUES)}")
    target = entry.get("target_minutes", 60)
    if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target < 10**6:
        raise ConfigError(f"{where}: `target_minutes` must be a positive number of minutes")
    return ProfileFieldsAction(
        name=_text(entry, "name", where, f"{source}:profile_fields"),
        source=source,
        values=tuple(values),
        target_minutes=float(target),
        days=_int(entry, "days", where, 365, 1, 3660),
        where=where,
    )


def _subscribe(entry: Mapping[str, Any], where: str) -> SubscribeAction:
    _check_keys(entry, {"name", "source", "list", "tag", "field", "value"}, where)
    source = _text(entry, "source", where)
    list_id = _text(entry, "list", where)
    tag = entry.get("tag")
    fld = entry.get("field")
    if (tag is None) == (fld is None):
        raise ConfigError(f"{where}: give the opt-in rule as `tag`, or as `field` and `value`")
    return SubscribeAction(
        name=_text(entry, "name", where, f"{source}:subscribe:{list_id}"),
        source=source,
        list_id=list_id,
        tag=_text(entry, "tag", where) if tag is not None else None,
        field=_text(entry, "field", where) if fld is not None else None,
        value=entry.get("value", True),
        where=where,
    )


__all__ = [
    "DIGEST",
    "PROFILE_FIELDS",
    "PROPERTY_PREFIX",
    "SUBSCRIBE",
    "TICKET_FIELD",
    "Action",
    "Actions",
    "DigestAction",
    "ProfileFieldsAction",
    "SubscribeAction",
    "TicketFieldAction",
    "actions_from_dict",
    "check_targets",
    "load_actions",
]
