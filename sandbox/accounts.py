"""Many sandbox accounts on one port, told apart by path prefix: `/a/<k>/<dialect>/...`.

    with AccountsServer(100, tickets=200, dialects=["<dialect>"]) as sb:
        sb.env(7)  # the settings of account 7, base URLs under http://127.0.0.1:PORT/a/7/...

A fleet of daemons syncing 100 accounts (sync.fleet) needs 100 vendor accounts, and 100
sandboxes (a process and a port per dialect each) would cost more than the daemons being tested.
Here account `k` is an ordinary SandboxServer (seed `seed + k`: its own generated data,
credentials, rate budgets, write log and stats) whose hosts open no port: they are mounted under
`/a/<k>/<dialect>` of one threading HTTP server, which strips the prefix and hands the request to
the account's host, through the same pipeline as a host of its own. Every dialect builds its
links from its base URL, so next-page links keep the prefix. Accounts are made when first asked
for (generation is lazy anyway), so 100 accounts cost little until synced.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from deskpulse.sandbox.server import Host, SandboxServer, _Handler, _HTTPServer

PREFIX = "/a/"


class _AccountsHTTPServer(_HTTPServer):
    accounts: AccountsServer

    @property
    def idle_timeout(self) -> float:
        return self.accounts.idle_timeout

    def route(self, path: str) -> tuple[Host, str] | None:
        if not path.startswith(PREFIX):
            return None
        number, _, rest = path[len(PREFIX) :].partition("/")
        dialect, _, inner = rest.partition("/")
        if not number.isdigit() or not 0 <= int(number) < self.accounts.n:
            return None
        account = self.accounts.account(int(number))
        if dialect not in account.hosts:
            return None
        return account.hosts[dialect], f"/{inner}"


class AccountsServer:
    """`n` sandbox accounts behind one port; keyword arguments are SandboxServer's (per account:
    `seed` is the first account's, the others count up)."""

    def __init__(
        self,
        n: int,
        *,
        seed: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
        dialects: Iterable[str] | None = None,
        idle_timeout: float = 75.0,
        **options: Any,
    ) -> None:
        self.n, self.seed, self.idle_timeout = n, seed, idle_timeout
        self.dialects = list(dialects) if dialects is not None else None
        self.options = options
        self.httpd = _AccountsHTTPServer((host, port), _Handler)
        self.httpd.accounts = self
        self.port = int(self.httpd.server_address[1])
        self.base_url = f"http://{host}:{self.port}"
        self._accounts: dict[int, SandboxServer] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def account(self, k: int) -> SandboxServer:
        """Account `k` (0 .. n-1), made on first use."""
        with self._lock:
            found = self._accounts.get(k)
            if found is None:
                found = self._accounts[k] = SandboxServer(
                    seed=self.seed + k, dialects=self.dialects, idle_timeout=self.idle_timeout,
                    mount=f"{self.base_url}{PREFIX}{k}", **self.options,
                )  # fmt: skip
            return found

    def env(self, k: int, oauth: bool = False) -> dict[str, str]:
        """The settings that point deskpulse at account `k` (SandboxServer.env)."""
        return self.account(k).env(oauth=oauth)

    def requests(self, k: int) -> int:
        """Requests account `k` answered (control paths not counted)."""
        return sum(int(h.stats.snapshot()["total"]) for h in self.account(k).hosts.values())

    def start(self) -> AccountsServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"sandbox-accounts-{self.port}", daemon=True,
        )  # fmt: skip
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self.httpd.server_close()

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> AccountsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = ["PREFIX", "AccountsServer"]
