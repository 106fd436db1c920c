"""What the daemon shows: Prometheus metrics, /healthz, and one-line JSON logs.

Metrics live in the daemon's own `CollectorRegistry` (not the process-global default), so a
test can run two daemons in one process and a library that registers its own metrics globally
never mixes with ours. Served on a loopback port (DESKPULSE_METRICS_HOST/PORT) by a small
threading HTTP server: `GET /metrics` (Prometheus text format) and `GET /healthz` (JSON, from
sync.daemon's `Daemon.health`: `ok`, `starting` or `degraded` with HTTP 200; `failing`, a
source failed past its backoff (twice in a row), or `stopping` with HTTP 503, the code Docker's HEALTHCHECK
and load balancers read).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from deskpulse.connectors.errors import ConfigError


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.lag = Gauge(
            "deskpulse_sync_lag_seconds",
            "Seconds since the source's last successful sync (-1: never)",
            ["source"],
            registry=r,
        )
        self.rows = Counter("deskpulse_sync_rows", "Rows written by syncs", ["source"], registry=r)
        self.requests = Counter(
            "deskpulse_requests", "HTTP requests to the vendor", ["source"], registry=r
        )
        self.throttled = Counter(
            "deskpulse_throttled", "Requests answered 429 by the vendor", ["source"], registry=r
        )
        self.syncs = Counter(
            "deskpulse_syncs", "Sync runs by outcome", ["source", "status"], registry=r
        )
        self.writes = Counter(
            "deskpulse_write_backs",
            "Write-back values by outcome",
            ["target", "outcome"],
            registry=r,
        )
        self.kpi = Gauge(
            "deskpulse_kpi", "KPI value over the last 30 days (unit in the `unit` label)",
            ["metric", "unit"], registry=r,
        )  # fmt: skip
        self.kpi_target = Gauge(
            "deskpulse_kpi_target", "The KPI's configured target", ["metric"], registry=r
        )
        self.cycle_seconds = Gauge(
            "deskpulse_cycle_seconds", "Duration of the source's last cycle", ["source"], registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/metrics":
            self._send(200, self.server.metrics.render(), CONTENT_TYPE_LATEST)
        elif self.path.split("?")[0] == "/healthz":
            status, body = self.server.health()
            self._send(status, json.dumps(body, default=str).encode(), "application/json")
        else:
            self._send(404, b'{"error": "not found: try /metrics or /healthz"}', "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not events
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        metrics: Metrics,
        health: Callable[[], tuple[int, Mapping[str, Any]]],
    ) -> None:
        super().__init__(address, _Handler)
        self.metrics = metrics
        self.health = health


class StatusServer:
    """/metrics and /healthz on `host:port` (port 0: a free port, see `.port`)."""

    def __init__(
        self,
        metrics: Metrics,
        health: Callable[[], tuple[int, Mapping[str, Any]]],
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        try:
            self._server = _Server((host, port), metrics, health)
        except OSError as exc:  # in use, not an address of this machine, a privileged port
            raise ConfigError(
                f"cannot serve /metrics and /healthz on {host}:{port}: "
                f"{exc.strerror or exc}: set DESKPULSE_METRICS_PORT to a free port "
                "(0 serves none) or DESKPULSE_METRICS_HOST to an address of this machine"
            ) from None
        self.host, self.port = (
            str(self._server.server_address[0]),
            int(self._server.server_address[1]),
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
            name="deskpulse-status",
        )  # fmt: skip

    def start(self) -> StatusServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any `extra=` fields."""

    _standard = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._standard and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = (
                f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
                if record.exc_info[0]
                else None
            )
        return json.dumps(entry, default=str)


__all__ = ["JsonFormatter", "Metrics", "StatusServer"]
