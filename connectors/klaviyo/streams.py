"""Klaviyo streams: profiles, and events read per metric.

Every list endpoint is JSON:API: records in `data`, the next page's full URL in `links.next`,
which is followed verbatim (its `page[cursor]` is opaque, and the URL already carries the
filter and sort of the first request). A stream's cursor after each committed page:

    {"since": "<ISO datetime>", "next": "<links.next or null>"}        profiles
    {"<metric id>": {"since": ..., "next": ...}, ...}                  event streams

`since` is the watermark: the latest `updated` / `datetime` committed so far, but never later
than the moment this sync started, so a profile or event dated in the future cannot move it
past data that is still to come (connectors.watermark, the rule of every vendor: a record dated
more than a day ahead is kept and reported). The next sync asks for `since - OVERLAP` onwards (events:
`greater-or-equal`, so records sharing the watermark's second are read again, never lost) and
relies on upserts by id for the records read twice. `next` resumes an interrupted backfill;
a stored page cursor that Klaviyo no longer accepts (400 "Invalid cursor") restarts that
metric or profiles from `since` instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from deskpulse.connectors.base import Cursor, Page, Row
from deskpulse.connectors.errors import BadResponse, RecordError
from deskpulse.connectors.http import HttpClient, NextUrl, PageRequest, RejectedRequest
from deskpulse.connectors.klaviyo.api import ENDPOINTS
from deskpulse.connectors.klaviyo.normalise import (
    adjustment_row,
    engagement_row,
    order_row,
    parse_when,
    profile_row,
)
from deskpulse.connectors.paging import dig
from deskpulse.connectors.watermark import Watermark

OVERLAP = timedelta(minutes=10)
"""How far before its watermark an incremental read starts again (late-arriving records)."""

PROFILE_PAGE = 100  # the maximum page[size] of GET /api/profiles
EVENT_PAGE = 1000  # the maximum page[size] of GET /api/events

ORDER_METRICS = ("Placed Order",)
ADJUSTMENT_METRICS = {"Refunded Order": "refund", "Cancelled Order": "cancel"}
ENGAGEMENT_METRICS = {
    "Opened Email": "email_open",
    "Clicked Email": "email_click",
    "Active on Site": "site_visit",
    "Viewed Product": "site_visit",
    "Referred Friend": "referral_sent",
    "Sent Referral": "referral_sent",
    "Referral Sent": "referral_sent",
}
"""Klaviyo metric name -> engagement kind. "Ordered Product" (one event per line item of a
Placed Order) is never read: orders come from "Placed Order" alone."""


def filter_datetime(value: datetime) -> str:
    """A datetime as Klaviyo's filter syntax takes it: ISO 8601, unquoted (a quoted datetime is
    compared as a string and rejected)."""
    return value.astimezone(UTC).isoformat(timespec="seconds")


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


@dataclass
class Context:
    """What the streams of one sync share: the client, the sync's start, the metric ids."""

    client: HttpClient
    started: datetime
    start_time: datetime | None = None
    source: str = "klaviyo"
    predictive: bool = False
    _metrics: dict[str, list[str]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def metric_ids(self, name: str) -> list[str]:
        """Ids of the metrics called `name` (one per integration sending it), resolved once
        per sync for every stream."""
        with self._lock:
            if self._metrics is None:
                self._metrics = self._load_metrics()
            return list(self._metrics.get(name, ()))

    def _load_metrics(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        endpoint = ENDPOINTS["get_metrics"]
        for page in self.client.paginate(
            endpoint.path,
            endpoint.query(**{"fields[metric]": "name"}),
            paginator=NextUrl("klaviyo metrics"),
            records=_data("metrics"),
            bucket=endpoint.bucket,
        ):
            for resource in page.records:
                attributes = resource.get("attributes") if isinstance(resource, Mapping) else None
                name = attributes.get("name") if isinstance(attributes, Mapping) else None
                if isinstance(name, str) and isinstance(resource.get("id"), str):
                    found.setdefault(name, []).append(resource["id"])
        return found

    def mark(self, stream: str) -> Watermark:
        """A stream's watermark rule for this sync (connectors.watermark)."""
        return Watermark(f"{self.source}/{stream}", self.started)

    def watermark(self, mark: Watermark, seen: datetime | None, before: str | None) -> str | None:
        """The cursor's `since`: the latest time committed, capped at the sync's start."""
        if seen is None:
            return before
        capped = mark.cap(seen)
        if before is not None:
            try:
                kept = mark.cap(parse_when(before, "cursor"))
            except RecordError:
                return iso(capped)
            if kept > capped:
                return iso(kept)
        return iso(capped)

    def lower_bound(self, since: str | None) -> datetime | None:
        if since is not None:
            try:
                # A `since` stored past the sync's start (before the cap): read from the start.
                return min(parse_when(since, "cursor"), self.started) - OVERLAP
            except RecordError:
                return self.start_time  # a cursor we cannot read: start over
        return self.start_time


def _data(what: str) -> Callable[[Any], list[Any]]:
    """A JSON:API page's records: its `data` list (anything else is a BadResponse)."""

    def records(body: Any) -> list[Any]:
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, list):
            raise BadResponse(f"klaviyo: {what} page without a `data` list")
        return data

    return records


def _read(
    ctx: Context,
    what: str,
    first: PageRequest,
    resume: str | None,
    when: Callable[[Any], datetime | None],
    mark: Watermark,
) -> Iterator[tuple[list[Any], str | None, datetime | None]]:
    """(records, links.next, latest time among them) per page, from `resume` when given (a
    stored links.next), falling back to the first request when Klaviyo rejects it (400
    "Invalid cursor"). `mark` counts the records dated far past the sync's start."""

    def restart(exc: RejectedRequest, request: PageRequest) -> PageRequest | None:
        return first if resume and request.url == resume and exc.status == 400 else None

    start = PageRequest(resume) if resume else first
    for page in ctx.client.paginate(
        start.url,
        start.params,
        paginator=NextUrl(f"klaviyo {what}"),
        records=_data(what),
        bucket=f"get_{what}",
        restart=restart,
    ):
        latest: datetime | None = None
        for record in page.records:
            try:
                moment = when(record)
            except RecordError:
                continue  # the record is quarantined by normalise; it moves no watermark
            mark.see(moment, record.get("id") if isinstance(record, Mapping) else None)
            if moment is not None and (latest is None or moment > latest):
                latest = moment
        yield page.records, _next(page.body), latest


def _next(body: Any) -> str | None:
    nxt = dig(body, ("links", "next"))
    return nxt if isinstance(nxt, str) and nxt else None


def _attribute_time(name: str) -> Callable[[Any], datetime | None]:
    def when(record: Any) -> datetime | None:
        attributes = record.get("attributes") if isinstance(record, Mapping) else None
        value = attributes.get(name) if isinstance(attributes, Mapping) else None
        return parse_when(value, name) if value is not None else None

    return when


class ProfilesStream:
    """Profiles -> customers, by `updated` (the only profile filter on time: greater-than)."""

    name = "profiles"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        state = cursor if isinstance(cursor, Mapping) else {}
        since = state.get("since") if isinstance(state.get("since"), str) else None
        params: dict[str, Any] = {"page[size]": PROFILE_PAGE, "sort": "updated"}
        additional = ["subscriptions"] + (["predictive_analytics"] if self.ctx.predictive else [])
        params["additional-fields[profile]"] = ",".join(additional)
        low = self.ctx.lower_bound(since)
        if low is not None:
            params["filter"] = f"greater-than(updated,{filter_datetime(low)})"
        resume = state.get("next") if isinstance(state.get("next"), str) else None
        endpoint = ENDPOINTS["get_profiles"]
        first = PageRequest(endpoint.path, endpoint.query(**params))
        mark = self.ctx.mark(self.name)
        try:
            for records, nxt, latest in _read(
                self.ctx, "profiles", first, resume, _attribute_time("updated"), mark
            ):
                since = self.ctx.watermark(mark, latest, since)
                yield Page(records, {"since": since, "next": nxt}, counts=mark.counts())
        finally:
            mark.warn()

    def normalise(self, record: Any) -> Iterable[Row]:
        return [profile_row(record, predictive=self.ctx.predictive)]


class EventStream:
    """Events of some metrics, each metric read on its own (`equals(metric_id, ...)` takes one
    id), oldest first, with its own watermark."""

    name = "events"
    after: tuple[str, ...] = ()
    metrics: Mapping[str, str] = {}
    """Metric name -> what the mapping calls it (kind)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._kinds: dict[str, tuple[str, str]] = {}  # metric id -> (name, kind)

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        state: dict[str, Any] = dict(cursor) if isinstance(cursor, Mapping) else {}
        mark = self.ctx.mark(self.name)
        try:
            for name, kind in self.metrics.items():
                for metric_id in self.ctx.metric_ids(name):
                    self._kinds[metric_id] = (name, kind)
                    yield from self._metric_pages(metric_id, state, mark)
        finally:
            mark.warn()

    def _metric_pages(
        self, metric_id: str, state: dict[str, Any], mark: Watermark
    ) -> Iterator[Page]:
        mine = state.get(metric_id)
        mine = mine if isinstance(mine, Mapping) else {}
        since = mine.get("since") if isinstance(mine.get("since"), str) else None
        resume = mine.get("next") if isinstance(mine.get("next"), str) else None
        filters = [f'equals(metric_id,"{metric_id}")']
        low = self.ctx.lower_bound(since)
        if low is not None:
            filters.append(f"greater-or-equal(datetime,{filter_datetime(low)})")
        params = {
            "filter": ",".join(filters),
            "sort": "datetime",
            "page[size]": EVENT_PAGE,
        }
        endpoint = ENDPOINTS["get_events"]
        first = PageRequest(endpoint.path, endpoint.query(**params))
        for records, nxt, latest in _read(
            self.ctx, "events", first, resume, _attribute_time("datetime"), mark
        ):
            since = self.ctx.watermark(mark, latest, since)
            state[metric_id] = {"since": since, "next": nxt}
            yield Page(
                [_tagged(r, metric_id) for r in records],
                {k: dict(v) for k, v in state.items()},
                counts=mark.counts(),
            )

    def normalise(self, record: Any) -> Iterable[Row]:
        metric_id = record.get("_metric") if isinstance(record, Mapping) else None
        name, kind = self._kinds.get(metric_id or "", ("", ""))
        return [self.row(record, name, kind)]

    def row(self, record: Any, name: str, kind: str) -> Row:  # pragma: no cover - abstract
        raise NotImplementedError


def _tagged(record: Any, metric_id: str) -> Any:
    """The record with the metric it was read under (`_metric`, kept in a quarantined
    payload too): one stream reads several metrics, and the mapping depends on which."""
    if isinstance(record, dict):
        record.setdefault("_metric", metric_id)
    return record


class OrdersStream(EventStream):
    name = "orders"
    metrics = dict.fromkeys(ORDER_METRICS, "order")

    def row(self, record: Any, name: str, kind: str) -> Row:
        return order_row(record)


class AdjustmentsStream(EventStream):
    name = "order_adjustments"
    metrics = ADJUSTMENT_METRICS

    def row(self, record: Any, name: str, kind: str) -> Row:
        return adjustment_row(record, kind)


class EngagementStream(EventStream):
    name = "engagement"
    metrics = ENGAGEMENT_METRICS

    def row(self, record: Any, name: str, kind: str) -> Row:
        return engagement_row(record, kind, name)


STREAM_TYPES: Sequence[type[ProfilesStream] | type[EventStream]] = (
    ProfilesStream,
    OrdersStream,
    AdjustmentsStream,
    EngagementStream,
)

__all__ = [
    "ADJUSTMENT_METRICS",
    "ENGAGEMENT_METRICS",
    "ORDER_METRICS",
    "OVERLAP",
    "STREAM_TYPES",
    "Context",
    "EventStream",
    "ProfilesStream",
    "filter_datetime",
]
