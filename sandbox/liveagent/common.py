"""What the LiveAgent dialect's handler modules share: its constants, its error and answer
shapes, argument parsing, cursors, and `LiveAgentBase` (the account, the writes applied so far,
the time zone dates are written in, and the readers every handler uses)."""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from deskpulse.sandbox.data import Account
from deskpulse.sandbox.liveagent import render
from deskpulse.sandbox.wire import JSON_TYPE, Request, Response

DEFAULT_KEY = "sandbox-liveagent-key"
PREFIX = "/api/v3"
RATE_LIMIT = 180
MAX_PER_PAGE = 100
KEY_BUCKET = "apikey"


class Fail(Exception):
    """A handler's refusal: LiveAgent's `{"message": ...}` with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_answer(status: int, obj: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return Response(status, orjson.dumps(obj), [("Content-Type", JSON_TYPE), *headers])


def error_answer(status: int, message: str) -> Response:
    return json_answer(status, {"message": message})


def int_arg(req: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Fail(400, f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise Fail(400, f"{name} must be between {lo} and {hi}")
    return value


def cursor_id(req: Request) -> int | None:
    raw = req.arg("_cursor")
    if not raw:
        return None
    try:
        value = orjson.loads(base64.b64decode(raw.encode(), validate=True))
        return int(value["id"])
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise Fail(400, "Invalid cursor") from None


def next_cursor(last_id: str) -> str:
    return base64.b64encode(orjson.dumps({"id": last_id})).decode()


class WriteRecord:
    """The writes the dialect accepted (the server serves them at /__sandbox/writes)."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []

    def clear(self) -> None:
        self.writes.clear()


class LiveAgentBase:
    """The state every handler module reads (see LiveAgentDialect for the options)."""

    def __init__(
        self,
        account: Account,
        base_url: str,
        *,
        api_key: str = DEFAULT_KEY,
        timezone: str = "UTC",
    ) -> None:
        self.account = account
        self.base_url = base_url
        self.api_key = api_key
        self.timezone = timezone
        self.tz: tzinfo = UTC if timezone == "UTC" else ZoneInfo(timezone)
        self._lock = threading.Lock()
        self.writes = WriteRecord()
        self.overrides: dict[int, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self.extra_history: list[dict[str, Any]] = []
        self._seq = 0
        self._chats: list[dict[str, Any]] | None = None

    # ---- filters ------------------------------------------------------------------------------

    def _since(self, req: Request, field: str) -> int | None:
        """The lower bound of a `D>=` / `D>` filter on `field`, as epoch seconds."""
        raw = req.arg("_filters")
        if not raw:
            return None
        try:
            filters = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Fail(400, "Invalid _filters: not JSON") from None
        if not isinstance(filters, list):  # {"subject": ...} is the tickets' search, read before
            raise Fail(400, f'Unsupported _filters: [[{field!r}, "D>=" | "D>", date]] only')
        bound: int | None = None
        for item in filters:
            if not (isinstance(item, list) and len(item) == 3):
                raise Fail(400, "Invalid _filters: expected [column, operator, value]")
            column, operator, value = item
            if column != field or operator not in ("D>=", "D>"):
                raise Fail(
                    400,
                    f"Unsupported _filters [{column!r}, {operator!r}]: {field} by D>= or D> only",
                )
            try:
                moment = datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S")
            except ValueError:
                raise Fail(400, f"Invalid date in _filters: {value!r}") from None
            ts = int(moment.replace(tzinfo=self.tz).astimezone(UTC).timestamp())
            bound = ts + 1 if operator == "D>" else ts
        return bound

    def _page(self, req: Request) -> tuple[int, int]:
        page = int_arg(req, "_page", 1, 1, 10_000_000)
        per_page = int_arg(req, "_perPage", 10, 1, MAX_PER_PAGE)
        return (page - 1) * per_page, per_page

    def _ticket_json(self, index: int) -> dict[str, Any]:
        t = self.account.ticket(index)
        return render.ticket_json(self.account, t, self.tz, self.overrides.get(t.id))

    def _index(self, la_id: str) -> int:
        number = render.ticket_number(la_id)
        if number is None or not 1 <= number <= self.account.n_tickets:
            raise Fail(404, "Ticket not found")
        return number - 1

    def _created(self, n: int) -> dict[str, Any]:
        return {k: v for k, v in self.created[n].items() if k != "_ts"}

    def _ts(self, text: str) -> int:
        moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=self.tz)
        return int(moment.astimezone(UTC).timestamp())
