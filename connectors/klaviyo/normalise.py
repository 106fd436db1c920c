"""Klaviyo JSON:API resources -> canonical rows. Pure functions; RecordError for a record that
cannot map (the engine quarantines it with the reason and goes on)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from deskpulse.connectors.base import Row
from deskpulse.connectors.errors import RecordError
from deskpulse.kpi_core.identity import normalise_email

ACQUISITION_PROPERTIES = ("acquisition_channel", "Acquisition Channel", "$source", "source")
"""Profile properties that say how a customer was acquired, first match wins."""

ACQUISITION_WORDS: tuple[tuple[str, str], ...] = (
    ("referr", "referral"),
    ("refer", "referral"),
    ("paid", "ads"),
    ("cpc", "ads"),
    ("ads", "ads"),
    ("ad ", "ads"),
    ("organic", "organic"),
    ("seo", "organic"),
)

PREDICTIVE_FIELDS = (
    "historic_clv",
    "predicted_clv",
    "total_clv",
    "historic_number_of_orders",
    "predicted_number_of_orders",
    "average_days_between_orders",
    "average_order_value",
    "churn_probability",
    "expected_date_of_next_order",
)


def parse_when(value: Any, field: str) -> datetime:
    """Klaviyo's ISO 8601 datetimes (`2026-01-02T03:04:05+00:00`, `...Z`, with or without
    microseconds) as aware UTC; RecordError otherwise."""
    if not isinstance(value, str) or not value:
        raise RecordError(f"{field}: not a datetime: {value!r}")
    text = value.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(f"{field}: not a datetime: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # Klaviyo: a datetime without an offset is UTC
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise RecordError(f"{field}: out of range: {value!r}") from None


def maybe_when(value: Any, field: str) -> datetime | None:
    return None if value in (None, "") else parse_when(value, field)


def _attributes(resource: Any, kind: str) -> Mapping[str, Any]:
    if not isinstance(resource, Mapping):
        raise RecordError(f"not a {kind} resource: {type(resource).__name__}")
    if resource.get("type") != kind:
        raise RecordError(f"type: expected {kind!r}, got {resource.get('type')!r}")
    if not isinstance(resource.get("id"), str) or not resource["id"]:
        raise RecordError(f"{kind} without id")
    attributes = resource.get("attributes")
    if not isinstance(attributes, Mapping):
        raise RecordError(f"{kind} {resource['id']}: attributes missing")
    return attributes


def acquisition_channel(properties: Any) -> str | None:
    if not isinstance(properties, Mapping):
        return None
    for name in ACQUISITION_PROPERTIES:
        value = properties.get(name)
        if isinstance(value, str) and value.strip():
            text = value.strip().lower()
            padded = text + " "
            for word, channel in ACQUISITION_WORDS:
                if word in padded:
                    return channel
            return text[:64]
    return None


def profile_row(resource: Any, *, predictive: bool = False) -> Row:
    """A profile as a `customers` row: created is when we acquired them; the e-mail as given
    (matching across sources compares normalised e-mails); consent and, when asked for,
    Klaviyo's predictive values in `extra`."""
    attributes = _attributes(resource, "profile")
    email = attributes.get("email")
    if email is not None and not isinstance(email, str):
        raise RecordError(f"email: not a string: {email!r}")
    names = [attributes.get("first_name"), attributes.get("last_name")]
    name = " ".join(n.strip() for n in names if isinstance(n, str) and n.strip()) or None
    extra: dict[str, Any] = {"updated": attributes.get("updated")}
    for key in ("external_id", "phone_number", "last_event_date"):
        if attributes.get(key) is not None:
            extra[key] = attributes[key]
    consent = _email_consent(attributes.get("subscriptions"))
    if consent is not None:
        extra["email_consent"] = consent
    if predictive:
        values = attributes.get("predictive_analytics")
        if isinstance(values, Mapping):
            extra["klaviyo_predictive"] = {
                k: _finite(values.get(k)) if k != "expected_date_of_next_order" else values.get(k)
                for k in PREDICTIVE_FIELDS
                if values.get(k) is not None
            }
    organization = attributes.get("organization")
    return Row(
        "customers",
        {
            "id": resource["id"],
            "name": name,
            "email": email.strip() if isinstance(email, str) and email.strip() else None,
            "organization": organization if isinstance(organization, str) else None,
            "created_at": maybe_when(attributes.get("created"), "created"),
            "churned_at": None,
            "acquisition_channel": acquisition_channel(attributes.get("properties")),
            "extra": extra,
        },
    )


