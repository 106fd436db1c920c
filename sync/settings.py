"""Settings, from the environment and an optional `.env` file (every variable is in .env.example).

Secrets are `SecretStr`: their repr and str are `**********`, so a printed or logged Settings never
shows a key. Only the HTTP auth of a connector ever reads `get_secret_value()`.

Every number is bounded (`ge`/`le` on its field; DESKPULSE_SYNC_INTERVALS checked item by item):
`inf`, `nan` or `1e12` is refused when the settings are read, with one line naming the variable
and its range (`setting_error`), instead of overflowing in the scheduler later.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from deskpulse.connectors.errors import ConfigError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
HOUR, DAY = 3600, 86400
MAX_INTERVAL = 7 * DAY
"""The longest DESKPULSE_SYNC_INTERVAL(S): a source synced less often than weekly is not kept
fresh by a daemon."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    database_url: str = Field("sqlite:///deskpulse.db", alias="DESKPULSE_DATABASE_URL", repr=False)
    timezone: str = Field("UTC", alias="DESKPULSE_TIMEZONE")
    schedules: Path | None = Field(None, alias="DESKPULSE_SCHEDULES")
    kpi_config: Path | None = Field(None, alias="DESKPULSE_KPI_CONFIG")
    # Write-back actions (TOML, see sync.actions): what `push` and the daemon write back.
    writeback: Path | None = Field(None, alias="DESKPULSE_WRITEBACK")

    # The daemon (sync.daemon): seconds between syncs of a source (with up to `jitter` seconds
    # added at random), per-source overrides ("zendesk=120, klaviyo=900"), the loopback port of
    # /healthz and /metrics (0: none), and log lines as JSON.
    # Every number a setting holds is bounded (finite, within what the code can schedule or
    # allocate): a bad one is refused at start with its range, never overflows later.
    sync_interval: float = Field(
        300.0, alias="DESKPULSE_SYNC_INTERVAL", ge=1, le=MAX_INTERVAL, description="seconds"
    )
    sync_intervals: str | None = Field(None, alias="DESKPULSE_SYNC_INTERVALS")
    sync_jitter: float = Field(
        30.0, alias="DESKPULSE_SYNC_JITTER", ge=0, le=DAY, description="seconds"
    )
    metrics_port: int = Field(9464, alias="DESKPULSE_METRICS_PORT", ge=0, le=65535)
    metrics_host: str = Field("127.0.0.1", alias="DESKPULSE_METRICS_HOST")
    log_format: str = Field("text", alias="DESKPULSE_LOG_FORMAT", pattern="^(text|json)$")
    log_level: str = Field("WARNING", alias="DESKPULSE_LOG_LEVEL")
    # `kpi` refuses a window cut into more periods than this (a day per period over two
    # centuries would fill memory before the first number), and more values than max_rows.
    kpi_max_buckets: int = Field(10_000, alias="DESKPULSE_KPI_MAX_BUCKETS", ge=1, le=10**6)
    kpi_max_rows: int = Field(1_000_000, alias="DESKPULSE_KPI_MAX_ROWS", ge=1, le=10**8)
    # Processes that compute the KPI catalog side by side (0: one per CPU core, at most 4).
    kpi_workers: int = Field(0, alias="DESKPULSE_KPI_WORKERS", ge=0, le=64)
    http_timeout: float = Field(
        30.0, alias="DESKPULSE_HTTP_TIMEOUT", ge=0.1, le=HOUR, description="seconds"
    )
    max_retries: int = Field(6, alias="DESKPULSE_MAX_RETRIES", ge=0, le=20)
    # First sync of an incremental stream starts here (ISO date or epoch); default: all history.
    start_date: str | None = Field(None, alias="DESKPULSE_START_DATE")

    # Sources to sync: "zendesk, zendesk_eu=zendesk" (name, or name=vendor). Unset: one source
    # per installed vendor, named after it, when its variables are set (see sync.sources).
    sources: str | None = Field(None, alias="DESKPULSE_SOURCES")
    # Or many sources as rows of a TOML file (sync.sources_file); set, it replaces the above.
    sources_file: Path | None = Field(None, alias="DESKPULSE_SOURCES_FILE")
    # Fleet mode (`daemon --fleet`, sync.fleet): accounts one daemon syncs at once, and the
    # seconds a daemon's lease lasts without renewal (a dead daemon's sources are taken over
    # within about this long).
    fleet_concurrency: int = Field(4, alias="DESKPULSE_FLEET_CONCURRENCY", ge=1, le=256)
    fleet_lease: float = Field(
        30.0, alias="DESKPULSE_FLEET_LEASE", ge=3, le=HOUR, description="seconds"
    )

    # The env file these settings were read from (None: the environment only); sources read
    # their vendors' settings from the same file.
    _env_file: Path | None = PrivateAttr(None)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Berlin)") from None
        return value

    @field_validator("sync_intervals")
    @classmethod
    def _interval_list(cls, value: str | None) -> str | None:
        """`name=seconds, ...`, each within the range of DESKPULSE_SYNC_INTERVAL (the names
        are checked against the sources by the daemon, sync.daemon.parse_intervals)."""
        for item in (value or "").split(","):
            if not item.strip():
                continue
            _, sep, seconds = item.partition("=")
            if not sep or not _within(seconds, 1, MAX_INTERVAL):
                raise ValueError(
                    f"{item.strip()!r}: each is source=seconds, seconds a number from 1 to "
                    f"{MAX_INTERVAL} (7 days)"
                )
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(
                f"unknown log level {value!r} ({', '.join(LOG_LEVELS[:-1])} or CRITICAL)"
            )
        return value.upper()

    @property
    def database_url_display(self) -> str:
        """The database URL with any password masked, for output."""
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.database_url).render_as_string(hide_password=True)
        except Exception:
            return "<unparseable database URL>"

    @property
    def workers(self) -> int:
        return self.kpi_workers or min(os.cpu_count() or 1, 4)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def env_file(self) -> Path | None:
        return self._env_file


