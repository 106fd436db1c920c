"""The shared HTTP helper every vendor connector talks through: one narrow seam.

`HttpClient` wraps a synchronous `httpx.Client` (a daemon bound by vendor rate limits has no use
for an async twin) and adds what every vendor needs, once:

* an injectable `transport` (tests pass `respx` or `httpx.MockTransport`; nothing else changes),
* retries composed from tenacity pieces: 429, 5xx, transport errors, timeouts and malformed or
  truncated JSON bodies are retried; the wait is the server's `Retry-After` (seconds or HTTP-date)
  when it gives one, else exponential backoff with jitter; after `max_retries` retries the last
  failure is mapped onto the error tree of `connectors.errors`,
* a bound on waiting: no request waits more than `max_wait` seconds in all (MAX_WAIT, 5 minutes,
  by default). A vendor asking for longer (`Retry-After: 86400`, or a budget blocked for that
  long) gets `RateLimited` at once, carrying its time, instead of a process asleep for a day,
* writes sent at most once: only GETs (and requests said to be `idempotent`) are sent again
  after the server may have acted on them (a timeout or a dropped connection after sending, a
  5xx). A write is retried only where the server cannot have acted (429, a connection that
  never opened); otherwise it ends in `WriteInDoubt`, and the caller reads back before writing
  again,
* a client-side `RateLimiter` (connectors.ratelimit) fed with what the vendor's rate-limit headers say (the connector
  reads them: a `LimitReader` returning `Observed(bucket, remaining, reset)`), plus optional
  steady pacing per bucket, so a sync spends the budget without provoking a 429,
* counters in `stats` (requests, retries, 429s seen, final errors),
* error messages that name the host and path only: never headers, credentials or query strings
  (a query parameter may hold a token).

Sleeping and clocks are injectable so tests never really wait; every wait goes through the
injected `sleep` (the daemon passes one that a stop request interrupts).

`paginate` is the one page loop of every stream: it takes a paginator (connectors.paging: next
URL in the body, cursor in the body, page numbers, cursor in a header, time watermark), yields
each page's records with the body and the response headers, and a token the vendor serves twice
raises `PaginationLoopError` instead of looping forever.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import httpx
import msgspec
import orjson
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
)

from deskpulse.connectors.base import RequestStats
from deskpulse.connectors.endpoints import Endpoint
from deskpulse.connectors.errors import (
    AuthError,
    BadResponse,
    ConnectorError,
    NotTheApi,
    RateLimited,
    RetriesExhausted,
    StreamUnavailable,
    UnreachableError,
    WriteInDoubt,
)
from deskpulse.connectors.paging import (
    BodyCursor,
    Fetched,
    HeaderCursor,
    NextUrl,
    PageNumber,
    PageRequest,
    Paginator,
    Records,
    TimeWatermark,
    Walk,
)
from deskpulse.connectors.ratelimit import (
    DEFAULT_BUCKET,
    LimitReader,
    Observed,
    RateLimiter,
    header_number,
    ietf_limits,
)
from deskpulse.connectors.records import reason
from deskpulse.connectors.retries import (
    LONGEST_RETRY_AFTER,
    ConnectionRefused,
    Retryable,
    RetryableBody,
    RetryableStatus,
    RetryableTransport,
    TooLong,
    Wait,
    parse_retry_after,
)

log = logging.getLogger(__name__)


MAX_WAIT = 300.0
"""Seconds one request may wait in all for its retries and rate limits (HttpClient's `max_wait`):
a vendor asking for longer (a 429's `Retry-After: 86400`) is given up on at once (`RateLimited`),
so neither a sync nor a push (holding its lock, rows `sending`) sleeps for hours."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods sent again after the server may have acted on them (a timeout, a 5xx): reads."""


def _version() -> str:
    try:
        return metadata.version("deskpulse")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


USER_AGENT = f"deskpulse/{_version()}"


class RejectedRequest(BadResponse):
    """A 4xx other than 401/403/404/429: the vendor refused this request (a bad or expired
    cursor, a parameter out of range). `status` lets a stream react, e.g. restart a cursor."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------------------------
# The client


class HttpClient:
    """A vendor API client: base URL, auth, retries, rate limiting, error mapping.

    `vendor` names the API in error messages; `auth_hint`, `reach_hint` and `url_hint` tell the
    user what to check ("check ZENDESK_EMAIL and ZENDESK_API_TOKEN", "check ZENDESK_BASE_URL /
    network" when the host cannot be reached, "check ZENDESK_BASE_URL" when it answers 404).
    `read_limits` is the vendor's reading of its rate-limit headers (see `LimitReader`); without
    one the client reacts to 429s only. `max_wait` bounds what one request waits (MAX_WAIT);
    `wall` is the wall clock a `RateLimited` error's `until` is told by.
    """

    def __init__(
        self,
        base_url: str,
        *,
        vendor: str,
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_initial: float = 1.0,
        backoff_max: float = 120.0,
        max_wait: float = MAX_WAIT,
        stats: RequestStats | None = None,
        rate_limiter: RateLimiter | None = None,
        read_limits: LimitReader | None = None,
        sleep: Callable[[float], None] = time.sleep,
        auth_hint: str = "check the credentials",
        reach_hint: str = "check the base URL / network",
        url_hint: str = "check the base URL",
        rng: random.Random | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.vendor = vendor
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self.stats = stats if stats is not None else RequestStats()
        self._stats_lock = threading.Lock()  # streams' reader threads share the client
        self.limiter = rate_limiter if rate_limiter is not None else RateLimiter(sleep=sleep)
        self._read_limits = read_limits
        self.max_retries = max_retries
        self.max_wait = max(0.0, float(max_wait))
        self._wall = wall
        self.auth_hint = auth_hint
        self.reach_hint = reach_hint
        self.url_hint = url_hint
        self._sleep = sleep
        self._wait = Wait(backoff_initial, backoff_max, rng or random.Random())
        default_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        default_headers.update(headers or {})
        self._client = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            headers=default_headers,
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
        )

    # -- public API ---------------------------------------------------------------------------

    def get_json(
        self,
        url_or_path: str,
        params: Mapping[str, Any] | None = None,
        *,
        bucket: str = DEFAULT_BUCKET,
        decoder: msgspec.json.Decoder[Any] | None = None,
    ) -> Any:
        """GET and decode a JSON body; retried; errors mapped onto connectors.errors.

        With `decoder` (a msgspec decoder of a page envelope, see connectors.records) the body
        decodes into that type; a body of the wrong shape is a BadResponse, not retried.
        """
        return self.request_json("GET", url_or_path, params=params, bucket=bucket, decoder=decoder)

    def get_page(
        self,
        url_or_path: str,
        params: Mapping[str, Any] | None = None,
        *,
        bucket: str = DEFAULT_BUCKET,
        decoder: msgspec.json.Decoder[Any] | None = None,
    ) -> tuple[Any, httpx.Headers]:
        """GET as `get_json`, with the response's headers: (decoded body, headers)."""
        return self._send("GET", url_or_path, params, None, bucket, None, decoder)

    def paginate(
        self,
        url_or_path: str | Endpoint,
        params: Mapping[str, Any] | None = None,
        *,
        paginator: Paginator | None = None,
        records: Records = None,
        bucket: str | None = None,
        decoder: msgspec.json.Decoder[Any] | None = None,
        restart: Callable[[RejectedRequest, PageRequest], PageRequest | None] | None = None,
    ) -> Iterator[Fetched]:
        """The pages of a paged GET, one `Fetched` each (records, body, headers, request), as
        `paginator` leads from one to the next (connectors.paging). `records` finds a page's
        records in its body (a key, a function, or None for a bare array). `restart`, given a
        400/422 rejection and its request, answers the request to start again from (a stored
        cursor the vendor no longer takes), or None to raise it.

        Given an `Endpoint` (connectors.endpoints), its path, its budget and, unless named
        here, its paginator and records key are used, and `params` are checked against it."""
        if isinstance(url_or_path, Endpoint):
            endpoint = url_or_path
            url_or_path = endpoint.path
            params = endpoint.query(**params) if params is not None else None
            bucket = bucket or endpoint.bucket
            if paginator is None and endpoint.paginator is not None:
                paginator = endpoint.paginator()
            records = records if records is not None else endpoint.records
        if paginator is None:
            raise TypeError(f"paginate {url_or_path}: no paginator (none given, none declared)")
        walk = Walk(
            self.get_page,
            self.vendor,
            PageRequest(url_or_path, dict(params) if params is not None else None),
            paginator,
            records,
            bucket or DEFAULT_BUCKET,
            decoder,
            restart,  # type: ignore[arg-type]
            (RejectedRequest,),
        )
        return walk.pages()

    def put_json(
        self,
        url_or_path: str,
        body: Any,
        *,
        bucket: str = DEFAULT_BUCKET,
        idempotent: bool = False,
    ) -> Any:
        """PUT a JSON body. A write: retried only where the server cannot have acted (429, a
        connection that never opened) unless the caller says it is `idempotent` in effect
        (Zendesk's `update_many` is not: each PUT creates a job that fires triggers)."""
        return self.request_json(
            "PUT", url_or_path, json=body, bucket=bucket, idempotent=idempotent
        )

    def post_json(self, url_or_path: str, body: Any, *, bucket: str = DEFAULT_BUCKET) -> Any:
        """POST a JSON body. Not idempotent: only retried where the server cannot have acted
        (429, connection refused)."""
        return self.request_json("POST", url_or_path, json=body, bucket=bucket, idempotent=False)

    def request_json(
        self,
        method: str,
        url_or_path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        bucket: str = DEFAULT_BUCKET,
        idempotent: bool | None = None,
        decoder: msgspec.json.Decoder[Any] | None = None,
    ) -> Any:
        """Send and decode. `idempotent` (default: only for GET, HEAD, OPTIONS) says whether the
        request may be sent again after the server may have acted on it; a write that is not
        ends in WriteInDoubt on a timeout, a dropped connection or a 5xx."""
        body, _ = self._send(method, url_or_path, params, json, bucket, idempotent, decoder)
        return body

    def _send(self, method: str, url_or_path: str, *args: Any) -> tuple[Any, httpx.Headers]:
        """`request_json`'s work, with the response's headers: args are its params, json,
        bucket, idempotent and decoder, in that order."""
        params, json, bucket, idempotent, decoder = args
        if idempotent is None:
            idempotent = method.upper() in SAFE_METHODS
        url = self._resolve(url_or_path)
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = (
            Retryable if idempotent else (RetryableStatus, RetryableTransport)
        )
        retrying = Retrying(
            retry=retry_if_exception_type(retry_on),
            wait=self._wait,
            stop=(
                stop_after_attempt(self.max_retries + 1)
                | ConnectionRefused()
                | TooLong(self.max_wait)
            ),
            sleep=self._sleep,
            before_sleep=self._before_sleep(method, url),
            reraise=True,
        )
        try:
            # The result comes back in a box that is emptied here: tenacity's retry state (a
            # reference cycle, freed only by the garbage collector) keeps the box, not the page.
            box = retrying(self._boxed, method, url, params, json, bucket, idempotent, decoder)
            answer: tuple[Any, httpx.Headers] = box.pop()
            return answer
        except Retryable as exc:
            self._count("errors")
            attempts = int(retrying.statistics.get("attempt_number", self.max_retries + 1))
            idle = float(retrying.statistics.get("idle_for", 0.0))
            raise self._exhausted(exc, method, url, attempts, idle) from None
        except ConnectorError:
            self._count("errors")
            raise

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def where(self, url: httpx.URL | str) -> str:
        """`https://host/path` of a URL, without query or credentials: safe for messages."""
        url = httpx.URL(url) if isinstance(url, str) else url
        port = f":{url.port}" if url.port is not None else ""
        return f"{url.scheme}://{url.host}{port}{url.path}"

    # -- internals ----------------------------------------------------------------------------

    def _count(self, counter: str) -> None:
        with self._stats_lock:
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)

    def _resolve(self, url_or_path: str) -> httpx.URL:
        url = self.base_url.join(
            url_or_path.lstrip("/") if "://" not in url_or_path else url_or_path
        )
        base = self.base_url
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            # A vendor-supplied next-page URL must not carry our credentials to another host.
            raise BadResponse(
                f"{self.vendor}: refusing to follow {self.where(url)}: not on {self.where(base)}"
            )
        return url

    def _before_sleep(self, method: str, url: httpx.URL) -> Callable[[RetryCallState], None]:
        def hook(state: RetryCallState) -> None:
            self._count("retries")
            exc = state.outcome.exception() if state.outcome is not None else None
            reason = exc.reason if isinstance(exc, Retryable) else type(exc).__name__
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            log.info(
                "%s %s: %s, retry %d in %.1fs",
                method,
                self.where(url),
                reason,
                state.attempt_number,
                wait,
            )

        return hook

    def _boxed(self, *args: Any) -> list[Any]:
        return [self._once(*args)]

    def _once(
        self,
        method: str,
        url: httpx.URL,
        params: Mapping[str, Any] | None,
        body: Any,
        bucket: str,
        idempotent: bool,
        decoder: msgspec.json.Decoder[Any] | None = None,
    ) -> tuple[Any, httpx.Headers]:
        blocked = min(self.limiter.blocked_for(bucket), LONGEST_RETRY_AFTER)
        if blocked > self.max_wait:
            # A 429 (or a spent budget) earlier asked for longer than a request may wait.
            raise self._rate_limited(blocked, method, url)
        self.limiter.acquire(bucket)
        self._count("requests")
        try:
            # Streamed, with the body kept here rather than on the response: httpx's response
            # objects sit in reference cycles that only the garbage collector frees, and a
            # response that kept its page of JSON would keep megabytes alive until then.
            with self._client.stream(
                method,
                url,
                params=dict(params) if params is not None else None,
                content=orjson.dumps(body) if body is not None else None,
                headers={"Content-Type": "application/json"} if body is not None else None,
            ) as response:
                content = b"".join(response.iter_bytes())
        except httpx.TransportError as exc:
            if not idempotent and not isinstance(exc, _NOT_SENT):
                # The request may have reached the server, which may have acted on it: a
                # write is not sent twice on a guess.
                raise self._in_doubt(type(exc).__name__, method, url) from None
            raise RetryableTransport(exc) from None
        if self._read_limits is not None:
            for seen in self._read_limits(bucket, response.headers):
                self.limiter.observe(*seen)
        status = response.status_code
        if status == 429:
            self._count("throttled")
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                self.limiter.block(bucket, retry_after)
            raise RetryableStatus(status, retry_after)
        if status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if not idempotent:
                raise self._in_doubt(f"HTTP {status}", method, url)
            raise RetryableStatus(status, retry_after)
        where = self.where(url)
        if status == 401:
            raise AuthError(
                f"{self.vendor}: authentication failed (401) at {where}: {self.auth_hint}"
            )
        if status in (403, 404):
            raise StreamUnavailable(
                f"{self.vendor}: {where} answered {status}: not available to this account "
                "(plan or role); skipped",
                status=status,
                url=where,
                hint=self.url_hint,
            )
        if status >= 400:
            raise RejectedRequest(status, f"{self.vendor}: HTTP {status} on {method} {where}")
        if status >= 300:
            raise BadResponse(f"{self.vendor}: unexpected redirect ({status}) from {where}")
        if _web_page(response.headers, content):
            raise NotTheApi(
                f"{self.vendor}: {where} answered a web page (text/html), not the API: "
                f"{self.url_hint}"
            )
        if status == 204 or not content:
            if method == "GET":
                raise RetryableBody("empty body")
            return None, response.headers
        if decoder is None:
            try:
                return orjson.loads(content), response.headers
            except orjson.JSONDecodeError:
                if not idempotent:  # applied, but what it made cannot be read
                    raise self._in_doubt("a truncated answer", method, url) from None
                raise RetryableBody("malformed or truncated JSON") from None
        try:
            return decoder.decode(content), response.headers
        except msgspec.ValidationError as exc:
            raise BadResponse(
                f"{self.vendor}: {where} answered an unexpected shape: {reason(exc)}"
            ) from None
        except msgspec.DecodeError:
            raise RetryableBody("malformed or truncated JSON") from None

    def _in_doubt(self, what: str, method: str, url: httpx.URL) -> WriteInDoubt:
        return WriteInDoubt(
            f"{self.vendor}: {what} on {method} {self.where(url)}: it may have been applied; "
            "not sent again before reading back"
        )

    def _rate_limited(
        self, seconds: float, method: str, url: httpx.URL, attempts: int | None = None
    ) -> RateLimited:
        """Given up on a 429: past the cap (`attempts` None), or still throttled after every
        attempt (a short wait each time)."""
        until = datetime.fromtimestamp(self._wall() + seconds, UTC)
        if attempts is None:
            why = f"longer than a request waits ({duration(self.max_wait)})"
            with self._stats_lock:
                if self.stats.blocked_until is None or until > self.stats.blocked_until:
                    self.stats.blocked_until = until
        else:
            why = f"still throttled after {attempts} attempts"
        headline = (
            f"{self.vendor} asked to wait {duration(seconds)} (until {until:%Y-%m-%d %H:%M} UTC)"
        )
        return RateLimited(
            f"{headline} on {method} {self.where(url)}: {why}; given up, try again then",
            retry_after=seconds,
            until=until,
            headline=headline,
        )

    def _exhausted(
        self, exc: Retryable, method: str, url: httpx.URL, attempts: int, idle: float
    ) -> Exception:
        where = self.where(url)
        if isinstance(exc, RetryableStatus) and exc.status == 429 and exc.retry_after is not None:
            past_cap = idle + exc.retry_after > self.max_wait
            return self._rate_limited(exc.retry_after, method, url, None if past_cap else attempts)
        if isinstance(exc, RetryableTransport) and exc.connect:
            return UnreachableError(
                f"{self.vendor}: cannot reach host {url.host} ({where}) after {attempts} attempts: "
                f"{self.reach_hint}"
            )
        if isinstance(exc, RetryableBody):
            return BadResponse(
                f"{self.vendor}: {exc.reason} from {where} after {attempts} attempts"
            )
        return RetriesExhausted(
            f"{self.vendor}: {exc.reason} from {where} after {attempts} attempts; giving up"
        )


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport errors before a request left: the server cannot have acted on it."""


def duration(seconds: float) -> str:
    """A wait for people: "45 s", "5 min", "24 h", "1.5 h"."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    hours = seconds / 3600
    return f"{hours:.0f} h" if abs(hours - round(hours)) < 0.05 else f"{hours:.1f} h"


def _web_page(headers: httpx.Headers, content: bytes) -> bool:
    """An HTML page rather than JSON: said so by its type and by its first byte (some APIs label
    their JSON text/html; a truncated JSON body is no page)."""
    return "html" in headers.get("Content-Type", "").lower() and content.lstrip()[:1] == b"<"


def base_url_problem(value: str) -> str | None:
    """What is wrong with a base URL setting, or None: an http(s) URL of a host that can exist,
    with no user or password in it (URLs are shown in messages; secrets have their own settings)."""
    text = value.strip()
    if not text.lower().startswith(("http://", "https://")):
        return "must start with http:// or https://"
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        return f"is not a valid URL ({exc})"
    host = url.raw_host.decode("ascii", "replace")
    if not host or not all(c.isascii() and (c.isalnum() or c in ".-:") for c in host):
        return f"has no valid host name in {text!r}"
    if url.port is not None and not 0 < url.port < 65536:
        return f"has port {url.port}, outside 1-65535"
    if url.userinfo:
        return (
            "must not hold a user or password (they would show in messages): use the key settings"
        )
    return None


__all__ = [
    "DEFAULT_BUCKET",
    "MAX_WAIT",
    "SAFE_METHODS",
    "USER_AGENT",
    "BodyCursor",
    "Fetched",
    "HeaderCursor",
    "HttpClient",
    "LimitReader",
    "NextUrl",
    "Observed",
    "PageNumber",
    "PageRequest",
    "Paginator",
    "RateLimiter",
    "RejectedRequest",
    "TimeWatermark",
    "base_url_problem",
    "duration",
    "header_number",
    "ietf_limits",
    "parse_retry_after",
]
