"""The Klaviyo dialect's metrics and events (with `include` of their metric, profile and
attributions, a JSON:API compound document)."""

from __future__ import annotations

from typing import Any

from deskpulse.sandbox.data import ts_iso
from deskpulse.sandbox.klaviyo import fieldsets, filters
from deskpulse.sandbox.klaviyo.common import fail, json_answer
from deskpulse.sandbox.klaviyo.profiles import Profiles
from deskpulse.sandbox.klaviyo.shop import METRICS, Event
from deskpulse.sandbox.wire import Request, Response

EVENT_INCLUDES = frozenset({"attributions", "metric", "profile"})


class Events(Profiles):
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
        return json_answer(200, fieldsets.apply(req, "get_metrics", {"data": page, "links": links}))

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
            raise fail(400, f"Invalid sort field: {sort}")
        include = set((req.arg("include") or "").split(",")) - {""}
        if include - EVENT_INCLUDES:
            raise fail(400, f"Invalid include: {','.join(sorted(include - EVENT_INCLUDES))}")
        page, links = self._page(req, events, 200, 1000)
        data = [self._event(e, ids, "attributions" in include) for e in page]
        body: dict[str, Any] = {"data": data, "links": links}
        if include:
            body["included"] = self._included(page, include)
        return json_answer(200, fieldsets.apply(req, "get_events", body))

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
