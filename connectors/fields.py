"""Reading a vendor record's fields: ids as text, objects, and text, each wrong type a
RecordError naming the field (the sync quarantines the record with that reason)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deskpulse.connectors.errors import RecordError


def text_id(value: Any, field: str) -> str | None:
    """An id as text (vendors send integers or strings); None or "" is None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise RecordError(f"{field}: not an id: {value!r}")


def required_id(record: Mapping[str, Any], key: str = "id") -> str:
    """The record's `key` as an id; RecordError when it is missing."""
    value = text_id(record.get(key), key)
    if value is None:
        raise RecordError(f"missing {key}")
    return value


def record_object(record: Any, what: str) -> Mapping[str, Any]:
    """`record` when it is a JSON object, else RecordError naming `what`."""
    if not isinstance(record, Mapping):
        raise RecordError(f"{what}: not an object: {type(record).__name__}")
    return record


def text(value: Any) -> str | None:
    """Text, with None and "" as None and anything else as its str()."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


__all__ = ["record_object", "required_id", "text", "text_id"]
