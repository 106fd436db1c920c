"""The connector skeleton: a vendor's connector is a `Profile` and a few class attributes.

A `Profile` says what differs between vendors, and nothing else:

    base_url      where the API is
    auth          an httpx.Auth (its repr never shows the secret)
    hints         the messages' "check ..." lines (credentials, host, URL), naming the source's
                  own variables
    limiter       the pacing: a RateLimiter with the vendor's budgets (connectors.ratelimit)
    read_limits   the reading of the vendor's rate-limit headers (a LimitReader), or None
    writer        builds the write-back surface from the client: an object implementing the
                  write protocols of connectors.base (`connector.writer`), or None
    headers       headers every request carries (Klaviyo's `revision`)
    transport     wraps the transport (content negotiation a vendor insists on), or None

`VendorConnector` builds the one HttpClient from it and offers what every connector has: the
stream filter (`streams=`, unknown names refused in one line), `stats`, `close`, a repr without
secrets, and `streams()`, which makes each stream type of `stream_types` on one run's context
(`context()`, the vendor's). A vendor's class sets `vendor`, `capabilities`, `settings_class`,
`stream_types`, implements `context()` and `from_settings` (its settings -> a Profile), and its
constructor is a few lines. The write-back surface is `connector.writer` itself
(connectors.base.writer_of): no forwarding methods on the connector.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from deskpulse.connectors.base import RequestStats, Stream
from deskpulse.connectors.errors import ConfigError
from deskpulse.connectors.http import HttpClient
from deskpulse.connectors.ratelimit import LimitReader, RateLimiter


@dataclass(frozen=True)
class Hints:
    """What a message tells the user to check: credentials (401), host (unreachable), URL (404,
    a web page instead of the API)."""

    auth: str = "check the credentials"
    reach: str = "check the base URL / network"
    url: str = "check the base URL"


@dataclass(frozen=True)
class Profile:
    """What one vendor's connector is built from (see the module docstring)."""

    base_url: str
    auth: httpx.Auth | None
    limiter: RateLimiter
    hints: Hints = Hints()
    read_limits: LimitReader | None = None
    writer: Callable[[HttpClient], Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    transport: Callable[[httpx.BaseTransport], httpx.BaseTransport] | None = None


@dataclass(frozen=True)
class Wiring:
    """What every source shares, the tests' hooks included: timeouts, retries, the sleep every
    wait goes through, an injected transport (respx, the sandbox), the streams wanted."""

    transport: httpx.BaseTransport | None = None
    timeout: float = 30.0
    max_retries: int = 5
    sleep: Callable[[float], None] = time.sleep
    streams: Sequence[str] | None = None


class VendorConnector:
    """The base every built-in connector stands on (see the module docstring)."""

    vendor: str = ""
    capabilities: frozenset[str] = frozenset({"read"})
    stream_types: ClassVar[Sequence[type[Any]]] = ()

    def __init__(self, source: str, profile: Profile, wiring: Wiring | None = None) -> None:
        wiring = wiring or Wiring()
        names = tuple(kind.name for kind in self.stream_types)
        if wiring.streams is not None:
            unknown = sorted(set(wiring.streams) - set(names))
            if unknown:
                raise ConfigError(
                    f"{self.vendor}: unknown stream {', '.join(unknown)} "
                    f"(streams: {', '.join(names)})"
                )
        self.source = source
        self.profile = profile
        self._wanted = tuple(wiring.streams) if wiring.streams is not None else names
        transport = wiring.transport
        if profile.transport is not None:
            transport = profile.transport(transport or httpx.HTTPTransport())
        self.client = HttpClient(
            profile.base_url,
            vendor=self.vendor,
            auth=profile.auth,
            headers=profile.headers,
            transport=transport,
            timeout=wiring.timeout,
            max_retries=wiring.max_retries,
            rate_limiter=profile.limiter,
            read_limits=profile.read_limits,
            sleep=wiring.sleep,
            auth_hint=profile.hints.auth,
            reach_hint=profile.hints.reach,
            url_hint=profile.hints.url,
        )
        self.stats: RequestStats = self.client.stats
        self.writer: Any = profile.writer(self.client) if profile.writer is not None else None

    def spend_share(self, share: float) -> None:
        """Pace this source at `share` (0 < share <= 1) of its account's budgets (a sources
        file's `budget_share`): its client gets a limiter of its own, the vendor's limiter
        scaled (connectors.ratelimit.RateLimiter.portion); 1 leaves it as it is."""
        self.client.limiter = self.client.limiter.portion(share)

    def context(self) -> Any:  # pragma: no cover - abstract
        """One run's context, shared by the streams of that run."""
        raise NotImplementedError

    def streams(self) -> list[Stream]:
        """Fresh streams of the wanted kinds sharing one run's context, in declared order."""
        ctx = self.context()
        return [kind(ctx) for kind in self.stream_types if kind.name in self._wanted]

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(source={self.source!r}, url={self.profile.base_url!r})"


__all__ = ["Hints", "Profile", "VendorConnector", "Wiring"]
