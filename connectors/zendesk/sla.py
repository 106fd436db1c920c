"""Zendesk ticket metric events -> `sla_events`, in deskpulse's vendor-neutral SLA vocabulary.

`GET /api/v2/incremental/ticket_metric_events` reports each SLA clock of a ticket (`metric`:
reply_time, resolution_time, ...) as events whose `type` is Zendesk's own word. The connector
maps that word onto `kpi_core.canonical.SLA_EVENT_TYPES` (meanings in `kpi_core.models.SlaEvent`)
and keeps it in `raw_type`; kpi_core never reads Zendesk's words.

Quirks: only `apply_sla` / `apply_group_sla` carry `sla` (target in minutes, business_hours,
policy); `activate` both starts a clock and resumes it after `pause`; a `breach` Zendesk later
withdrew (the ticket's SLA changed) comes back with `deleted: true` and must not count.
`instance_id` numbers repeated cycles of one clock (each reply_time target of a ticket).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deskpulse.connectors.base import Row
from deskpulse.connectors.errors import RecordError
from deskpulse.connectors.zendesk.normalise import number, required_id, required_when

EVENT_TYPES: dict[str, str] = {
    "apply_sla": "applied",
    "apply_group_sla": "applied",  # a group SLA policy on group_ownership_time
    "activate": "started",
    "pause": "paused",
    "fulfill": "fulfilled",
    "breach": "breached",
    "measure": "measured",
    "update_status": "updated",
}
"""Zendesk's ticket metric event `type` -> the neutral `sla_events.type`."""


def sla_rows(event: Mapping[str, Any]) -> list[Row]:
    metric = event.get("metric")
    kind = event.get("type")
    if not isinstance(metric, str) or not isinstance(kind, str):
        raise RecordError("ticket metric event without metric/type")
    neutral = EVENT_TYPES.get(kind)
    if neutral is None:
        raise RecordError(
            f"type: unknown value {kind!r} (expected one of {', '.join(sorted(EVENT_TYPES))})"
        )
    sla = event.get("sla")
    target = business = None
    extra: dict[str, Any] = {"instance_id": event.get("instance_id")}
    if isinstance(sla, dict):
        target = number(sla.get("target"), "sla.target")
        business = sla.get("business_hours")
        if business is not None and not isinstance(business, bool):
            raise RecordError(f"sla.business_hours: not a boolean: {business!r}")
        policy = sla.get("policy")
        if isinstance(policy, dict):
            extra["policy_id"] = policy.get("id")
            extra["policy"] = policy.get("title")
    if isinstance(event.get("status"), dict):
        extra["status"] = event["status"]
    if event.get("deleted") is True:
        extra["deleted"] = True
    return [
        Row(
            "sla_events",
            {
                "id": required_id(event),
                "ticket_id": required_id(event, "ticket_id"),
                "metric": metric,
                "type": neutral,
                "raw_type": kind,
                "time": required_when(event, "time"),
                "target_minutes": target,
                "business_hours": business,
                "extra": extra,
            },
        )
    ]
