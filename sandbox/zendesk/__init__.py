"""The Zendesk dialect of the sandbox: Zendesk's real REST API over a generated account.

A dialect (sandbox.dialect): `ZendeskDialect` below; the server (sandbox.server) runs the shared
pipeline and starts it with `SandboxServer` (tests, bench) or `sandbox.command.run_sandbox`
(`deskpulse sandbox`). The handlers live in exports.py (the incremental exports and ratings),
lists.py (list/show endpoints, business hours) and writes.py (ticket updates); render.py turns
generated records into Zendesk JSON; limits.py holds Zendesk's budgets and headers.

The contract: what a connector sees is Zendesk's API as its OpenAPI document
(../shared/specs/zendesk/support-oas.yaml), the recorded samples and Zendesk's guides (Talk,
Chat, Schedules) describe it, byte for byte the same for a seed; ROUTES names every path with the
parameters its handler reads (tests/sandbox/test_zendesk_spec.py checks them against the
document; BEYOND_SPEC and OUTSIDE_SPEC are the exceptions, each with its reason; UNSERVED the
documented parameters a route does not read, with the reason). The manual
(conventions, auth, errors, rate limits, every endpoint, faults, fidelity notes, known gaps,
performance) is docs/sandbox/zendesk.md.
"""

from __future__ import annotations

import base64
from typing import ClassVar

from deskpulse.sandbox.data import Account
from deskpulse.sandbox.dialect import Match, Route, dispatch, match_route, route
from deskpulse.sandbox.limits import Usage
from deskpulse.sandbox.switches import Switches
from deskpulse.sandbox.wire import Request, Response
from deskpulse.sandbox.zendesk import limits
from deskpulse.sandbox.zendesk.catalog import Catalog
from deskpulse.sandbox.zendesk.exports import Exports
from deskpulse.sandbox.zendesk.history import History
from deskpulse.sandbox.zendesk.hooks import Hooks
from deskpulse.sandbox.zendesk.limits import ACCOUNT, PLANS, RateLimits
from deskpulse.sandbox.zendesk.lists import Lists
from deskpulse.sandbox.zendesk.search import Search
from deskpulse.sandbox.zendesk.unserved import BEYOND_SPEC, OUTSIDE_SPEC, UNSERVED
from deskpulse.sandbox.zendesk.writes import WriteLog

__all__ = ["BEYOND_SPEC", "OUTSIDE_SPEC", "ROUTES", "UNSERVED", "RateLimits", "ZendeskDialect"]

DEFAULT_EMAIL = "agent@sandbox.test"
DEFAULT_TOKEN = "sandbox-token"
DEFAULT_OAUTH = "sandbox-oauth-token"
DEFAULT_SUBDOMAIN = "sandbox"

_OFFSET = ("page", "per_page")
_CURSOR = ("page[size]", "page[after]", "page[before]")  # sandbox.zendesk.pages
_PAGES = (*_OFFSET, *_CURSOR)
_EXPORT = "incremental-exports"

