"""Typed record decoding: read only the fields a connector maps, and keep each record's raw JSON.

A sync's heaviest cost used to be turning every byte of a vendor page into Python dicts, most of
which (comment bodies, HTML, nested `via.source` objects) no mapping reads. Here a page decodes in
two steps, both in msgspec's C code:

1. the envelope: a small `msgspec.Struct` naming the page's fields, with the record list typed
   `list[msgspec.Raw]`: each record stays as its raw JSON text (a slice of the page, no copy);
2. each record: `RecordType.wrap(raw)` decodes that text into the connector's own Struct (only
   the declared fields, with their declared types checked).

A record whose fields have the wrong types does not fail the page: it becomes a `Record` that
carries the reason, and the engine quarantines it with its raw JSON (`as_payload`) like any
other record that cannot map. Normalisers take typed values (`RecordType.value(record)`), which
also accepts a plain dict shaped like the vendor's JSON (tests, re-imports).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar, get_origin

import msgspec
import orjson

from deskpulse.connectors.errors import RecordError

T = TypeVar("T")


def reason(exc: msgspec.ValidationError) -> str:
    """msgspec's "Expected `str`, got `int` - at `$.status`" as "status: expected `str`, got
    `int`": the field first, like every other record error."""
    message, _, at = str(exc).partition(" - at `")
    path = at.rstrip("`").removeprefix("$").lstrip(".")
    message = message[:1].lower() + message[1:]
    return f"{path}: {message}" if path else message


class Record(Generic[T]):
    """One vendor record: its raw JSON, and its typed value or the reason it has none."""

    __slots__ = ("error", "raw", "sideload", "value")

    def __init__(self, raw: msgspec.Raw, value: T | None, error: str | None = None) -> None:
        self.raw = raw
        self.value = value
        self.error = error
        self.sideload: dict[str, Any] | None = None
        """Records joined from elsewhere in the response (e.g. a ticket's metric set): they go
        into the quarantine payload too."""

    def as_payload(self) -> Any:
        """The record as the vendor sent it, for the quarantine."""
        try:
            payload = orjson.loads(bytes(self.raw))
        except orjson.JSONDecodeError:  # pragma: no cover - the page decoder checked the syntax
            return bytes(self.raw).decode("utf-8", "replace")
        if self.sideload and isinstance(payload, dict):
            for key, value in self.sideload.items():
                payload[key] = (
                    orjson.loads(bytes(value)) if isinstance(value, msgspec.Raw) else value
                )
        return payload

    def raw_id(self) -> Any:
        """The record's `id` read from its raw JSON (for a record that did not decode)."""
        payload = self.as_payload()
        found = payload.get("id") if isinstance(payload, dict) else None
        return found if isinstance(found, int | str) else None  # a list or object is no id

    def __repr__(self) -> str:
        return f"Record({bytes(self.raw)[:60]!r}{'...' if len(self.raw) > 60 else ''})"


class RecordType(Generic[T]):
    """How one kind of vendor record decodes: `RecordType(Ticket)`."""

    def __init__(self, kind: type[T]) -> None:
        self.kind = kind
        self._class: type = get_origin(kind) or kind  # dict[str, Any] -> dict, for isinstance
        self._decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(kind)

    def wrap(self, raw: msgspec.Raw) -> Record[T]:
        try:
            return Record(raw, self._decoder.decode(raw))
        except msgspec.ValidationError as exc:
            return Record(raw, None, reason(exc))

    def wrap_all(self, raws: list[msgspec.Raw] | None) -> list[Record[T]]:
        if not raws:
            return []
        wrap = self.wrap
        return [wrap(raw) for raw in raws]

    def value(self, record: Any) -> T:
        """The typed value of a `Record` of this type, or of a plain dict shaped like the
        vendor's JSON; RecordError (quarantine) when it has none."""
        if isinstance(record, Record):
            if record.value is None:
                raise RecordError(record.error or "record could not be decoded")
            return record.value  # type: ignore[no-any-return]
        if isinstance(record, self._class) and not isinstance(record, Mapping):
            return record  # type: ignore[return-value]
        if isinstance(record, Mapping):
            try:
                return msgspec.convert(record, self.kind)
            except msgspec.ValidationError as exc:
                raise RecordError(reason(exc)) from None
        raise RecordError(f"not a record: {type(record).__name__}")


def page_decoder(kind: type[T]) -> msgspec.json.Decoder[T]:
    """A decoder for a page envelope (`HttpClient.get_json(..., decoder=...)`)."""
    return msgspec.json.Decoder(kind)


__all__ = ["Record", "RecordType", "page_decoder", "reason"]
