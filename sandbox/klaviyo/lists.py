"""The Klaviyo dialect's one list (the Newsletter), its members, and the subscription jobs
that add to it (they settle after `job_delay` seconds and drop some profiles, as real ones do)."""

from __future__ import annotations

import math
from typing import Any

from deskpulse.sandbox.data import ts_iso
from deskpulse.sandbox.klaviyo import fieldsets, filters
from deskpulse.sandbox.klaviyo.common import (
    EMAILS,
    JSON_API,
    LIST_ID,
    body_of,
    fail,
    iso,
    json_answer,
)
from deskpulse.sandbox.klaviyo.profiles import Profiles
from deskpulse.sandbox.klaviyo.shop import Profile
from deskpulse.sandbox.wire import Request, Response


class Lists(Profiles):
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
            raise fail(404, f"A list with id {params['id']} does not exist.")
        item = self._list_item()
        extra = set((req.arg("additional-fields[list]") or "").split(",")) - {""}
        if extra - {"profile_count"}:
            raise fail(400, f"Invalid additional-fields[list]: {','.join(sorted(extra))}")
        if extra:
            item["attributes"]["profile_count"] = len(self._visible_members())
        body = {"data": item, "links": {"self": f"{self.base_url}/api/lists/{LIST_ID}/"}}
        body["data"] = fieldsets.apply(req, "get_list", {"data": [item]})["data"][0]
        return json_answer(200, body)

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
        return json_answer(200, fieldsets.apply(req, "get_lists", body))

    def h_list_profiles(self, req: Request, params: dict[str, str]) -> Response:
        if params["id"] != LIST_ID:
            raise fail(404, f"A list with id {params['id']} does not exist.")
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
            folded=EMAILS,
        )
        sort = req.arg("sort")
        if sort is not None:
            if sort.lstrip("-") != "joined_group_at":
                raise fail(400, f"Invalid sort field: {sort}")
            profiles.sort(key=lambda p: (joined[p.id], p.id), reverse=sort.startswith("-"))
        extra = set((req.arg("additional-fields[profile]") or "").split(",")) - {""}
        page, links = self._page(req, profiles, 20, 100)
        data = []
        for p in page:
            member = self._profile(p, extra)
            member["attributes"]["joined_group_at"] = iso(joined[p.id])
            data.append(member)
        body = {"data": data, "links": links}
        return json_answer(200, fieldsets.apply(req, "get_profiles_for_list", body))

    def h_subscribe(self, req: Request, params: dict[str, str]) -> Response:
        data = body_of(req).get("data")
        if not isinstance(data, dict) or data.get("type") != "profile-subscription-bulk-create-job":
            raise fail(400, "data.type must be 'profile-subscription-bulk-create-job'")
        relationships = data.get("relationships") or {}
        list_id = ((relationships.get("list") or {}).get("data") or {}).get("id")
        if list_id != LIST_ID:
            raise fail(404, f"A list with id {list_id} does not exist.")
        entries = (((data.get("attributes") or {}).get("profiles") or {}).get("data")) or []
        if not isinstance(entries, list) or not 1 <= len(entries) <= 1000:
            raise fail(400, "attributes.profiles.data must hold 1 to 1000 profiles")
        visible = self.clock() + self.job_delay
        if self.switches.take("job_never_ends", req.path) is not None:
            visible = math.inf  # the job never settles: its profiles never show on the list
        emails = []
        for entry in entries:
            attributes = entry.get("attributes") if isinstance(entry, dict) else None
            email = attributes.get("email") if isinstance(attributes, dict) else None
            if not isinstance(email, str):
                raise fail(400, "each profile needs attributes.email")
            emails.append(email)
            if job_drops(email):
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


def job_drops(email: str) -> bool:
    """Whether the job fails this profile: an invalid address, or one in twelve by a stable
    hash of the address (real jobs drop suppressed or rejected profiles silently)."""
    text = email.strip().lower()
    if "@" not in text or text.startswith("@") or "." not in text.rsplit("@", 1)[-1]:
        return True
    return sum(text.encode()) % 12 == 0