def _email_consent(subscriptions: Any) -> str | None:
    if not isinstance(subscriptions, Mapping):
        return None
    email = subscriptions.get("email")
    marketing = email.get("marketing") if isinstance(email, Mapping) else None
    consent = marketing.get("consent") if isinstance(marketing, Mapping) else None
    return consent if isinstance(consent, str) else None


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


class Event:
    """The parts of an event resource every mapping needs, checked once."""

    __slots__ = ("id", "metric_id", "profile_id", "properties", "when")

    def __init__(self, resource: Any) -> None:
        attributes = _attributes(resource, "event")
        self.id: str = resource["id"]
        self.when = parse_when(attributes.get("datetime"), "datetime")
        properties = attributes.get("event_properties")
        if properties is None:
            properties = {}
        if not isinstance(properties, Mapping):
            raise RecordError(f"event_properties: not an object: {type(properties).__name__}")
        self.properties: Mapping[str, Any] = properties
        relationships = resource.get("relationships")
        self.profile_id = _related_id(relationships, "profile")
        self.metric_id = _related_id(relationships, "metric")

    def require_profile(self) -> str:
        if self.profile_id is None:
            raise RecordError(f"event {self.id}: no profile")
        return self.profile_id

    def value(self) -> float | None:
        raw = self.properties.get("$value")
        if raw is None:
            return None
        if isinstance(raw, str):
            try:
                raw = float(raw)
            except ValueError:
                raise RecordError(f"$value: not a number: {raw!r}") from None
        amount = _finite(raw)
        if amount is None:
            raise RecordError(f"$value: not a number: {raw!r}")
        return amount

    def order_id(self) -> str:
        """The order an order event is about: `$event_id`, Klaviyo's de-duplication key, which
        refunds and cancellations repeat; the event's own id when it has none."""
        raw = self.properties.get("$event_id")
        if isinstance(raw, bool) or raw in (None, ""):
            return self.id
        if isinstance(raw, int | str):
            return str(raw)[:128]
        raise RecordError(f"$event_id: not an id: {raw!r}")


def _related_id(relationships: Any, name: str) -> str | None:
    if not isinstance(relationships, Mapping):
        return None
    related = relationships.get(name)
    data = related.get("data") if isinstance(related, Mapping) else None
    ident = data.get("id") if isinstance(data, Mapping) else None
    return ident if isinstance(ident, str) and ident else None


def order_row(resource: Any) -> Row:
    """A "Placed Order" event as an `orders` row keyed by its `$event_id`."""
    event = Event(resource)
    amount = event.value()
    if amount is None:
        raise RecordError(f"event {event.id}: Placed Order without $value")
    currency = event.properties.get("$currency_code", event.properties.get("currency"))
    return Row(
        "orders",
        {
            "id": event.order_id(),
            "customer_id": event.require_profile(),
            "amount": amount,
            "created_at": event.when,
            "currency": currency.upper()[:8] if isinstance(currency, str) and currency else None,
            "margin": None,
            "refunded": None,
            "extra": {"event_id": event.id},
        },
    )


def adjustment_row(resource: Any, kind: str) -> Row:
    """A "Refunded Order" / "Cancelled Order" event as an `order_adjustments` row pointing at
    the order by `$event_id`."""
    event = Event(resource)
    return Row(
        "order_adjustments",
        {
            "id": event.id,
            "order_id": event.order_id(),
            "kind": kind,
            "amount": event.value(),
            "created_at": event.when,
            "customer_id": event.profile_id,
            "extra": None,
        },
    )


def engagement_row(resource: Any, kind: str, metric: str) -> Row:
    event = Event(resource)
    return Row(
        "engagement_events",
        {
            "id": event.id,
            "customer_id": event.require_profile(),
            "kind": kind,
            "created_at": event.when,
            "extra": {"metric": metric},
        },
    )


__all__ = [
    "Event",
    "acquisition_channel",
    "adjustment_row",
    "engagement_row",
    "normalise_email",
    "order_row",
    "parse_when",
    "profile_row",
]
