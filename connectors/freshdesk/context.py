"""One run's shared state for the Freshdesk streams: the `Directory` of what the run learns
once (agent ids, group and company names, the default SLA policy's targets) and the `Context`
every stream of the run holds. Lookups load from `pages()` (`ensure`), never from `normalise`:
normalising does no I/O, and a lookup that fails surfaces as the stream's own error."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from deskpulse.connectors.endpoints import Endpoint
from deskpulse.connectors.errors import BadResponse, RecordError, StreamUnavailable
from deskpulse.connectors.freshdesk.endpoints import ENDPOINTS
from deskpulse.connectors.freshdesk.mapping import UnknownCodes
from deskpulse.connectors.http import HttpClient
from deskpulse.connectors.paging import PageNumber
from deskpulse.connectors.timezones import iana_zone

log = logging.getLogger(__name__)

PER_PAGE = 100
"""Freshdesk's largest page."""


def page_of(body: Any, what: str) -> list[Any]:
    if not isinstance(body, list):
        raise BadResponse(f"freshdesk {what}: expected a JSON array, got {type(body).__name__}")
    return body


def numbered(
    client: HttpClient,
    endpoint: Endpoint,
    per_page: int,
    ids: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
) -> Iterator[list[Any]]:
    """The pages of a numbered list until a short one; `params` as the endpoint declares them,
    `ids` its path's placeholders."""
    pages = client.paginate(
        endpoint.url(**(ids or {})),
        endpoint.query(**(params or {})),
        paginator=PageNumber(size=per_page),
        bucket=endpoint.bucket,
    )
    for page in pages:
        yield page_of(page.records, endpoint.path)


class Directory:
    """What one run learns once and shares: agent ids (author kinds), group and company names,
    the default SLA policy's targets. Loaded from `pages()` (`ensure`), never from `normalise`."""

    def __init__(self, client: HttpClient, per_page: int = PER_PAGE) -> None:
        self._client = client
        self._per_page = per_page
        self.agents: list[Any] = []
        self.agent_ids: set[str] = set()
        self.groups: dict[str, str] = {}
        self.companies: dict[str, str] = {}
        self.policy: dict[str, Any] = {}
        self._loaded = False

    def _all(self, name: str) -> list[Any]:
        return [r for page in numbered(self._client, ENDPOINTS[name], self._per_page)
                for r in page]  # fmt: skip

    def ensure(self) -> None:
        if self._loaded:
            return
        self.agents = self._all("agents")
        self.agent_ids = {
            str(a["id"]) for a in self.agents if isinstance(a, Mapping) and a.get("id")
        }
        self.groups = self._names("groups")
        self.companies = self._names("companies")
        try:
            body = self._client.get_json(ENDPOINTS["sla_policies"].path)
            policies = [p for p in page_of(body, "/sla_policies") if isinstance(p, Mapping)]
        except StreamUnavailable as exc:  # a plan without SLA policies
            log.warning("freshdesk: cannot list SLA policies (%s); SLA targets unnamed", exc)
            policies = []
        default = next((p for p in policies if p.get("is_default")), None)
        if default is not None:
            self.policy = {
                "id": default.get("id"),
                "name": default.get("name"),
                "targets": policy_targets(default.get("sla_target")),
            }
        self._loaded = True

    def _names(self, name: str) -> dict[str, str]:
        try:
            rows = self._all(name)
        except StreamUnavailable as exc:
            log.warning("freshdesk: cannot list %s (%s); they are named by id", name, exc)
            return {}
        return {str(r["id"]): str(r.get("name") or r["id"]) for r in rows
                if isinstance(r, Mapping) and r.get("id") is not None}  # fmt: skip

    def group(self, group_id: Any) -> str | None:
        if group_id in (None, ""):
            return None
        return self.groups.get(str(group_id), str(group_id))

    def company(self, company_id: str | None) -> str | None:
        return None if company_id is None else self.companies.get(company_id, company_id)


def policy_targets(raw: Any) -> dict[int, dict[str, Any]]:
    """`{"priority_4": {respond_within, resolve_within, business_hours}}` -> {4: {...}}; what
    is not a number of seconds or a flag is left out (the due times still give the target)."""
    targets: dict[int, dict[str, Any]] = {}
    for key, target in raw.items() if isinstance(raw, Mapping) else ():
        number = str(key).removeprefix("priority_")
        if not number.isdigit() or not isinstance(target, Mapping):
            continue
        kept = {k: v for k in ("respond_within", "resolve_within")
                if isinstance(v := target.get(k), int) and not isinstance(v, bool) and v >= 0}  # fmt: skip
        if isinstance(target.get("business_hours"), bool):
            kept["business_hours"] = target["business_hours"]
        targets[int(number)] = kept
    return targets


@dataclass
class Context:
    client: HttpClient
    directory: Directory
    start: datetime
    overlap: timedelta
    started: datetime  # the sync's start: no watermark passes it (connectors.watermark)
    statuses: Mapping[int, str]
    source: str = "freshdesk"
    codes: UnknownCodes = field(default_factory=UnknownCodes)
    per_page: int = PER_PAGE

    def zone(self, name: str) -> str:
        try:
            return iana_zone(name)
        except ValueError:
            raise RecordError(f"time_zone: unknown time zone {name!r}") from None


__all__ = ["PER_PAGE", "Context", "Directory", "numbered", "page_of"]
