"""What the Klaviyo dialect does not serve of stable.json, in one place.

INCLUDES: the `include` values served, per operation. UNSERVED: query parameters (`name`, or
`name=value` for one value of an enum) the document declares on a route the dialect serves but
that the dialect does not serve, with the reason. Each answers Klaviyo's 400 naming it, except
`fields[type]` of a type the route never sends (nothing to thin).
tests/sandbox/test_klaviyo_conformance.py checks the table against the document and walks the
rest.
"""

from __future__ import annotations

from deskpulse.sandbox.klaviyo.events import EVENT_INCLUDES

INCLUDES = {"get_events": EVENT_INCLUDES}
"""The `include` values served, per operation; the others the document allows are UNSERVED."""

_NO_TAGS = "the sandbox's account has no tags"
_NO_TRIGGERS = "flow triggers are not modelled (a flow carries only its trigger_type)"
UNSERVED: dict[tuple[str, str], str] = {
    ("/api/metrics", "include=flow-triggers"): _NO_TRIGGERS,
    ("/api/metrics", "fields[flow]"): "only with include=flow-triggers",
    ("/api/lists", "include=flow-triggers"): _NO_TRIGGERS,
    ("/api/lists", "include=tags"): _NO_TAGS,
    ("/api/lists", "fields[flow]"): "only with include=flow-triggers",
    ("/api/lists", "fields[tag]"): _NO_TAGS,
    ("/api/lists/{id}", "include=flow-triggers"): _NO_TRIGGERS,
    ("/api/lists/{id}", "include=tags"): _NO_TAGS,
    ("/api/lists/{id}", "fields[flow]"): "only with include=flow-triggers",
    ("/api/lists/{id}", "fields[tag]"): _NO_TAGS,
    ("/api/campaigns", "include=campaign-messages"): "campaign messages are not modelled "
    "(a campaign's channel is its messages.channel filter value)",
    ("/api/campaigns", "include=tags"): _NO_TAGS,
    ("/api/campaigns", "fields[campaign-message]"): "only with include=campaign-messages",
    ("/api/campaigns", "fields[tag]"): _NO_TAGS,
    ("/api/flows", "include=flow-actions"): "flow actions are not modelled",
    ("/api/flows", "include=tags"): _NO_TAGS,
    ("/api/flows", "fields[flow-action]"): "only with include=flow-actions",
    ("/api/flows", "fields[tag]"): _NO_TAGS,
    ("/api/profiles", "include=conversations"): "conversations are not modelled",
    ("/api/profiles", "include=push-tokens"): "push tokens are not modelled (no mobile app)",
    ("/api/profiles", "fields[conversation]"): "only with include=conversations",
    ("/api/profiles", "fields[push-token]"): "only with include=push-tokens",
}
"""(path, parameter) -> why it is not served (see the module docstring)."""
