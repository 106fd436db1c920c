"""Zendesk connection settings: a frozen dataclass whose secrets never print."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Protocol

import httpx
from pydantic import SecretStr

from deskpulse.connectors.errors import ConfigError
from deskpulse.connectors.http import base_url_problem


class _HasSecret(Protocol):
    def get_secret_value(self) -> str: ...


def _secret(value: str | _HasSecret | None) -> SecretStr | None:
    """A token as pydantic's SecretStr (`**********` in repr, str and f-strings); empty is none."""
    if value is None:
        return None
    text = value if isinstance(value, str) else value.get_secret_value()
    return SecretStr(text) if text else None


class BearerAuth(httpx.Auth):
    """OAuth access token as `Authorization: Bearer ...`."""

    def __init__(self, token: SecretStr) -> None:
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
    (Bearer), which wins when both are given. Tokens may be `str` or pydantic `SecretStr`; they
    are stored as `SecretStr` and never appear in repr, logs or error messages.
    """

    subdomain: str | None = None
    email: str | None = None
    api_token: SecretStr | str | None = field(default=None, repr=False)
    oauth_token: SecretStr | str | None = field(default=None, repr=False)
    base_url: str | None = None
    # Names the variables in messages: "ZENDESK_" for source `zendesk`, "ZENDESK_EU_" for another.
    prefix: str = "ZENDESK_"

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_token", _secret(self.api_token))
        object.__setattr__(self, "oauth_token", _secret(self.oauth_token))
        var = self.prefix
        if not self.base_url and not self.subdomain:
            raise ConfigError(f"zendesk: set {var}SUBDOMAIN (or {var}BASE_URL)")
        if self.base_url and (problem := base_url_problem(self.base_url)):
            raise ConfigError(f"zendesk: {var}BASE_URL {problem}")
        if self.subdomain and not self.base_url and (problem := subdomain_problem(self.subdomain)):
            raise ConfigError(f"zendesk: {var}SUBDOMAIN {problem}")
        if self.oauth_token is None and not (self.email and self.api_token is not None):
            raise ConfigError(f"zendesk: set {var}EMAIL and {var}API_TOKEN (or {var}OAUTH_TOKEN)")

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
            return f"check {self.prefix}OAUTH_TOKEN"
        return f"check {self.prefix}EMAIL and {self.prefix}API_TOKEN"

    @property
    def url_hint(self) -> str:
        """What to check when the host is wrong or unreachable."""
        return f"check {self.prefix}BASE_URL" if self.base_url else f"check {self.prefix}SUBDOMAIN"


def subdomain_problem(value: str) -> str | None:
    if not value or not all(c.isascii() and (c.isalnum() or c == "-") for c in value):
        return "must be the subdomain alone, e.g. 'acme' for acme.zendesk.com"
    return None
