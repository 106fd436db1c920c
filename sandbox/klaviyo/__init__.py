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
Endpoints
    GET   /api/metrics                         every metric, 10 a page; filter integration.*
    GET   /api/profiles                        every filter of the document (phone numbers and
                                               `_kx` are never set, so match nothing;
                                               suppressions: shop.py); sort created|updated|id;
                                               page[size] 1-100 (default 20);
                                               additional-fields[profile]=subscriptions,
                                               predictive_analytics
    PATCH /api/profiles/{id}                   `attributes.properties` merged (recorded write);
                                               `updated` moves to the anchor + n seconds
    GET   /api/events                          filter equals(metric_id, one or a list),
                                               profile_id, has(profile|metric), datetime or
                                               timestamp comparisons; sort datetime|-datetime;
                                               page[size] 1-1000 (default 200);
                                               include=metric,profile,attributions -> `included`
                                               (each once; attributions: shop.py) and the
                                               events' `relationships.attributions`
    GET   /api/lists                           the one list, "Newsletter" (id `NwsLtr`)
    GET   /api/lists/{id}                      it; additional-fields[list]=profile_count
    GET   /api/campaigns, /api/flows, /api/templates
                                               generated (catalogue.py); every filter and sort
                                               of the document; campaigns need the filter (on
                                               messages.channel), as the document says
    GET   /api/lists/{id}/profiles             its members, each with `joined_group_at` (the
                                               job's time: the anchor + n seconds, as writes);
                                               filter any/equals(email, [...]), joined_group_at;
                                               sort joined_group_at
    POST  /api/profile-subscription-bulk-create-jobs
                                               202, no body; the job runs `job_delay` seconds
                                               (default 0.5), then its profiles are on the list
                                               and SUBSCRIBED, except the ones it fails (an
                                               invalid e-mail, or one in twelve at random, as
                                               real jobs drop profiles): those never appear
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

import base64
import math
import re
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import orjson

from deskpulse.sandbox.data import Account, ts_iso
from deskpulse.sandbox.dialect import Match, Route, dispatch, match_route, route
from deskpulse.sandbox.klaviyo import catalogue, fieldsets, filters
from deskpulse.sandbox.klaviyo.shop import METRICS, NEWSLETTER, Event, Profile, Shop
from deskpulse.sandbox.klaviyo.unserved import EVENT_INCLUDES, INCLUDES, UNSERVED
from deskpulse.sandbox.limits import Usage
from deskpulse.sandbox.switches import Switches
from deskpulse.sandbox.wire import ApiError, Request, Response

DEFAULT_KEY = "pk_sandbox_klaviyo"
LIST_ID = NEWSLETTER
JSON_API = "application/vnd.api+json"

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

_ERRORS = {
    400: ("invalid", "Invalid input."),
    401: ("not_authenticated", "Authentication credentials were not provided."),
    403: ("permission_denied", "You do not have permission to perform this action."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    410: ("gone", "This revision is no longer available."),
    413: ("request_too_large", "Request too large."),
    429: ("throttled", "Request was throttled."),
    500: ("error", "A server error occurred."),
    503: ("service_unavailable", "Service unavailable."),
}

_REVISION = re.compile(r"^(\d{4}-\d{2}-\d{2})(\.[a-z0-9]+)?$")


def _fail(status: int, detail: str) -> ApiError:
    code, title = _ERRORS.get(status, _ERRORS[400])
    return ApiError(status, _error_body(status, code, title, detail))


def _error_body(status: int, code: str, title: str, detail: str) -> dict[str, Any]:
    return {
        "errors": [
            {
                "id": f"sandbox-{status}",
                "status": status,
                "code": code,
                "title": title,
                "detail": detail,
                "source": {"pointer": "/data/"},
            }
        ]
    }


def _json(status: int, body: Any) -> Response:
    return Response(status, orjson.dumps(body), [("Content-Type", JSON_API)])


class _Writes:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.writes: list[dict[str, Any]] = []

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.writes.append(entry)

    def clear(self) -> None:
        with self._lock:
            self.writes.clear()


class KlaviyoDialect:
    """Klaviyo's API over the shared account (sandbox.dialect.Dialect). Thread-safe.

    Options: `api_key` (the private key it accepts), `job_delay` (seconds a subscription job
    runs before its profiles show on the list).
    """

    name = "klaviyo"
    streams = frozenset(r.stream for r in ROUTES)
    base_buckets: tuple[str, ...] = ()

    def __init__(
        self,
        account: Account,
        base_url: str,
        *,
        api_key: str = DEFAULT_KEY,
        job_delay: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account = account
        self.base_url = base_url
        self.api_key = api_key
        self.job_delay = job_delay
        self.clock = clock
        self.shop = Shop(account)
        self.writes = _Writes()
        self.switches = Switches()  # faults switched on at run time (the host's)
        self._lock = threading.Lock()
        self._properties: dict[str, dict[str, Any]] = {}  # profile id -> written properties
        self._updated: dict[str, int] = {}  # profile id -> updated_ts after a write
        # email -> (visible at on self.clock, profile id, joined_group_at as epoch seconds)
        self._members: dict[str, tuple[float, str, int]] = {}
        self._consent: dict[str, str] = {}  # profile id -> consent after a subscription
        self._new_profiles: dict[str, Profile] = {}  # email -> profile created by a job
        self._write_seq = 0
        self.retired_before = account.anchor.date() - timedelta(days=730)

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
        code, title = _ERRORS.get(status, _ERRORS[500])
        return _json(status, _error_body(status, code, title, description or title))

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
        unserved = (
            set((req.arg("include") or "").split(","))
            - {""}
            - INCLUDES.get(route.bucket or "", frozenset())
        )
        if unserved:  # Klaviyo's 400 naming it (UNSERVED says why), never a silent omission
            detail = f"Invalid include: {','.join(sorted(unserved))} (not served by the sandbox)"
            return _json(400, filters.invalid(detail, "include").payload)
        return dispatch(self, req, route, params, _json)

    def env(self, *, oauth: bool = False, limited: bool = True) -> dict[str, str]:
        env = {"KLAVIYO_BASE_URL": self.base_url, "KLAVIYO_API_KEY": self.api_key}
        if not limited:
            env["KLAVIYO_RATE_LIMITS"] = "off"
        return env

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Klaviyo-API-Key {self.api_key}", "revision": "2026-07-15"}

    # ---- paging ------------------------------------------------------------------------

    def _page(
        self, req: Request, items: list[Any], default: int, maximum: int
    ) -> tuple[list[Any], dict[str, str]]:
        raw_size = req.arg("page[size]")
        try:
            size = int(raw_size) if raw_size is not None else default
        except ValueError:
            raise _fail(400, f"page[size] must be an integer, got {raw_size!r}") from None
        if not 1 <= size <= maximum:
            raise _fail(400, f"page[size] must be between 1 and {maximum}")
        offset = self._offset(req.arg("page[cursor]"))
        page = items[offset : offset + size]
        path = req.path if req.path.endswith("/") else req.path + "/"
        links = {"self": self._url(path, req, None)}
        if offset + size < len(items):
            links["next"] = self._url(path, req, self._token(offset + size))
        return page, links

    def _token(self, offset: int) -> str:
        raw = f"sbx:{offset}:{self.account.seed}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _offset(self, cursor: str | None) -> int:
        if not cursor:
            return 0
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            tag, offset, seed = raw.split(":")
            if tag != "sbx" or int(seed) != self.account.seed:
                raise ValueError
            return int(offset)
        except ValueError:
            raise _fail(400, "Invalid cursor provided.") from None

    def _url(self, path: str, req: Request, cursor: str | None) -> str:
        from urllib.parse import urlencode

        pairs = [(k, v) for k, vs in req.query.items() if k != "page[cursor]" for v in vs]
        if cursor is not None:
            pairs.append(("page[cursor]", cursor))
        query = urlencode(pairs)
        return f"{self.base_url}{path}" + (f"?{query}" if query else "")

    # ---- metrics ------------------------------------------------------------------------

    def h_metrics(self, req: Request, params: dict[str, str]) -> Response:
        items = [self._metric(metric_id) for metric_id, _, _ in METRICS]
        items = filters.apply(
            filters.parse(req.arg("filter"), "get_metrics"),
            items,
            {
                "integration.name": lambda m: m["attributes"]["integration"]["name"],
                "integration.category": lambda m: m["attributes"]["integration"]["category"],
            },
        )
        page, links = self._page(req, items, 10, 10)
        return _json(200, fieldsets.apply(req, "get_metrics", {"data": page, "links": links}))

    def _metric(self, metric_id: str) -> dict[str, Any]:
        name, integration = next((n, i) for m, n, i in METRICS if m == metric_id)
        return {
            "type": "metric",
            "id": metric_id,
            "attributes": {
                "name": name,
                "created": ts_iso(self.account.start_ts - 400 * 86_400),
                "updated": ts_iso(self.account.start_ts - 400 * 86_400),
                "integration": {"name": integration, "category": "ecommerce"},
            },
            "links": {"self": f"{self.base_url}/api/metrics/{metric_id}/"},
        }

    # ---- profiles -----------------------------------------------------------------------

    def _all_profiles(self) -> list[Profile]:
        with self._lock:
            extra = list(self._new_profiles.values())
        return self.shop.profiles() + extra

    def _updated_ts(self, p: Profile) -> int:
        return self._updated.get(p.id, p.updated_ts)

    def h_profiles(self, req: Request, params: dict[str, str]) -> Response:
        conditions = filters.parse(req.arg("filter"), "get_profiles")
        profiles = filters.apply(
            conditions, self._all_profiles(), self._profile_fields(), folded=_EMAILS
        )
        sort = req.arg("sort") or "id"
        keys: dict[str, Callable[[Profile], Any]] = {
            "id": lambda p: p.id,
            "created": lambda p: (p.created_ts, p.id),
            "updated": lambda p: (self._updated_ts(p), p.id),
            "email": lambda p: (p.email, p.id),
            "subscriptions.email.marketing.suppression.timestamp": lambda p: _earliest(
                [ts for _, ts in self._suppressions(p)[0]], p.id
            ),
            "subscriptions.email.marketing.list_suppressions.timestamp": lambda p: _earliest(
                [ts for *_, ts in self._suppressions(p)[1]], p.id
            ),
        }
        key = keys.get(sort.lstrip("-"))
        if key is None:
            raise _fail(400, f"Invalid sort field: {sort}")
        profiles = sorted(profiles, key=key, reverse=sort.startswith("-"))
        extra = set((req.arg("additional-fields[profile]") or "").split(",")) - {""}
        if extra - {"subscriptions", "predictive_analytics"}:
            raise _fail(400, f"Invalid additional-fields: {','.join(sorted(extra))}")
        page, links = self._page(req, profiles, 20, 100)
        body = {"data": [self._profile(p, extra) for p in page], "links": links}
        return _json(200, fieldsets.apply(req, "get_profiles", body))

    def _profile_fields(self) -> dict[str, Callable[[Profile], Any]]:
        """What each filterable field of a profile reads (filters.FILTERS["get_profiles"])."""
        return {
            "id": lambda p: p.id,
            "email": lambda p: p.email,
            "phone_number": lambda p: None,
            "external_id": lambda p: _external_id(p),
            "_kx": lambda p: None,
            "created": lambda p: p.created_ts,
            "updated": self._updated_ts,
            "subscriptions.email.marketing.suppression.reason": lambda p: [
                reason for reason, _ in self._suppressions(p)[0]
            ],
            "subscriptions.email.marketing.suppression.timestamp": lambda p: [
                ts for _, ts in self._suppressions(p)[0]
            ],
            "subscriptions.email.marketing.list_suppressions.reason": lambda p: [
                reason for _, reason, _ in self._suppressions(p)[1]
            ],
            "subscriptions.email.marketing.list_suppressions.timestamp": lambda p: [
                ts for _, _, ts in self._suppressions(p)[1]
            ],
            "subscriptions.email.marketing.list_suppressions.list_id": lambda p: [
                list_id for list_id, _, _ in self._suppressions(p)[1]
            ],
        }

    def _suppressions(self, p: Profile) -> tuple[list[tuple[str, int]], list[tuple[str, str, int]]]:
        if self._consent.get(p.id) == "SUBSCRIBED":
            return [], []  # subscribed again by a job since
        return self.shop.suppressions(p)

    def _profile(self, p: Profile, extra: set[str]) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "email": p.email,
            "phone_number": None,
            "external_id": _external_id(p),
            "first_name": p.first_name,
            "last_name": p.last_name,
            "organization": None,
            "locale": "en-US",
            "title": None,
            "image": None,
            "created": ts_iso(p.created_ts).replace("Z", "+00:00"),
            "updated": ts_iso(self._updated_ts(p)).replace("Z", "+00:00"),
            "last_event_date": None,
            "location": dict.fromkeys(_LOCATION),  # Klaviyo sends the object, its fields null
            "properties": {
                **({"Acquisition Channel": p.channel} if p.channel else {}),
                **self._properties.get(p.id, {}),
            },
        }
        if "subscriptions" in extra:
            consent = self._consent.get(p.id, p.consent)
            suppression, list_suppressions = self._suppressions(p)
            attributes["subscriptions"] = {
                "email": {
                    "marketing": {
                        "can_receive_email_marketing": consent == "SUBSCRIBED" and not suppression,
                        "consent": consent,
                        "suppression": [
                            {"reason": reason, "timestamp": _iso(ts)} for reason, ts in suppression
                        ],
                        "list_suppressions": [
                            {"list_id": list_id, "reason": reason, "timestamp": _iso(ts)}
                            for list_id, reason, ts in list_suppressions
                        ],
                    }
                }
            }
        if "predictive_analytics" in extra:
            attributes["predictive_analytics"] = self.shop.predictive(p)
        return {
            "type": "profile",
            "id": p.id,
            "attributes": attributes,
            "links": {"self": f"{self.base_url}/api/profiles/{p.id}/"},
        }

    def h_update_profile(self, req: Request, params: dict[str, str]) -> Response:
        profile_id = params["id"]
        profile = self.shop.profile(profile_id)
        if profile is None:
            raise _fail(404, f"A profile with id {profile_id} does not exist.")
        data = _body(req).get("data")
        if not isinstance(data, dict) or data.get("type") != "profile":
            raise _fail(400, "data.type must be 'profile'")
        if data.get("id") != profile_id:
            raise _fail(400, "data.id must match the id in the path")
        attributes = data.get("attributes") or {}
        properties = attributes.get("properties") if isinstance(attributes, dict) else None
        if not isinstance(properties, dict):
            raise _fail(400, "attributes.properties must be an object")
        with self._lock:
            self._write_seq += 1
            self._properties.setdefault(profile_id, {}).update(properties)
            self._updated[profile_id] = self.account.anchor_ts + self._write_seq
        self.writes.add({"method": "PATCH", "profile_id": profile_id, "properties": properties})
        return _json(200, {"data": self._profile(profile, set())})

    # ---- events -------------------------------------------------------------------------

    def h_events(self, req: Request, params: dict[str, str]) -> Response:
        conditions = filters.parse(req.arg("filter"), "get_events")
        metrics = [m for m, _, _ in METRICS]
        for c in conditions:
            if c.field == "metric_id":  # picks the per-metric lists to read
                metrics = [m for m in metrics if filters.matches(c, m)]
        events: list[Event] = []
        for m in metrics:
            events.extend(self.shop.events(m))
        ids = self.shop.ids
        events = filters.apply(
            [c for c in conditions if c.field != "metric_id"],
            events,
            {
                "profile_id": lambda e: ids.get(e.profile),
                "profile": lambda e: ids.get(e.profile),
                "metric": lambda e: e.metric,
                "datetime": lambda e: e.ts,
                "timestamp": lambda e: e.ts,
            },
        )
        metric = metrics[0] if len(metrics) == 1 else None
        sort = req.arg("sort")
        if sort in ("datetime", "timestamp", "-datetime", "-timestamp") or metric is None:
            events.sort(key=lambda e: (e.ts, e.id), reverse=bool(sort and sort.startswith("-")))
        elif sort is not None:
            raise _fail(400, f"Invalid sort field: {sort}")
        include = set((req.arg("include") or "").split(",")) - {""}
        if include - EVENT_INCLUDES:
            raise _fail(400, f"Invalid include: {','.join(sorted(include - EVENT_INCLUDES))}")
        page, links = self._page(req, events, 200, 1000)
        data = [self._event(e, ids, "attributions" in include) for e in page]
        body: dict[str, Any] = {"data": data, "links": links}
        if include:
            body["included"] = self._included(page, include)
        return _json(200, fieldsets.apply(req, "get_events", body))

    def _included(self, page: list[Event], include: set[str]) -> list[dict[str, Any]]:
        """Each resource the page's events point at, once (JSON:API compound document)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for e in page:
            if "metric" in include and ("metric", e.metric) not in found:
                found[("metric", e.metric)] = self._metric(e.metric)
            profile_id = self.shop.ids[e.profile]
            if "profile" in include and ("profile", profile_id) not in found:
                profile = self.shop.profile(profile_id)
                assert profile is not None
                found[("profile", profile_id)] = self._profile(profile, set())
            for attribution_id, attributed in self.shop.attributions(e) if (
                "attributions" in include
            ) else []:  # fmt: skip
                found[("attribution", attribution_id)] = {
                    "type": "attribution",
                    "id": attribution_id,
                    "links": {"self": f"{self.base_url}/api/attributions/{attribution_id}/"},
                    "relationships": {
                        "event": {"data": {"type": "event", "id": e.id}},
                        "attributed-event": {"data": {"type": "event", "id": attributed}},
                    },
                }
        return list(found.values())

    def _event(self, e: Event, profiles: dict[int, str], attributions: bool) -> dict[str, Any]:
        relationships: dict[str, Any] = {
            "profile": {"data": {"type": "profile", "id": profiles[e.profile]}},
            "metric": {"data": {"type": "metric", "id": e.metric}},
        }
        if attributions:
            relationships["attributions"] = {
                "data": [{"type": "attribution", "id": a} for a, _ in self.shop.attributions(e)]
            }
        return {
            "type": "event",
            "id": e.id,
            "attributes": {
                "timestamp": e.ts,
                "event_properties": e.properties,
                "datetime": ts_iso(e.ts).replace("Z", "+00:00"),
                "uuid": f"sbx-{e.id}",
            },
            "relationships": relationships,
            "links": {"self": f"{self.base_url}/api/events/{e.id}/"},
        }

    # ---- lists and subscriptions ---------------------------------------------------------

    def _list_item(self) -> dict[str, Any]:
        created = ts_iso(self.account.start_ts - 400 * 86_400).replace("Z", "+00:00")
        return {
            "type": "list",
            "id": LIST_ID,
            "attributes": {
                "name": "Newsletter",
                "created": created,
                "updated": created,
                "opt_in_process": "single_opt_in",
            },
            "links": {"self": f"{self.base_url}/api/lists/{LIST_ID}/"},
        }

    def _visible_members(self) -> dict[str, int]:
        """profile id -> joined_group_at of the list's members whose job has settled."""
        now = self.clock()
        with self._lock:
            return {pid: ts for at, pid, ts in self._members.values() if at <= now}

    def h_list(self, req: Request, params: dict[str, str]) -> Response:
        if params["id"] != LIST_ID:
            raise _fail(404, f"A list with id {params['id']} does not exist.")
        item = self._list_item()
        extra = set((req.arg("additional-fields[list]") or "").split(",")) - {""}
        if extra - {"profile_count"}:
            raise _fail(400, f"Invalid additional-fields[list]: {','.join(sorted(extra))}")
        if extra:
            item["attributes"]["profile_count"] = len(self._visible_members())
        body = {"data": item, "links": {"self": f"{self.base_url}/api/lists/{LIST_ID}/"}}
        body["data"] = fieldsets.apply(req, "get_list", {"data": [item]})["data"][0]
        return _json(200, body)

    def h_lists(self, req: Request, params: dict[str, str]) -> Response:
        item = self._list_item()
        since = self.account.start_ts - 400 * 86_400
        items = filters.apply(
            filters.parse(req.arg("filter"), "get_lists"),
            [item],
            {
                "name": lambda i: i["attributes"]["name"],
                "id": lambda i: i["id"],
                "created": lambda i: since,
                "updated": lambda i: since,
            },
        )
        body = {"data": items, "links": {"self": f"{self.base_url}/api/lists/"}}
        return _json(200, fieldsets.apply(req, "get_lists", body))

    def h_list_profiles(self, req: Request, params: dict[str, str]) -> Response:
        if params["id"] != LIST_ID:
            raise _fail(404, f"A list with id {params['id']} does not exist.")
        joined = self._visible_members()
        profiles = [p for p in self._all_profiles() if p.id in joined]
        profiles = filters.apply(
            filters.parse(req.arg("filter"), "get_profiles_for_list"),
            profiles,
            {
                "email": lambda p: p.email,
                "phone_number": lambda p: None,
                "push_token": lambda p: None,
                "_kx": lambda p: None,
                "joined_group_at": lambda p: joined[p.id],
            },
            folded=_EMAILS,
        )
        sort = req.arg("sort")
        if sort is not None:
            if sort.lstrip("-") != "joined_group_at":
                raise _fail(400, f"Invalid sort field: {sort}")
            profiles.sort(key=lambda p: (joined[p.id], p.id), reverse=sort.startswith("-"))
        extra = set((req.arg("additional-fields[profile]") or "").split(",")) - {""}
        page, links = self._page(req, profiles, 20, 100)
        data = []
        for p in page:
            member = self._profile(p, extra)
            member["attributes"]["joined_group_at"] = _iso(joined[p.id])
            data.append(member)
        body = {"data": data, "links": links}
        return _json(200, fieldsets.apply(req, "get_profiles_for_list", body))

    # ---- campaigns, flows, templates (catalogue.py) ---------------------------------------

    def h_campaigns(self, req: Request, params: dict[str, str]) -> Response:
        if not req.arg("filter"):  # required by the document: the channel to list
            raise filters.invalid("A filter on messages.channel is required, e.g. "
                                  "equals(messages.channel,'email').")  # fmt: skip
        return self._catalogue(req, "get_campaigns", catalogue.campaigns(self.account), 100)

    def h_flows(self, req: Request, params: dict[str, str]) -> Response:
        return self._catalogue(req, "get_flows", catalogue.flows(self.account), 50)

    def h_templates(self, req: Request, params: dict[str, str]) -> Response:
        return self._catalogue(req, "get_templates", catalogue.templates(self.account), 10)

    def _catalogue(
        self, req: Request, operation: str, items: list[catalogue.Item], size: int
    ) -> Response:
        """Filter, sort (by any field the item carries, the document's enum) and page."""
        readers = {name: _reader(name) for name in filters.FILTERS[operation]}
        sortable = set(items[0].fields)  # every item of a kind carries the same fields
        items = filters.apply(filters.parse(req.arg("filter"), operation), items, readers)
        sort = req.arg("sort")
        if sort is not None:
            name = sort.lstrip("-")
            if name not in sortable:
                raise _fail(400, f"Invalid sort field: {sort}")
            items.sort(key=lambda i: (i.fields.get(name) or 0, i.id), reverse=sort[0] == "-")
        page, links = self._page(req, items, size, size)
        data = [
            {
                "type": i.type,
                "id": i.id,
                "attributes": dict(i.attributes),
                "links": {"self": f"{self.base_url}{req.path.rstrip('/')}/{i.id}/"},
            }
            for i in page
        ]
        return _json(200, fieldsets.apply(req, operation, {"data": data, "links": links}))

    def h_subscribe(self, req: Request, params: dict[str, str]) -> Response:
        data = _body(req).get("data")
        if not isinstance(data, dict) or data.get("type") != "profile-subscription-bulk-create-job":
            raise _fail(400, "data.type must be 'profile-subscription-bulk-create-job'")
        relationships = data.get("relationships") or {}
        list_id = ((relationships.get("list") or {}).get("data") or {}).get("id")
        if list_id != LIST_ID:
            raise _fail(404, f"A list with id {list_id} does not exist.")
        entries = (((data.get("attributes") or {}).get("profiles") or {}).get("data")) or []
        if not isinstance(entries, list) or not 1 <= len(entries) <= 1000:
            raise _fail(400, "attributes.profiles.data must hold 1 to 1000 profiles")
        visible = self.clock() + self.job_delay
        if self.switches.take("job_never_ends", req.path) is not None:
            visible = math.inf  # the job never settles: its profiles never show on the list
        emails = []
        for entry in entries:
            attributes = entry.get("attributes") if isinstance(entry, dict) else None
            email = attributes.get("email") if isinstance(attributes, dict) else None
            if not isinstance(email, str):
                raise _fail(400, "each profile needs attributes.email")
            emails.append(email)
            if _job_drops(email):
                continue
            profile = self._find_or_create(email)
            key = email.strip().lower()
            with self._lock:
                if key in self._members:  # already on the list: joined when it first did
                    was_visible, _, joined = self._members[key]
                    self._members[key] = (min(was_visible, visible), profile.id, joined)
                else:
                    self._write_seq += 1
                    joined = self.account.anchor_ts + self._write_seq
                    self._members[key] = (visible, profile.id, joined)
                self._consent[profile.id] = "SUBSCRIBED"
        self.writes.add(
            {"method": "POST", "job": "subscribe", "list_id": list_id, "emails": emails}
        )
        return Response(202, b"", [("Content-Type", JSON_API)])

    def _find_or_create(self, email: str) -> Profile:
        key = email.strip().lower()
        for p in self._all_profiles():
            if p.email.strip().lower() == key:
                return p
        with self._lock:
            n = len(self._new_profiles) + 1
            p = Profile(
                -n, f"01JSBXNEW{n:017d}", key, "", "", self.account.anchor_ts,
                self.account.anchor_ts, None, "SUBSCRIBED", None,
            )  # fmt: skip
            self._new_profiles[key] = p
            return p


_EMAILS = frozenset({"email"})


def _earliest(stamps: list[int], pid: str) -> tuple[bool, int, str]:
    """A sort key: the earliest timestamp, profiles without one last."""
    return (not stamps, min(stamps, default=0), pid)


_LOCATION = ("address1", "address2", "city", "country", "latitude", "longitude", "region", "zip",
             "timezone", "ip")  # fmt: skip


def _reader(name: str) -> Callable[[catalogue.Item], Any]:
    return lambda item: item.fields.get(name)


def _iso(ts: int) -> str:
    return ts_iso(ts).replace("Z", "+00:00")


def _external_id(p: Profile) -> str:
    return f"shop-{p.index + 1}"


def _job_drops(email: str) -> bool:
    """Whether the job fails this profile: an invalid address, or one in twelve by a stable
    hash of the address (real jobs drop suppressed or rejected profiles silently)."""
    text = email.strip().lower()
    if "@" not in text or text.startswith("@") or "." not in text.rsplit("@", 1)[-1]:
        return True
    return sum(text.encode()) % 12 == 0


def _body(req: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(req.body or b"null")
    except orjson.JSONDecodeError:
        raise _fail(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _fail(400, "The request body must be a JSON:API document.")
    return body


__all__ = ["DEFAULT_KEY", "LIST_ID", "UNSERVED", "KlaviyoDialect"]
