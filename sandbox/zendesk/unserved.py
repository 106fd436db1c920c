"""What the Zendesk dialect serves beyond support-oas.yaml and what of it it does not serve.

OUTSIDE_SPEC: paths from Zendesk APIs the document does not cover (Talk, Chat, business hours);
BEYOND_SPEC: parameters served that the document leaves out, with the Zendesk page documenting
each; UNSERVED: every parameter the document declares on a served route that the route does not
read, with the reason. tests/sandbox/test_zendesk_spec.py and test_zendesk_conformance.py check
these against the document and sandbox.zendesk.ROUTES.
"""

from __future__ import annotations

OUTSIDE_SPEC = frozenset(
    {
        "/api/v2/channels/voice/stats/incremental/calls",  # Talk API
        "/api/v2/chat/incremental/chats",  # Chat API
        "/api/v2/business_hours/schedules",
        "/api/v2/business_hours/schedules/{id}/holidays",
        "/api/v2/webhooks",  # Webhooks API
        "/api/v2/webhooks/{id}",
        "/api/v2/webhooks/{id}/signing_secret",
    }
)
"""Paths from Zendesk APIs that support-oas.yaml does not cover (see the docstring)."""
_GUIDE = "developer.zendesk.com/documentation/ticketing/managing-tickets/using-the-incremental-export-api"
BEYOND_SPEC: dict[tuple[str, str], str] = {
    ("/api/v2/incremental/tickets/cursor", "per_page"): f"{_GUIDE} (per_page, up to 1000)",
    ("/api/v2/incremental/tickets/cursor", "exclude_deleted"): f"{_GUIDE} (excluding deleted)",
    ("/api/v2/incremental/tickets", "exclude_deleted"): f"{_GUIDE} (excluding deleted)",
    ("/api/v2/incremental/ticket_events", "per_page"): f"{_GUIDE} (per_page, up to 1000)",
}
"""Parameters served that support-oas.yaml leaves out, with the Zendesk page documenting each."""
_BY_REASON: dict[str, dict[str, tuple[str, ...]]] = {
    "sideloads are not served (the records carry the ids to look up)": {
        "/api/v2/users": ("include",),
        "/api/v2/users/show_many": ("include",),
        "/api/v2/users/me": ("include",),
        "/api/v2/users/{id}": ("include",),
        "/api/v2/groups": ("include",),
        "/api/v2/group_memberships": ("include",),
        "/api/v2/macros": ("include",),
        "/api/v2/search": ("include",),
        "/api/v2/tickets": ("include",),
        "/api/v2/tickets/{id}": ("include",),
        "/api/v2/tickets/{id}/audits": ("include",),
        "/api/v2/tickets/{id}/comments": ("include",),
    },
    "served in one order, the document's default": {
        "/api/v2/users": ("sort",),
        "/api/v2/groups": ("sort",),
        "/api/v2/group_memberships": ("sort",),
        "/api/v2/satisfaction_ratings": ("sort",),
        "/api/v2/organizations": ("sort",),
        "/api/v2/ticket_fields": ("sort",),
        "/api/v2/ticket_forms": ("sort",),
        "/api/v2/tags": ("sort",),
        "/api/v2/macros": ("sort_by", "sort_order"),
        "/api/v2/ticket_metrics": ("sort",),
        "/api/v2/tickets/{id}/audits": ("sort", "sort_order"),
    },
    "cursor pages carry no boundary indicators or item cursors": {
        path: ("include_boundary_indicators", "include_item_cursors")
        for path in (
            "/api/v2/users",
            "/api/v2/groups",
            "/api/v2/organizations",
            "/api/v2/ticket_fields",
            "/api/v2/ticket_forms",
            "/api/v2/tickets/{id}/audits",
        )
    },
    "one support type (tickets): the scope changes nothing": {
        "/api/v2/incremental/tickets/cursor": ("support_type_scope",),
        "/api/v2/incremental/tickets": ("support_type_scope",),
        "/api/v2/incremental/ticket_events": ("support_type_scope",),
    },
    "a filter the sandbox does not read (the list is small and served whole)": {
        "/api/v2/users": ("external_id", "permission_set"),
        "/api/v2/users/show_many": ("external_ids", "include_deleted"),
        "/api/v2/groups": ("exclude_deleted",),
        "/api/v2/ticket_fields": ("creator", "locale"),
        "/api/v2/ticket_forms": (
            "active",
            "associated_to_brand",
            "end_user_visible",
            "fallback_to_default",
            "form_type",
            "locale",
        ),
        "/api/v2/macros": ("access", "active", "category", "group_id", "only_viewable"),
        "/api/v2/tickets/{id}/audits": ("filter_events",),
    },
    "the ids are the body's (`users: [{id, ...}]`)": {
        "/api/v2/users/update_many": ("ids", "external_ids"),
    },
    "metric events carry no `changes`": {
        "/api/v2/incremental/ticket_metric_events": ("include_changes",),
    },
    "tickets are served whole (no reduced payloads, no inline images)": {
        "/api/v2/tickets/{id}": ("reduced_payload_size", "remove_duplicate_fields"),
        "/api/v2/tickets/{id}/comments": ("include_inline_images",),
    },
    "the ticket list serves the external_id lookup only (the exports list tickets)": {
        "/api/v2/tickets": (
            "page",
            "page[after]",
            "page[before]",
            "page[size]",
            "per_page",
            "sort",
            "sort_by",
            "sort_order",
            "start_time",
            "support_type_scope",
        ),
    },
}
"""Reason -> route -> the documented parameters it does not read."""

_TRIGGERS = "the sandbox lists every trigger (webhook setup looks one up by its title)"
UNSERVED: dict[tuple[str, str], str] = {
    **{
        ("/api/v2/triggers", name): _TRIGGERS
        for name in ("active", "category_id", "include", "sort", "sort_by", "sort_order")
    },
    ("/api/v2/satisfaction_ratings", "page"): "offset pages: ratings are cursor pages only",
    ("/api/v2/satisfaction_ratings", "per_page"): "offset pages: ratings are cursor pages only",
    **{
        (path, name): reason
        for reason, table in _BY_REASON.items()
        for path, names in table.items()
        for name in names
    },
}
"""Every parameter support-oas.yaml documents on a route the sandbox serves that the route does
not read, with the reason. As on Zendesk, a parameter a route does not read is ignored: the answer
is the one without it (tests/sandbox/test_zendesk_conformance.py checks this table against the
document and walks every other parameter)."""
