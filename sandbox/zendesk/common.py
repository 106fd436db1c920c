"""What the Zendesk dialect's handler groups share: the account they serve, its URLs, Zendesk's
error bodies and cursor tokens, and the ticket lookups (see sandbox.zendesk)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, overload
from urllib.parse import urlencode

from deskpulse.sandbox.data import Account, Ticket
from deskpulse.sandbox.streams import ResumeCache
from deskpulse.sandbox.wire import ApiError, Request, Response
from deskpulse.sandbox.zendesk import render

if TYPE_CHECKING:
    from deskpulse.sandbox.zendesk.writes import WriteLog


def api_error(status: int, error: str, description: str | None = None) -> ApiError:
    """Zendesk's error body: `{"error": ..., "description": ...}`."""
    payload: dict[str, Any] = {"error": error}
    if description is not None:
        payload["description"] = description
    return ApiError(status, payload)


def bad(description: str, error: str = "InvalidValue") -> ApiError:
    return api_error(400, error, description)


def int_arg(req: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    try:
        val = int(raw)
    except ValueError:
        raise bad(f"{name} must be an integer") from None
    if not lo <= val <= hi:
        raise bad(f"{name} must be between {lo} and {hi}", "InvalidPaginationParameter")
    return val


def record_id(raw: Any) -> int:
    try:
        return int(str(raw).strip())
    except ValueError:
        raise bad(f"invalid id {raw!r}") from None


def ids_arg(req: Request) -> list[int]:
    raw = [part for part in (req.arg("ids") or "").split(",") if part.strip()]
    if not raw or len(raw) > 100:
        raise bad("ids: 1 to 100 comma-separated ids")
    return [record_id(part) for part in raw]


def time_arg(req: Request, name: str, default: int = 0) -> int:
    """An epoch-seconds parameter: an integer, or a decimal number (Zendesk takes both; the
    fraction is dropped)."""
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw) if any(c in raw for c in ".eE") else int(raw)
    except ValueError:
        raise bad(f"{name} must be a number of seconds") from None
    if not 0 <= value <= 2**40:
        raise bad(f"{name} must be between 0 and {2**40}", "InvalidPaginationParameter")
    return int(value)


def b64(s: str) -> str:
    return base64.urlsafe_b64encode(s.encode()).decode()


def unb64(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad("invalid cursor", "InvalidPaginationParameter") from None


def not_found() -> ApiError:
    return api_error(404, "RecordNotFound", "Not found")


class LazyList(Sequence[dict[str, Any]]):
    """`length` items, each rendered by `render(i)` only when a page slices it (list endpoints
    over the whole account must not build every record)."""

    def __init__(self, length: int, render: Callable[[int], dict[str, Any]]) -> None:
        self._length = length
        self._render = render

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return [self._render(k) for k in range(*i.indices(self._length))]
        if i < 0:
            i += self._length
        if not 0 <= i < self._length:
            raise IndexError(i)
        return self._render(i)


class APIBase:
    """The state every handler group reads. Thread-safe: the account is immutable, writes lock."""

    def __init__(self, account: Account, base_url: str, writes: WriteLog) -> None:
        self.account = account
        self.base_url = base_url
        self.writes = writes
        self._resume = ResumeCache(8)

    def url(self, path: str, params: dict[str, Any]) -> str:
        return f"{self.base_url}{path}?{urlencode(params, doseq=True)}"

    @staticmethod
    def _decode_pos(token: str) -> int:
        raw = unb64(token)
        try:
            return int(raw.rsplit("|", 1)[1])
        except (IndexError, ValueError):
            raise bad("invalid cursor", "InvalidPaginationParameter") from None

    def _ticket_or_404(self, raw_id: str) -> Ticket:
        try:
            tid = int(raw_id)
        except ValueError:
            raise not_found() from None
        if not 1 <= tid <= self.account.n_tickets:
            raise not_found()
        return self.account.ticket(tid - 1)

    def _ticket_json(self, t: Ticket) -> dict[str, Any]:
        return render.ticket_json(t, self.base_url, self.writes.overrides.get(t.id))

    def _list(
        self,
        req: Request,
        path: str,
        key: str,
        items: Sequence[dict[str, Any]],
        keep: dict[str, Any] | None = None,
    ) -> Response:
        """A list endpoint with both of Zendesk's paginations (sandbox.zendesk.pages). `keep`:
        params links repeat."""
        from deskpulse.sandbox.zendesk import pages  # pages reads this module's helpers

        return pages.list_page(req, lambda params: self.url(path, params), key, items, keep)
