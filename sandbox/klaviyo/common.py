"""What the Klaviyo dialect's handler modules share: the JSON:API answer and error shapes, the
cursor pages (`page[cursor]`, `links.next`), the request body reader, and `KlaviyoBase` (the
account's shop and the writes applied to it so far)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import orjson

from deskpulse.sandbox.data import Account, ts_iso
from deskpulse.sandbox.klaviyo.shop import NEWSLETTER, Profile, Shop
from deskpulse.sandbox.switches import Switches
from deskpulse.sandbox.wire import ApiError, Request, Response

DEFAULT_KEY = "pk_sandbox_klaviyo"
LIST_ID = NEWSLETTER
JSON_API = "application/vnd.api+json"
EMAILS = frozenset({"email"})
"""Fields whose filters compare case-folded (e-mail addresses)."""

ERRORS = {
    400: ("invalid", "Invalid input."),
    401: ("not_authenticated", "Authentication credentials were not provided."),
    403: ("permission_denied", "You do not have permission to perform this action."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    410: ("gone", "This revision is no longer available."),
    413: ("request_too_large", "Request too large."),
    429: ("throttled", "Request was throttled."),
    500: ("error", "A server error occurred."),
    503: ("service_unavailable", "Service unavailable."),
}


def fail(status: int, detail: str) -> ApiError:
    code, title = ERRORS.get(status, ERRORS[400])
    return ApiError(status, error_body(status, code, title, detail))


def error_body(status: int, code: str, title: str, detail: str) -> dict[str, Any]:
    return {
        "errors": [
            {
                "id": f"sandbox-{status}",
                "status": status,
                "code": code,
                "title": title,
                "detail": detail,
                "source": {"pointer": "/data/"},
            }
        ]
    }


def json_answer(status: int, body: Any) -> Response:
    return Response(status, orjson.dumps(body), [("Content-Type", JSON_API)])


class Writes:
    """The writes the dialect accepted (served at /__sandbox/writes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.writes: list[dict[str, Any]] = []

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.writes.append(entry)

    def clear(self) -> None:
        with self._lock:
            self.writes.clear()


def iso(ts: int) -> str:
    return ts_iso(ts).replace("Z", "+00:00")


def external_id(p: Profile) -> str:
    return f"shop-{p.index + 1}"


def body_of(req: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(req.body or b"null")
    except orjson.JSONDecodeError:
        raise fail(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise fail(400, "The request body must be a JSON:API document.")
    return body


class KlaviyoBase:
    """The state every handler module reads (see KlaviyoDialect for the options)."""

    def __init__(
        self,
        account: Account,
        base_url: str,
        *,
        api_key: str = DEFAULT_KEY,
        job_delay: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account = account
        self.base_url = base_url
        self.api_key = api_key
        self.job_delay = job_delay
        self.clock = clock
        self.shop = Shop(account)
        self.writes = Writes()
        self.switches = Switches()  # faults switched on at run time (the host's)
        self._lock = threading.Lock()
        self._properties: dict[str, dict[str, Any]] = {}  # profile id -> written properties
        self._updated: dict[str, int] = {}  # profile id -> updated_ts after a write
        # email -> (visible at on self.clock, profile id, joined_group_at as epoch seconds)
        self._members: dict[str, tuple[float, str, int]] = {}
        self._consent: dict[str, str] = {}  # profile id -> consent after a subscription
        self._new_profiles: dict[str, Profile] = {}  # email -> profile created by a job
        self._write_seq = 0
        self.retired_before = account.anchor.date() - timedelta(days=730)

    def _page(
        self, req: Request, items: list[Any], default: int, maximum: int
    ) -> tuple[list[Any], dict[str, str]]:
        raw_size = req.arg("page[size]")
        try:
            size = int(raw_size) if raw_size is not None else default
        except ValueError:
            raise fail(400, f"page[size] must be an integer, got {raw_size!r}") from None
        if not 1 <= size <= maximum:
            raise fail(400, f"page[size] must be between 1 and {maximum}")
        offset = self._offset(req.arg("page[cursor]"))
        page = items[offset : offset + size]
        path = req.path if req.path.endswith("/") else req.path + "/"
        links = {"self": self._url(path, req, None)}
        if offset + size < len(items):
            links["next"] = self._url(path, req, self._token(offset + size))
        return page, links

    def _token(self, offset: int) -> str:
        raw = f"sbx:{offset}:{self.account.seed}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _offset(self, cursor: str | None) -> int:
        if not cursor:
            return 0
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            tag, offset, seed = raw.split(":")
            if tag != "sbx" or int(seed) != self.account.seed:
                raise ValueError
            return int(offset)
        except ValueError:
            raise fail(400, "Invalid cursor provided.") from None

    def _url(self, path: str, req: Request, cursor: str | None) -> str:
        pairs = [(k, v) for k, vs in req.query.items() if k != "page[cursor]" for v in vs]
        if cursor is not None:
            pairs.append(("page[cursor]", cursor))
        query = urlencode(pairs)
        return f"{self.base_url}{path}" + (f"?{query}" if query else "")

    def _all_profiles(self) -> list[Profile]:
        with self._lock:
            extra = list(self._new_profiles.values())
        return self.shop.profiles() + extra

    def _updated_ts(self, p: Profile) -> int:
        return self._updated.get(p.id, p.updated_ts)

    def _suppressions(self, p: Profile) -> tuple[list[tuple[str, int]], list[tuple[str, str, int]]]:
        if self._consent.get(p.id) == "SUBSCRIBED":
            return [], []  # subscribed again by a job since
        return self.shop.suppressions(p)