DEFAULT_ENV_FILE = Path(".env")


def load_settings(env_file: Path | str | None = DEFAULT_ENV_FILE, **overrides: object) -> Settings:
    """Read settings from the environment and `env_file` (None: the environment only); a bad
    value becomes one `ConfigError` line naming the variable."""
    path = Path(env_file) if env_file is not None else None
    try:
        settings = Settings(_env_file=path, **overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(setting_error(exc, Settings)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not a UTF-8 text file (byte 0x{exc.object[exc.start]:02x} at position "
            f"{exc.start}): fix or remove it (it holds settings as NAME=value lines)"
        ) from None
    settings._env_file = path
    return settings


def _within(text: str, lo: float, hi: float) -> bool:
    try:
        number = float(text)
    except ValueError:
        return False
    return math.isfinite(number) and lo <= number <= hi


def setting_error(exc: ValidationError, model: type[BaseSettings], prefix: str = "") -> str:
    """'invalid setting NAME: reason' for the first error of a settings class's validation;
    a number out of its field's bounds (or not a number, or not finite) says the range."""
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    info = model.model_fields.get(field) or next(
        (f for f in model.model_fields.values() if f.alias == field), None
    )
    name = info.alias if info is not None and info.alias else f"{prefix}{field}".upper()
    reason = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "missing":
        reason = "required, not set"
    elif info is not None and (bounds := _range(info)):
        reason = f"{bounds}, not {first.get('input')!r}"
    return f"invalid setting {name or 'settings'}: {reason}"


def _range(info: FieldInfo) -> str | None:
    """'a whole number from 0 to 65535' for a bounded int or float field, else None."""
    lo = next((getattr(m, "ge", None) for m in info.metadata if hasattr(m, "ge")), None)
    hi = next((getattr(m, "le", None) for m in info.metadata if hasattr(m, "le")), None)
    if lo is None or hi is None:
        return None
    kind = "a whole number" if info.annotation is int else "a number"
    unit = f" ({info.description})" if info.description else ""
    return f"{kind} from {lo:,} to {hi:,}{unit}"
