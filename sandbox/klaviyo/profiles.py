"""The Klaviyo dialect's profiles: the list (every filter and sort of the document, the
additional fields `subscriptions` and `predictive_analytics`) and `PATCH /api/profiles/{id}`
(its properties merged and recorded)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deskpulse.sandbox.data import ts_iso
from deskpulse.sandbox.klaviyo import fieldsets, filters
from deskpulse.sandbox.klaviyo.common import (
    EMAILS,
    KlaviyoBase,
    body_of,
    external_id,
    fail,
    iso,
    json_answer,
)
from deskpulse.sandbox.klaviyo.shop import Profile
from deskpulse.sandbox.wire import Request, Response

_LOCATION = ("address1", "address2", "city", "country", "latitude", "longitude", "region", "zip",
             "timezone", "ip")  # fmt: skip


def _earliest(stamps: list[int], pid: str) -> tuple[bool, int, str]:
    """A sort key: the earliest timestamp, profiles without one last."""
    return (not stamps, min(stamps, default=0), pid)


class Profiles(KlaviyoBase):
    def h_profiles(self, req: Request, params: dict[str, str]) -> Response:
        conditions = filters.parse(req.arg("filter"), "get_profiles")
        profiles = filters.apply(
            conditions, self._all_profiles(), self._profile_fields(), folded=EMAILS
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
            raise fail(400, f"Invalid sort field: {sort}")
        profiles = sorted(profiles, key=key, reverse=sort.startswith("-"))
        extra = set((req.arg("additional-fields[profile]") or "").split(",")) - {""}
        if extra - {"subscriptions", "predictive_analytics"}:
            raise fail(400, f"Invalid additional-fields: {','.join(sorted(extra))}")
        page, links = self._page(req, profiles, 20, 100)
        body = {"data": [self._profile(p, extra) for p in page], "links": links}
        return json_answer(200, fieldsets.apply(req, "get_profiles", body))

    def _profile_fields(self) -> dict[str, Callable[[Profile], Any]]:
        """What each filterable field of a profile reads (filters.FILTERS["get_profiles"])."""
        return {
            "id": lambda p: p.id,
            "email": lambda p: p.email,
            "phone_number": lambda p: None,
            "external_id": lambda p: external_id(p),
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

    def _profile(self, p: Profile, extra: set[str]) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "email": p.email,
            "phone_number": None,
            "external_id": external_id(p),
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
                            {"reason": reason, "timestamp": iso(ts)} for reason, ts in suppression
                        ],
                        "list_suppressions": [
                            {"list_id": list_id, "reason": reason, "timestamp": iso(ts)}
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
            raise fail(404, f"A profile with id {profile_id} does not exist.")
        data = body_of(req).get("data")
        if not isinstance(data, dict) or data.get("type") != "profile":
            raise fail(400, "data.type must be 'profile'")
        if data.get("id") != profile_id:
            raise fail(400, "data.id must match the id in the path")
        attributes = data.get("attributes") or {}
        properties = attributes.get("properties") if isinstance(attributes, dict) else None
        if not isinstance(properties, dict):
            raise fail(400, "attributes.properties must be an object")
        with self._lock:
            self._write_seq += 1
            self._properties.setdefault(profile_id, {}).update(properties)
            self._updated[profile_id] = self.account.anchor_ts + self._write_seq
        self.writes.add({"method": "PATCH", "profile_id": profile_id, "properties": properties})
        return json_answer(200, {"data": self._profile(profile, set())})
