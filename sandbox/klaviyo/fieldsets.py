"""JSON:API sparse fieldsets for the Klaviyo dialect: `fields[<type>]=a,b.c` keeps only the
named attributes of every resource of that type in a document (`data` and `included`).

FIELDSETS holds, per operation and resource type, the top-level attribute names the
`fields[<type>]` enum of shared/specs/klaviyo/stable.json allows (tests check it against the
document); a name may go deeper (`location.city`, `subscriptions.email.marketing.consent`).
A name outside it answers Klaviyo's 400 naming it. `id` is always sent (it is not an attribute).
Additional fields the client asked for (`additional-fields[profile]=subscriptions`) are kept
whole unless the fieldset names a part of them.
"""

from __future__ import annotations

from typing import Any

from deskpulse.sandbox.klaviyo.filters import invalid
from deskpulse.sandbox.wire import Request

_PROFILE = frozenset(
    [
        "created",
        "email",
        "external_id",
        "first_name",
        "image",
        "last_event_date",
        "last_name",
        "locale",
        "location",
        "organization",
        "phone_number",
        "properties",
        "title",
        "updated",
    ]
)
_PROFILE_EXTRA = frozenset({"predictive_analytics", "subscriptions"})
_ADDITIONAL = _PROFILE_EXTRA | {"profile_count"}  # additional-fields[...] of any type

FIELDSETS: dict[str, dict[str, frozenset[str]]] = {
    "get_profiles": {"profile": _PROFILE | _PROFILE_EXTRA},
    "get_events": {
        "event": frozenset({"datetime", "event_properties", "timestamp", "uuid"}),
        "metric": frozenset({"created", "integration", "name", "updated"}),
        "profile": _PROFILE,
        "attribution": frozenset(),
    },
    "get_metrics": {"metric": frozenset({"created", "integration", "name", "updated"})},
    "get_lists": {"list": frozenset({"created", "name", "opt_in_process", "updated"})},
    "get_profiles_for_list": {"profile": _PROFILE | _PROFILE_EXTRA | {"joined_group_at"}},
    "get_list": {
        "list": frozenset({"created", "name", "opt_in_process", "profile_count", "updated"})
    },
    "get_campaigns": {
        "campaign": frozenset(
            {
                "archived",
                "audiences",
                "created_at",
                "name",
                "scheduled_at",
                "send_options",
                "send_strategy",
                "send_time",
                "status",
                "tracking_options",
                "updated_at",
            }
        )
    },
    "get_flows": {
        "flow": frozenset({"archived", "created", "name", "status", "trigger_type", "updated"})
    },
    "get_templates": {
        "template": frozenset(
            {"amp", "created", "definition", "editor_type", "html", "name", "text", "updated"}
        )
    },
}
"""operationId -> resource type -> top-level attribute names `fields[type]` may name."""


def apply(req: Request, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """`body` with every `fields[type]` of the request applied to its resources (in place)."""
    allowed = FIELDSETS.get(operation, {})
    wanted: dict[str, list[str]] = {}
    for kind, names in allowed.items():
        parameter = f"fields[{kind}]"
        raw = req.arg(parameter)
        if raw is None:
            continue
        listed = [n.strip() for n in raw.split(",") if n.strip() and n.strip() != "id"]
        unknown = sorted({n for n in listed if n.split(".")[0] not in names})
        if unknown:
            raise invalid(f"Invalid {parameter}: {', '.join(unknown)}", parameter)
        wanted[kind] = listed
    if not wanted:
        return body
    for resource in [*body.get("data", []), *body.get("included", [])]:
        chosen = wanted.get(resource.get("type", ""))
        if chosen is not None and "attributes" in resource:
            resource["attributes"] = _select(resource["attributes"], chosen)
    return body


def _select(attributes: dict[str, Any], names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    heads = {n.split(".")[0] for n in names}
    for extra in _ADDITIONAL - heads:  # asked for through additional-fields: kept whole
        if extra in attributes:
            out[extra] = attributes[extra]
    for name in names:
        path = name.split(".")
        source: Any = attributes
        target = out
        for i, key in enumerate(path):
            if not isinstance(source, dict) or key not in source:
                break
            value = source[key]
            if i == len(path) - 1 or not isinstance(value, dict):
                target[key] = value  # the leaf, or a null / scalar where more was named
                break
            inner = target.setdefault(key, {})
            if not isinstance(inner, dict):
                break
            target, source = inner, value
    return out


__all__ = ["FIELDSETS", "apply"]
