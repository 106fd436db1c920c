"""Zendesk connection settings: a frozen dataclass whose secrets never print."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from deskpulse.connectors.errors import ConfigError


class _HasSecret(Protocol):
    def get_secret_value(self) -> str: ...


class Secret:
    """A string that shows as `**********` in repr, str and f-strings (like pydantic's SecretStr).

    Only the HTTP auth reads `get_secret_value()`.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def _secret(value: str | _HasSecret | None) -> Secret | None:
    if value is None:
        return None
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value) if value else None
    text = value.get_secret_value()  # pydantic SecretStr and friends
    return Secret(text) if text else None


class BearerAuth(httpx.Auth):
    """OAuth access token as `Authorization: Bearer ...`."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(**********)"


@dataclass(frozen=True)
class ZendeskConfig:
    """How to reach one Zendesk account.

    `base_url` (ZENDESK_BASE_URL) overrides `https://{subdomain}.zendesk.com`, e.g. for the sandbox.
    Auth is an API token for `email` (Basic `{email}/token:{api_token}`) or an OAuth access token
    (Bearer), which wins when both are given. Tokens may be `str`, `Secret` or pydantic `SecretStr`;
    they are stored as `Secret` and never appear in repr, logs or error messages.
    """

    subdomain: str | None = None
    email: str | None = None
    api_token: Secret | str | None = field(default=None, repr=False)
    oauth_token: Secret | str | None = field(default=None, repr=False)
    base_url: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_token", _secret(self.api_token))
        object.__setattr__(self, "oauth_token", _secret(self.oauth_token))
        if not self.base_url and not self.subdomain:
            raise ConfigError("zendesk: set ZENDESK_SUBDOMAIN (or ZENDESK_BASE_URL)")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ConfigError("zendesk: ZENDESK_BASE_URL must start with http:// or https://")
        if self.subdomain and not self.base_url and not _valid_subdomain(self.subdomain):
            raise ConfigError(
                "zendesk: ZENDESK_SUBDOMAIN must be the subdomain alone, e.g. 'acme' for "
                "acme.zendesk.com"
            )
        if self.oauth_token is None and not (self.email and self.api_token is not None):
            raise ConfigError(
                "zendesk: set ZENDESK_EMAIL and ZENDESK_API_TOKEN (or ZENDESK_OAUTH_TOKEN)"
            )

    @property
    def url(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        return f"https://{self.subdomain}.zendesk.com"

    @property
    def uses_oauth(self) -> bool:
        return self.oauth_token is not None

    def auth(self) -> httpx.Auth:
        oauth = _secret(self.oauth_token)
        if oauth is not None:
            return BearerAuth(oauth)
        token = _secret(self.api_token)
        assert self.email is not None and token is not None
        return httpx.BasicAuth(f"{self.email}/token", token.get_secret_value())

    @property
    def auth_hint(self) -> str:
        if self.uses_oauth:
            return "check ZENDESK_OAUTH_TOKEN"
        return "check ZENDESK_EMAIL and ZENDESK_API_TOKEN"


def _valid_subdomain(value: str) -> bool:
    return bool(value) and all(c.isalnum() or c == "-" for c in value)
