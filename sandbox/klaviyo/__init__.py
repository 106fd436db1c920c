"""The Klaviyo dialect of the sandbox: Klaviyo's JSON:API over the account's shop (shop.py).

Everything a connector sees follows shared/specs/klaviyo/stable.json (revision 2026-07-15):

Auth and revision
    `Authorization: Klaviyo-API-Key <key>` (default `pk_sandbox_klaviyo`), else 401
    `not_authenticated`. Every call needs a `revision: YYYY-MM-DD` header: missing or malformed
    -> 400; a revision more than two years before the account's anchor is retired -> 410.
JSON:API
    `{data: [{type, id, attributes, relationships, links}], links: {self, next}}`; `links.next`
    is an absolute URL with `page[cursor]` (opaque; a cursor the sandbox did not issue -> 400
    "Invalid cursor provided."). Errors are `{errors: [{id, status, code, title, detail,
    source}]}`.
Filters (filters.py)
    One parser for every route: `op(field,value)` joined by commas or nested in `and(...)`;
    quoted strings, lists, unquoted datetimes, numbers, booleans. Each operation takes exactly
    the (field, operator, single/list/no value) of its `x-klaviyo-filters`; anything else
    (`or`, `not`, another field or operator, a quoted datetime) is a 400 `invalid` naming it,
    with `source.parameter: filter`.
Sparse fieldsets (fieldsets.py)
    `fields[<type>]` on every GET keeps only the named attributes, as the document allows.
Not served (unserved.py)
    The includes and fieldsets the document offers that the sandbox does not model (tags, flow
    triggers and actions, campaign messages, conversations, push tokens): Klaviyo's 400 naming
    the parameter, with the reason in UNSERVED.
Endpoints
    Every route of ROUTES with its filters, sorts, page sizes and what the subscription job does:
    docs/sandbox/klaviyo.md.
Rate limits
    Per operation, both windows of the spec's `x-klaviyo-ratelimit`: the burst per second
    (profiles 75, events 350, metrics 10, lists and writes 75, campaigns 10, flows 3,
    templates 75) and the steady per minute (profiles 750, events 3500, metrics 150, lists and
    writes 750, campaigns 150, flows 60, templates 750), fixed windows, a request
    must fit both; answers carry `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` of
    the steady window (not on 429s, which carry only `Retry-After`, the seconds until the
    window that refused the request ends, and the `throttled` body).
"""

from __future__ import annotations

import re
from datetime import date

from deskpulse.sandbox.dialect import Match, Route, dispatch, match_route, route
from deskpulse.sandbox.klaviyo import filters
from deskpulse.sandbox.klaviyo.common import (
    DEFAULT_KEY,
    ERRORS,
    LIST_ID,
    error_body,
    json_answer,
)
from deskpulse.sandbox.klaviyo.events import Events
from deskpulse.sandbox.klaviyo.hooks import sign_klaviyo
from deskpulse.sandbox.klaviyo.lists import Lists
from deskpulse.sandbox.klaviyo.messages import Messages
from deskpulse.sandbox.klaviyo.unserved import INCLUDES, UNSERVED
from deskpulse.sandbox.limits import Usage
from deskpulse.sandbox.wire import Request, Response

__all__ = ["DEFAULT_KEY", "LIST_ID", "UNSERVED", "KlaviyoDialect"]

ROUTES = (
    route("GET", "/api/metrics", "metrics", "metrics", "get_metrics"),
    route("GET", "/api/profiles", "profiles", "profiles", "get_profiles"),
    route("PATCH", "/api/profiles/{id}", "profile_writes", "update_profile", "update_profile"),
    route("GET", "/api/events", "events", "events", "get_events"),
    route("GET", "/api/lists", "lists", "lists", "get_lists"),
    route("GET", "/api/lists/{id}/profiles", "lists", "list_profiles", "get_profiles_for_list"),
    route("GET", "/api/lists/{id}", "lists", "list", "get_list"),
    route("GET", "/api/campaigns", "campaigns", "campaigns", "get_campaigns"),
    route("GET", "/api/flows", "flows", "flows", "get_flows"),
    route("GET", "/api/templates", "templates", "templates", "get_templates"),
    route(
        "POST",
        "/api/profile-subscription-bulk-create-jobs",
        "subscriptions",
        "subscribe",
        "bulk_subscribe_profiles",
    ),
)

