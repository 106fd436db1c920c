"""What every sandbox dialect speaks in: the request it is handed, the response it returns, and a
JSON array that serialises a page as it is built. Vendor-neutral (see sandbox.dialect)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    def arg(self, name: str) -> str | None:
        vals = self.query.get(name)
        return vals[-1] if vals else None


@dataclass
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, status: int, obj: Any) -> Response:
        """obj as JSON; values that are JSONArray are written as they were serialised."""
        if isinstance(obj, dict) and any(isinstance(v, JSONArray) for v in obj.values()):
            pieces: list[bytes | memoryview] = []
            for key, value in obj.items():
                pieces += (b",", orjson.dumps(key), b":")
                if isinstance(value, JSONArray):
                    value.write_to(pieces)
                else:
                    pieces.append(orjson.dumps(value))
            pieces[0] = b"{"
            pieces.append(b"}")
            return cls(status, b"".join(pieces), [("Content-Type", JSON_TYPE)])
        return cls(status, orjson.dumps(obj), [("Content-Type", JSON_TYPE)])


CHUNK = 100


class JSONArray:
    """A page's records, serialised to JSON CHUNK at a time as they are added. A page renders
    megabytes of dicts; this way they are freed while still in the CPU cache, and before the
    cyclic GC has had to scan them (which otherwise costs ~15% of a ticket_events page).
    Response.json writes it as orjson.dumps(the list of the items) would."""

    def __init__(self) -> None:
        self._chunks: list[memoryview] = []  # each: the items of a chunk, without the brackets
        self._batch: list[Any] = []
        self.count = 0

    def append(self, item: Any) -> None:
        self._batch.append(item)
        self.count += 1
        if len(self._batch) >= CHUNK:
            self._flush()

    def extend(self, items: list[Any]) -> None:
        """Add items (a chunk of them: see CHUNK)."""
        self._flush()
        self._batch = items
        self.count += len(items)
        self._flush()

    def _flush(self) -> None:
        if self._batch:
            self._chunks.append(memoryview(orjson.dumps(self._batch))[1:-1])
            self._batch = []

    def write_to(self, pieces: list[bytes | memoryview]) -> None:
        self._flush()
        pieces.append(b"[")
        for n, chunk in enumerate(self._chunks):
            if n:
                pieces.append(b",")
            pieces.append(chunk)
        pieces.append(b"]")

    def __len__(self) -> int:
        return self.count


class ApiError(Exception):
    """Raised by a dialect's handler: answered with `status` and `payload` as the JSON body."""

    def __init__(self, status: int, payload: dict[str, Any]) -> None:
        super().__init__(payload)
        self.status = status
        self.payload = payload