_SHOW = ("ids", "include")
ROUTES: tuple[Route, ...] = (
    route(
        "GET",
        "/api/v2/incremental/tickets/cursor",
        "tickets",
        "tickets_cursor",
        _EXPORT,
        ("start_time", "cursor", "per_page", "include", "exclude_deleted"),
    ),
    route(
        "GET",
        "/api/v2/incremental/tickets",
        "tickets",
        "tickets_time",
        _EXPORT,
        ("start_time", "per_page", "include", "exclude_deleted"),
    ),
    route(
        "GET",
        "/api/v2/incremental/ticket_events",
        "ticket_events",
        "ticket_events",
        _EXPORT,
        ("start_time", "per_page", "include"),
    ),
    route(
        "GET",
        "/api/v2/incremental/ticket_metric_events",
        "ticket_metric_events",
        "metric_events",
        _EXPORT,
        ("start_time", "per_page", *_CURSOR),
    ),
    route(
        "GET",
        "/api/v2/incremental/users/cursor",
        "users",
        "users_cursor",
        "incremental-exports-cursor",
        ("start_time", "cursor", "per_page"),
    ),
    route(
        "GET",
        "/api/v2/incremental/organizations",
        "organizations",
        "incremental_organizations",
        _EXPORT,
        ("start_time", "per_page"),
    ),
    route("GET", "/api/v2/users", "users", "users_list", None, ("role", "role[]", *_PAGES)),
    route("PUT", "/api/v2/users/update_many", "writes", "users_update_many"),
    route("GET", "/api/v2/users/show_many", "users", "users_show_many", None, ("ids",)),
    route("GET", "/api/v2/users/me", "users", "user_me"),
    route("GET", "/api/v2/users/{id}", "users", "user_show"),
    route("GET", "/api/v2/groups", "groups", "groups", None, _PAGES),
    route("GET", "/api/v2/group_memberships", "group_memberships", "memberships", None, _PAGES),
    route(
        "GET",
        "/api/v2/satisfaction_ratings",
        "satisfaction_ratings",
        "ratings",
        None,
        ("start_time", "end_time", "score", *_CURSOR),
    ),
    route("GET", "/api/v2/organizations", "organizations", "organizations", None, _PAGES),
    route("GET", "/api/v2/ticket_fields", "ticket_fields", "ticket_fields", None, _PAGES),
    route("GET", "/api/v2/ticket_forms", "ticket_forms", "ticket_forms", None, _PAGES),
    route("GET", "/api/v2/tags", "tags", "tags", None, _PAGES),
    route("GET", "/api/v2/macros", "macros", "macros", None, _PAGES),
    route("GET", "/api/v2/slas/policies", "sla_policies", "sla_policies"),
    route("GET", "/api/v2/ticket_audits", "ticket_audits", "ticket_audits", None, _CURSOR),
    route("GET", "/api/v2/ticket_metrics", "ticket_metrics", "ticket_metrics", None, _PAGES),
    route(
        "GET",
        "/api/v2/search",
        "search",
        "search",
        None,
        ("query", "sort_by", "sort_order", *_OFFSET),
    ),
    route(
        "GET",
        "/api/v2/channels/voice/stats/incremental/calls",
        "talk",
        "calls",
        "talk-incremental-exports",
        ("start_time", "per_page"),
    ),
    route(
        "GET",
        "/api/v2/chat/incremental/chats",
        "chat",
        "chats",
        "chat",
        ("start_time", "start_id", "limit", "fields"),
    ),
    route("GET", "/api/v2/business_hours/schedules", "business_hours", "schedules"),
    route("GET", "/api/v2/business_hours/schedules/{id}/holidays", "business_hours", "holidays"),
    route("PUT", "/api/v2/tickets/update_many", "writes", "update_many", None, ("ids",)),
    route("GET", "/api/v2/tickets/show_many", "tickets", "tickets_show_many", None, _SHOW),
    route("GET", "/api/v2/tickets", "tickets", "tickets_by_external_id", None, ("external_id",)),
    route("POST", "/api/v2/tickets", "writes", "ticket_create"),
    route("GET", "/api/v2/tickets/{id}", "tickets", "ticket_show"),
    route("PUT", "/api/v2/tickets/{id}", "writes", "ticket_update", "ticket-updates"),
    route(
        "GET",
        "/api/v2/tickets/{id}/audits",
        "ticket_audits",
        "ticket_audits_of",
        None,
        _PAGES,
    ),
    route(
        "GET",
        "/api/v2/tickets/{id}/comments",
        "ticket_comments",
        "ticket_comments_of",
        None,
        (*_PAGES, "sort_order"),
    ),
    route("GET", "/api/v2/tickets/{id}/metrics", "ticket_metrics", "ticket_metrics_of"),
    route("GET", "/api/v2/job_statuses/{id}", "writes", "job_status"),
    # webhooks and triggers (sandbox.zendesk.hooks)
    route("GET", "/api/v2/webhooks", "webhooks", "webhooks_list", None, ("filter[name_contains]",)),
    route("POST", "/api/v2/webhooks", "webhooks", "webhook_create"),
    route("PATCH", "/api/v2/webhooks/{id}", "webhooks", "webhook_update"),
    route("GET", "/api/v2/webhooks/{id}/signing_secret", "webhooks", "webhook_secret"),
    route("GET", "/api/v2/triggers", "triggers", "triggers_list", None, _PAGES),
    route("POST", "/api/v2/triggers", "triggers", "trigger_create"),
)
# Error bodies by status: (error, description) as Zendesk spells them.
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("InvalidValue", "Bad request"),
    403: (
        "Forbidden",
        "You do not have access to this page. Please contact the account owner of this help "
        "desk for further help.",
    ),
    404: ("InvalidEndpoint", "Not found"),
    405: ("MethodNotAllowed", "Method not allowed"),
    413: ("RequestEntityTooLarge", "The request body is too large"),
    429: ("APIRateLimitExceeded", "Rate limit exceeded"),
    500: ("InternalError", "Something broke"),
    503: ("ServiceUnavailable", "Please try again later"),
}


