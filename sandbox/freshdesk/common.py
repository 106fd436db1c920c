"""What the Freshdesk dialect's handlers share: its error answers and parameter readers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from deskpulse.sandbox.wire import JSON_TYPE, Request, Response


class Invalid(Exception):
    """A 400 naming its field (Freshdesk's "Validation failed" answer), or another status."""

    def __init__(self, field: str, message: str, code: str = "invalid_value", status: int = 400):
        super().__init__(message)
        self.field, self.message, self.code, self.status = field, message, code, status


def answer(status: int, obj: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return Response(status, orjson.dumps(obj), [("Content-Type", JSON_TYPE), *headers])


def invalid_answer(exc: Invalid) -> Response:
    if exc.status != 400:
        return answer(exc.status, {"code": exc.code, "message": exc.message})
    errors = [{"field": exc.field, "message": exc.message, "code": exc.code}]
    return answer(400, {"description": "Validation failed", "errors": errors})


def int_arg(req: Request, name: str, default: int, lo: int, hi: int, message: str = "") -> int:
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(name, "It should be a/an Positive Integer", "datatype_mismatch") from None
    if not lo <= value <= hi:
        raise Invalid(name, message or f"It should be between {lo} and {hi}")
    return value


def time_arg(req: Request, name: str) -> int | None:
    """An ISO 8601 time parameter as epoch seconds; without an offset it is UTC."""
    raw = req.arg(name)
    if raw is None or raw == "":
        return None
    try:
        moment = datetime.fromisoformat(raw.replace(" ", "+"))
    except ValueError:
        raise Invalid(name, "It should be in the 'valid date' format") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
