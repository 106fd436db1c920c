"""Every request the Zendesk connector can send (`ENDPOINTS`, connectors.endpoints' one table
type), and the rate-limit buckets they spend.

The paths are written as the official OpenAPI document (support-oas.yaml) writes them, without
`.json`; `operation` is the document's operationId, and tests/connectors/test_zendesk_spec.py
checks each row (and every request a run sends) against it. Talk, Chat and business hours are not
in that document: their rows name the documentation page they follow (`doc`).
"""

from __future__ import annotations

from deskpulse.connectors.endpoints import Endpoint, endpoint
from deskpulse.connectors.ratelimit import DEFAULT_BUCKET

INCREMENTAL = "incremental"
"""Rate-limit bucket of the incremental export endpoints (10 requests/minute on Zendesk)."""
INCREMENTAL_CURSOR = "incremental-cursor"
"""The cursor-based users export's own budget (`Zendesk-RateLimit-incremental-exports-cursor`,
20 requests/minute)."""
TALK = "talk"
"""Talk's incremental exports: their own 10 requests/minute."""
CHAT = "chat"
"""The Chat API: its own 200 requests/minute."""
WRITES = "writes"
"""Rate-limit bucket of the update endpoints (100 requests/minute on Zendesk)."""

_SCHEDULES = "developer.zendesk.com/api-reference/ticketing/ticket-management/schedules/"
_PAGE = ("page[size]", "page[after]")

ENDPOINTS: dict[str, Endpoint] = {
    "tickets": endpoint(
        "GET",
        "/api/v2/incremental/tickets/cursor",
        "start_time",
        "cursor",
        "include",
        bucket=INCREMENTAL,
        operation="IncrementalTicketExportCursor",
        records="tickets",
    ),
    "ticket_events": endpoint(
        "GET",
        "/api/v2/incremental/ticket_events",
        "start_time",
        "include",
        bucket=INCREMENTAL,
        operation="IncrementalTicketEvents",
    ),
    "users": endpoint(
        "GET",
        "/api/v2/incremental/users/cursor",
        "start_time",
        "cursor",
        "per_page",
        bucket=INCREMENTAL_CURSOR,
        operation="IncrementalUserExportCursor",
        records="users",
    ),
    "staff": endpoint("GET", "/api/v2/users", "role[]", *_PAGE, operation="ListUsers"),
    "groups": endpoint("GET", "/api/v2/groups", *_PAGE, operation="ListGroups"),
    "satisfaction_ratings": endpoint(
        "GET",
        "/api/v2/satisfaction_ratings",
        "start_time",
        *_PAGE,
        operation="ListSatisfactionRatings",
    ),
    "ticket_metric_events": endpoint(
        "GET",
        "/api/v2/incremental/ticket_metric_events",
        "start_time",
        bucket=INCREMENTAL,
        operation="ListTicketMetricEvents",
    ),
    # a first sync's history through the account-wide budget (zendesk.backfill)
    "ticket_audits": endpoint("GET", "/api/v2/ticket_audits", *_PAGE, operation="ListTicketAudits"),
    "ticket_audits_of": endpoint(
        "GET", "/api/v2/tickets/{ticket_id}/audits", *_PAGE, operation="ListAuditsForTicket"
    ),
    "search": endpoint(
        "GET",
        "/api/v2/search",
        "query",
        "sort_by",
        "sort_order",
        "per_page",
        "page",
        operation="ListSearchResults",
    ),
    # write-back (connectors.zendesk.writeback)
    "update_ticket": endpoint("PUT", "/api/v2/tickets/{ticket_id}", operation="UpdateTicket"),
    "update_many_tickets": endpoint(
        "PUT", "/api/v2/tickets/update_many", bucket=WRITES, operation="TicketsUpdateMany"
    ),
    "update_many_users": endpoint(
        "PUT", "/api/v2/users/update_many", bucket=WRITES, operation="UpdateManyUsers"
    ),
    "show_many_tickets": endpoint(
        "GET", "/api/v2/tickets/show_many", "ids", operation="TicketsShowMany"
    ),
    # named tickets read on a webhook's hint (zendesk.by_id)
    "tickets_by_id": endpoint(
        "GET", "/api/v2/tickets/show_many", "ids", "include", operation="TicketsShowMany"
    ),
    "show_many_users": endpoint("GET", "/api/v2/users/show_many", "ids", operation="ShowManyUsers"),
    "job_status": endpoint(
        "GET", "/api/v2/job_statuses/{job_status_id}", operation="ShowJobStatus"
    ),
    "find_post": endpoint("GET", "/api/v2/tickets", "external_id", operation="ListTickets"),
    "create_post": endpoint("POST", "/api/v2/tickets", bucket=WRITES, operation="CreateTicket"),
    # Not in the Support OpenAPI document (see the package docstring for their sources).
    "schedules": endpoint("GET", "/api/v2/business_hours/schedules", doc=_SCHEDULES),
    "holidays": endpoint(
        "GET", "/api/v2/business_hours/schedules/{schedule_id}/holidays", doc=_SCHEDULES
    ),
    "calls": endpoint(
        "GET",
        "/api/v2/channels/voice/stats/incremental/calls",
        "start_time",
        bucket=TALK,
        doc="developer.zendesk.com/api-reference/voice/talk-api/incremental_exports/",
    ),
    "chats": endpoint(
        "GET",
        "/api/v2/chat/incremental/chats",
        "start_time",
        "start_id",
        "fields",
        "limit",
        bucket=CHAT,
        doc="developer.zendesk.com/api-reference/live-chat/chat-api/incremental_export/",
    ),
}

__all__ = [
    "CHAT",
    "DEFAULT_BUCKET",
    "ENDPOINTS",
    "INCREMENTAL",
    "INCREMENTAL_CURSOR",
    "TALK",
    "WRITES",
]