class ZendeskDialect(Exports, Lists, History, Catalog, Search, Hooks):
    """Zendesk's API over the shared account (sandbox.dialect.Dialect). Thread-safe.

    Options: the credentials it accepts (`email`/`api_token` for API-token basic auth,
    `oauth_token` for Bearer), `subdomain` (printed only), `chat_basic_auth` (accept API-token
    auth on the Chat API too; real Zendesk does not: OAuth only).
    """

    name = "zendesk"
    streams = frozenset(r.stream for r in ROUTES)
    base_buckets = (ACCOUNT,)
    plans: ClassVar[dict[str, RateLimits]] = {
        plan: RateLimits(account=budget) for plan, budget in PLANS.items()
    }

    def __init__(
        self,
        account: Account,
        base_url: str,
        *,
        email: str = DEFAULT_EMAIL,
        api_token: str = DEFAULT_TOKEN,
        oauth_token: str = DEFAULT_OAUTH,
        subdomain: str = DEFAULT_SUBDOMAIN,
        chat_basic_auth: bool = False,
    ) -> None:
        super().__init__(account, base_url, WriteLog(account.anchor_ts))
        self.switches = Switches()  # faults switched on at run time (the host's)
        self.email = email
        self.api_token = api_token
        self.oauth_token = oauth_token
        self.subdomain = subdomain
        self.chat_basic_auth = chat_basic_auth
        self._basic = "Basic " + base64.b64encode(f"{email}/token:{api_token}".encode()).decode()

    # ---- the seam -----------------------------------------------------------------------

    def match(self, method: str, path: str) -> Match:
        if path.endswith(".json"):
            path = path[:-5]
        return match_route(ROUTES, method, path)

    def _bearer(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        return auth.startswith("Bearer ") and auth[7:].strip() == self.oauth_token

    def _authorised(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        if auth == self._basic or self._bearer(headers):
            return True
        if auth.startswith("Basic "):
            try:
                raw = base64.b64decode(auth[6:].strip()).decode()
            except ValueError:
                return False
            return raw == f"{self.email}/token:{self.api_token}"
        return False

    def authenticate(self, req: Request) -> Response | None:
        if not self._authorised(req.headers):
            resp = Response.json(401, {"error": "Couldn't authenticate you"})
            resp.headers.append(("WWW-Authenticate", 'Basic realm="Web Password"'))
            return resp
        return None

    def authorise(self, req: Request, route: Route) -> Response | None:
        if route.stream == "chat" and not self.chat_basic_auth and not self._bearer(req.headers):
            # The Chat API takes OAuth access tokens only; Zendesk API tokens get a 401.
            return Response.json(
                401, {"error": "invalid_token", "error_description": "The access token is invalid"}
            )
        return None

    def error(self, status: int, description: str | None = None) -> Response:
        code, default = _ERRORS.get(status, _ERRORS[500])
        return Response.json(status, {"error": code, "description": description or default})

    def budgets(self) -> dict[str, int]:
        return RateLimits().budgets()

    def rate_headers(self, usage: Usage, route: Route | None) -> list[tuple[str, str]]:
        return limits.rate_headers(usage, route.bucket if route else None)

    def too_many(self, usage: Usage) -> Response:
        return self.error(429, limits.too_many_message(usage))

    def handle(self, req: Request, route: Route, params: dict[str, str]) -> Response:
        return dispatch(self, req, route, params)

    def env(self, *, oauth: bool = False, limited: bool = True) -> dict[str, str]:
        """ZENDESK_* settings. `oauth=True` adds ZENDESK_OAUTH_TOKEN: the Chat API accepts OAuth
        only, so a sync that should include chats needs it (deskpulse then uses the token for
        every request)."""
        env = {
            "ZENDESK_BASE_URL": self.base_url,
            "ZENDESK_SUBDOMAIN": self.subdomain,
            "ZENDESK_EMAIL": self.email,
            "ZENDESK_API_TOKEN": self.api_token,
        }
        if oauth:
            env["ZENDESK_OAUTH_TOKEN"] = self.oauth_token
        if not limited:  # nothing to pace against: tell deskpulse not to
            env["ZENDESK_RATE_LIMITS"] = "off"
        return env

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": self._basic}
