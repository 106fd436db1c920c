"""Writing to Klaviyo: profile properties and list subscriptions.

Profile properties (`write_user_fields`)
    `PATCH /api/profiles/{id}` with `{"data": {"type": "profile", "id", "attributes":
    {"properties": {...}}}}`: Klaviyo merges the given properties into the profile's. A PATCH
    whose answer never came (a timeout, a dropped connection, a 5xx) is not sent again: that
    profile is `doubt`, read back by the caller before writing again. deskpulse's own properties are prefixed
    `deskpulse_` (the caller names them). `read_user_fields` reads them back through
    `GET /api/profiles?filter=any(id,[...])`.

Subscriptions (`subscribe`)
    `POST /api/profile-subscription-bulk-create-jobs` (at most 1000 profiles a job) answers 202
    with no body and no job id (one whose answer never came is not sent again: its profiles
    are `doubt`): the job runs in the background and the API has no endpoint to
    ask about it. Its outcome is read where it lands: the list's members
    (`GET /api/lists/{id}/profiles?filter=any(email,[...])`, 100 e-mails a query), polled until
    every profile is there, or until the membership has stopped changing for two polls once
    some arrived, or the wait runs out. A profile that never shows up failed: Klaviyo drops
    suppressed and invalid addresses silently, and a double opt-in list adds people only once
    they confirm. Only e-mails whose consent the caller established are ever sent (the consent
    is recorded on the consent record: `consented_at` is not sent, so Klaviyo takes "now").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from deskpulse.connectors.base import DOUBT, FAILED, RETRY, THROTTLED, FieldValues, WriteResult
from deskpulse.connectors.endpoints import Endpoint
from deskpulse.connectors.errors import (
    ConnectorError,
    RateLimited,
    RetriesExhausted,
    StreamUnavailable,
    WriteInDoubt,
)
from deskpulse.connectors.http import HttpClient, NextUrl
from deskpulse.connectors.klaviyo.api import ENDPOINTS
from deskpulse.kpi_core.identity import normalise_email

JOB_SIZE = 1000  # profiles per bulk subscription job (the API's maximum)
FILTER_SIZE = 100  # values per any(...) filter, one page of 100 profiles
NOT_ON_LIST = (
    "not on the list after the subscription job (suppressed, invalid address, or awaiting "
    "double opt-in)"
)


def _quoted(values: Sequence[str]) -> str:
    return "[" + ",".join('"' + v.replace('"', "") + '"' for v in values) + "]"


class KlaviyoWriter:
    """The write side of a Klaviyo connector, over its HTTP client."""

    def __init__(
        self,
        client: HttpClient,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        job_wait: float = 120.0,
        poll_every: float = 1.0,
        source: str = "klaviyo",
    ) -> None:
        self.client = client
        self._sleep = sleep
        self._clock = clock
        self.job_wait = job_wait
        self.poll_every = poll_every
        self.source = source

    # profile properties -------------------------------------------------------------------

    def write_user_fields(self, batch: Sequence[FieldValues]) -> list[WriteResult]:
        results = []
        for item in batch:
            body = {
                "data": {
                    "type": "profile",
                    "id": item.record_id,
                    "attributes": {"properties": dict(item.values)},
                }
            }
            path = ENDPOINTS["update_profile"].url(id=item.record_id)
            results.append(self._one(item.record_id, self._patch, path, body))
        return results

    def _patch(self, path: str, body: Any) -> None:
        # A write: not sent again by the client once Klaviyo may have applied it (WriteInDoubt).
        self.client.request_json("PATCH", path, json=body, bucket="update_profile")

    @staticmethod
    def _one(record_id: str, call: Callable[..., None], *args: Any) -> WriteResult:
        try:
            call(*args)
        except ConnectorError as exc:
            return _result(record_id, exc)
        return WriteResult(record_id)

    def read_user_fields(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(record_ids), FILTER_SIZE):
            part = list(record_ids[start : start + FILTER_SIZE])
            params = {"filter": f"any(id,{_quoted(part)})", "page[size]": FILTER_SIZE}
            for profile in self._all(ENDPOINTS["get_profiles"], params):
                properties = (profile.get("attributes") or {}).get("properties") or {}
                out[str(profile.get("id"))] = {f: properties.get(f) for f in fields}
        return out

    def _all(self, endpoint: Endpoint, params: dict[str, Any], **ids: str) -> list[dict[str, Any]]:
        """Every record of a paged read (JSON:API `links.next`)."""
        found: list[dict[str, Any]] = []
        for page in self.client.paginate(
            endpoint.url(**ids),
            endpoint.query(**params),
            paginator=NextUrl(f"{self.source} {endpoint.bucket}"),
            records="data",
            bucket=endpoint.bucket,
        ):
            found += [d for d in page.records if isinstance(d, dict)]
        return found

    def subscribe(self, list_id: str, emails: Sequence[str]) -> list[WriteResult]:
        """Subscribe `emails` (people who consented) to email marketing on `list_id`; one
        result per e-mail, keyed by the e-mail as given."""
        results: dict[str, WriteResult] = {}
        wanted = {e: normalise_email(e) for e in emails}
        for email, key in wanted.items():
            if key is None or "@" not in key:
                results[email] = WriteResult(email, FAILED, "not an e-mail address")
        todo = [e for e in emails if e not in results]
        sent: list[str] = []
        for start in range(0, len(todo), JOB_SIZE):
            part = todo[start : start + JOB_SIZE]
            try:
                self.client.post_json(
                    ENDPOINTS["bulk_subscribe_profiles"].path,
                    _job(list_id, part),
                    bucket="bulk_subscribe_profiles",
                )
            except ConnectorError as exc:
                results.update({e: _result(e, exc) for e in part})
                continue
            sent += part
        arrived = self._await(list_id, [wanted[e] or "" for e in sent])
        for email in sent:
            ok = wanted[email] in arrived
            results[email] = WriteResult(email) if ok else WriteResult(email, FAILED, NOT_ON_LIST)
        return [results[e] for e in emails]

    def subscribed(self, list_id: str, emails: Sequence[str]) -> set[str]:
        """Those of `emails` (as given) on the list now."""
        keys = {e: normalise_email(e) for e in emails}
        present = self._members(list_id, [k for k in keys.values() if k])
        return {e for e, k in keys.items() if k is not None and k in present}

    def _await(self, list_id: str, keys: Sequence[str]) -> set[str]:
        """The subset of `keys` (normalised e-mails) on the list once the jobs have settled."""
        if not keys:
            return set()
        deadline = self._clock() + self.job_wait
        previous: set[str] | None = None
        steady = 0
        while True:
            self._sleep(self.poll_every)
            present = self._members(list_id, keys)
            if len(present) == len(set(keys)):
                return present
            steady = steady + 1 if present and present == previous else 0
            if steady >= 2 or self._clock() >= deadline:
                return present
            previous = present

    def _members(self, list_id: str, keys: Sequence[str]) -> set[str]:
        present: set[str] = set()
        unique = sorted(set(keys))
        for start in range(0, len(unique), FILTER_SIZE):
            part = unique[start : start + FILTER_SIZE]
            params = {"filter": f"any(email,{_quoted(part)})", "page[size]": FILTER_SIZE}
            for profile in self._all(ENDPOINTS["get_profiles_for_list"], params, id=list_id):
                email = normalise_email((profile.get("attributes") or {}).get("email"))
                if email is not None:
                    present.add(email)
        return present


def _result(record_id: str, exc: ConnectorError) -> WriteResult:
    """What a write that raised leaves: throttled, in doubt, to retry, or refused."""
    if isinstance(exc, RateLimited):
        return WriteResult(record_id, THROTTLED, exc.headline, exc.retry_after)
    if isinstance(exc, WriteInDoubt):
        return WriteResult(record_id, DOUBT, str(exc))
    if isinstance(exc, RetriesExhausted):
        return WriteResult(record_id, RETRY, str(exc))
    if isinstance(exc, StreamUnavailable):
        return WriteResult(record_id, FAILED, "no such profile (deleted or merged?)")
    return WriteResult(record_id, FAILED, str(exc))


def _job(list_id: str, emails: Sequence[str]) -> dict[str, Any]:
    return {
        "data": {
            "type": "profile-subscription-bulk-create-job",
            "attributes": {
                "custom_source": "deskpulse: opted in on a support ticket",
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "email": email.strip(),
                                "subscriptions": {
                                    "email": {"marketing": {"consent": "SUBSCRIBED"}}
                                },
                            },
                        }
                        for email in emails
                    ]
                },
            },
            "relationships": {"list": {"data": {"type": "list", "id": list_id}}},
        }
    }


__all__ = ["JOB_SIZE", "NOT_ON_LIST", "KlaviyoWriter"]