BUDGETS = {
    "get_metrics": 150,
    "get_profiles": 750,
    "update_profile": 750,
    "get_events": 3500,
    "get_lists": 750,
    "get_profiles_for_list": 750,
    "get_list": 750,
    "get_campaigns": 150,
    "get_flows": 60,
    "get_templates": 750,
    "bulk_subscribe_profiles": 750,
}
"""Steady limits per minute from the spec's x-klaviyo-ratelimit."""

BURSTS = {
    "get_metrics": 10,
    "get_profiles": 75,
    "update_profile": 75,
    "get_events": 350,
    "get_lists": 75,
    "get_profiles_for_list": 75,
    "get_list": 75,
    "get_campaigns": 10,
    "get_flows": 3,
    "get_templates": 75,
    "bulk_subscribe_profiles": 75,
}
"""Burst limits per second from the spec's x-klaviyo-ratelimit."""

_REVISION = re.compile(r"^(\d{4}-\d{2}-\d{2})(\.[a-z0-9]+)?$")


class KlaviyoDialect(Events, Lists, Messages):
    """Klaviyo's API over the shared account (sandbox.dialect.Dialect). Thread-safe.

    Options: `api_key` (the private key it accepts), `job_delay` (seconds a subscription job
    runs before its profiles show on the list), `clock` (what `job_delay` is measured on).
    Handlers: profiles.py, events.py (and metrics), lists.py (and subscription jobs),
    messages.py (campaigns, flows, templates); common.py holds what they share.
    """

    sign_webhook = staticmethod(sign_klaviyo)

    name = "klaviyo"
    streams = frozenset(r.stream for r in ROUTES)
    base_buckets: tuple[str, ...] = ()

    # ---- the seam -----------------------------------------------------------------------

    def match(self, method: str, path: str) -> Match:
        return match_route(ROUTES, method, path.rstrip("/") or "/")

    def authenticate(self, req: Request) -> Response | None:
        if req.headers.get("authorization", "") != f"Klaviyo-API-Key {self.api_key}":
            return self.error(401, "Incorrect authentication credentials.")
        return None

    def authorise(self, req: Request, route: Route) -> Response | None:
        revision = req.headers.get("revision")
        if not revision:
            return self.error(400, "The revision header is required.")
        m = _REVISION.match(revision.strip())
        try:
            released = date.fromisoformat(m.group(1)) if m else None
        except ValueError:
            released = None
        if released is None:
            return self.error(400, f"Invalid revision {revision!r}: use YYYY-MM-DD.")
        if released < self.retired_before:
            return self.error(410, f"The revision {revision} has been retired.")
        return None

    def error(self, status: int, description: str | None = None) -> Response:
        code, title = ERRORS.get(status, ERRORS[500])
        return json_answer(status, error_body(status, code, title, description or title))

    def budgets(self) -> dict[str, int]:
        return dict(BUDGETS)

    def bursts(self) -> dict[str, int]:
        return dict(BURSTS)

    def rate_headers(self, usage: Usage, route: Route | None) -> list[tuple[str, str]]:
        if usage.over or route is None or route.bucket not in usage.limits:
            return []  # Klaviyo sends no RateLimit-* headers on a 429
        bucket = route.bucket
        return [
            ("RateLimit-Limit", str(usage.limits[bucket])),
            ("RateLimit-Remaining", str(usage.remaining[bucket])),
            ("RateLimit-Reset", usage.reset_text),
        ]

    def too_many(self, usage: Usage) -> Response:
        return self.error(
            429, f"Request was throttled. Expected available in {usage.reset_text} seconds."
        )

    def handle(self, req: Request, route: Route, params: dict[str, str]) -> Response:
        asked = set((req.arg("include") or "").split(",")) - {""}
        unserved = asked - INCLUDES.get(route.bucket or "", frozenset())
        if unserved:  # Klaviyo's 400 naming it (UNSERVED says why), never a silent omission
            detail = f"Invalid include: {','.join(sorted(unserved))} (not served by the sandbox)"
            return json_answer(400, filters.invalid(detail, "include").payload)
        return dispatch(self, req, route, params, json_answer)

    def env(self, *, oauth: bool = False, limited: bool = True) -> dict[str, str]:
        env = {"KLAVIYO_BASE_URL": self.base_url, "KLAVIYO_API_KEY": self.api_key}
        if not limited:
            env["KLAVIYO_RATE_LIMITS"] = "off"
        return env

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Klaviyo-API-Key {self.api_key}", "revision": "2026-07-15"}
