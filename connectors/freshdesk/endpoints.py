"""Every request the Freshdesk connector can send (`ENDPOINTS`, connectors.endpoints' one table
type). Freshdesk publishes no OpenAPI document: paths, parameters and operationIds follow the one
deskpulse reconstructed from its reference (tests/connectors/fixtures/freshdesk), and a test
checks each row against it. Budgets: every request spends the account's (the default bucket);
the ticket list, the contacts list, ticket creation and ticket updates also spend the caps
Freshdesk sets on them apart (`PLANS` in the package)."""

from __future__ import annotations

from deskpulse.connectors.endpoints import Endpoint, endpoint

_PAGED = ("page", "per_page")

ENDPOINTS: dict[str, Endpoint] = {
    "tickets": endpoint(
        "GET", "/tickets", *_PAGED, "updated_since", "order_by", "order_type", "include",
        "filter", bucket="tickets_list", operation="list_all_tickets",
    ),
    "conversations": endpoint(
        "GET", "/tickets/{id}/conversations", *_PAGED, operation="list_all_ticket_notes"
    ),
    "ratings": endpoint(
        "GET", "/surveys/satisfaction_ratings", *_PAGED, "created_since",
        operation="view_all_satisfaction_ratings",
    ),
    "time_entries": endpoint(
        "GET", "/time_entries", *_PAGED, "executed_after", operation="list_all_time_entries"
    ),
    "agents": endpoint("GET", "/agents", *_PAGED, operation="list_all_agents"),
    "groups": endpoint("GET", "/groups", *_PAGED, operation="list_all_groups"),
    "companies": endpoint("GET", "/companies", *_PAGED, operation="list_all_companies"),
    "contacts": endpoint(
        "GET", "/contacts", *_PAGED, "_updated_since", bucket="contacts_list",
        operation="list_all_contacts",
    ),
    "business_hours": endpoint("GET", "/business_hours", operation="list_all_business_hours"),
    "sla_policies": endpoint("GET", "/sla_policies", operation="sla_policies"),
    "ticket": endpoint("GET", "/tickets/{id}", operation="view_a_ticket"),
    "update_ticket": endpoint(
        "PUT", "/tickets/{id}", bucket="tickets_update", operation="update_ticket"
    ),
    "create_ticket": endpoint("POST", "/tickets", bucket="tickets_create", operation="create_ticket"),
    "add_note": endpoint("POST", "/tickets/{id}/notes", operation="add_note_to_a_ticket"),
    "search_tickets": endpoint("GET", "/search/tickets", "query", operation="filter_tickets"),
    "contact": endpoint("GET", "/contacts/{id}", operation="view_contact"),
    "update_contact": endpoint("PUT", "/contacts/{id}", operation="update_contact"),
}  # fmt: skip

__all__ = ["ENDPOINTS"]
