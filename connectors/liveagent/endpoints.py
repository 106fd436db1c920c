"""Every request the LiveAgent connector can send (`ENDPOINTS`, connectors.endpoints' one table
type). LiveAgent publishes no OpenAPI document: paths, parameters and operationIds follow the
Swagger 2.0 document deskpulse reconstructed from LiveAgent's generated client
(shared/specs/liveagent/liveagent-v3.reconstructed.swagger.json), and a test checks each row
against it. Every endpoint spends the one per-key budget (the default bucket)."""

from __future__ import annotations

from deskpulse.connectors.endpoints import Endpoint, endpoint

_LIST = ("_page", "_perPage", "_filters", "_sortField", "_sortDir")
_NUMBERED = ("_page", "_perPage")
_CURSOR = ("_perPage", "_cursor", "_filters")

ENDPOINTS: dict[str, Endpoint] = {
    "tickets": endpoint("GET", "/tickets", *_LIST, operation="get_tickets_list"),
    "messages": endpoint(
        "GET", "/tickets/{ticketId}/messages", *_NUMBERED, operation="get_ticket_message_groups"
    ),
    "history": endpoint("GET", "/tickets/history", *_CURSOR, operation="get_ticket_history"),
    "agents": endpoint("GET", "/agents", *_NUMBERED, operation="get_agents"),
    "departments": endpoint("GET", "/departments", *_NUMBERED, operation="get_department_list"),
    "tags": endpoint("GET", "/tags", operation="get_tags_list"),
    "contacts": endpoint("GET", "/contacts", *_LIST, operation="get_contacts_list"),
    "calls": endpoint("GET", "/calls", *_CURSOR, operation="get_calls_list"),
    "chats": endpoint("GET", "/chats", *_LIST, operation="get_chats_list"),
    "update_ticket": endpoint("PUT", "/tickets/{ticketId}", operation="update_ticket"),
    "create_ticket": endpoint("POST", "/tickets", operation="create_ticket"),
    "ticket": endpoint("GET", "/tickets/{ticketId}", operation="get_ticket"),
}

__all__ = ["ENDPOINTS"]
