"""Configuration: the one module that reads the environment.

Every other module receives a :class:`Settings` (or values taken from it). Unset addresses mean
"use the embedded default stack" (``outreach stack up``) on the configured local ports; setting
``TEMPORAL_ADDRESS``, ``KAFKA_BOOTSTRAP_SERVERS`` or ``DATABASE_URL`` points the service at a
real cluster instead, and the stack then leaves that service alone.
"""

from __future__ import annotations

import base64
import binascii
import os
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


def _default_state_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/outreach")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "outreach"


class Settings(BaseSettings):
    """Service settings. Field names map to the environment variables in the README."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    # -- external services (None = embedded default stack) ----------------------------------
    temporal_address: str | None = Field(default=None, alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", alias="TEMPORAL_NAMESPACE")
    kafka_bootstrap_servers: str | None = Field(default=None, alias="KAFKA_BOOTSTRAP_SERVERS")
    database_url: str | None = Field(default=None, alias="DATABASE_URL")

    # -- policy and logging ----------------------------------------------------------------
    policy_file: Path | None = Field(default=None, alias="OUTREACH_POLICY")
    log_level: LogLevel = Field(default="INFO", alias="OUTREACH_LOG_LEVEL")
    log_format: LogFormat = Field(default="auto", alias="OUTREACH_LOG_FORMAT")

    # -- embedded stack ----------------------------------------------------------------------
    state_dir: Path = Field(default_factory=_default_state_dir, alias="OUTREACH_STATE_DIR")
    stack_host: str = Field(default="127.0.0.1", alias="OUTREACH_STACK_HOST")
    temporal_port: int = Field(default=7233, alias="OUTREACH_TEMPORAL_PORT", ge=1, le=65535)
    temporal_ui_port: int = Field(default=8233, alias="OUTREACH_TEMPORAL_UI_PORT", ge=1, le=65535)
    kafka_port: int = Field(default=9092, alias="OUTREACH_KAFKA_PORT", ge=1, le=65535)
    postgres_port: int = Field(default=5433, alias="OUTREACH_POSTGRES_PORT", ge=1, le=65535)

    # -- personal data protection (base64 key material; unset = dev keys in the state dir) ---
    hmac_key: SecretStr | None = Field(default=None, alias="OUTREACH_HMAC_KEY")
    """Keys the HMAC that turns a household id into its stream key (at least 32 bytes)."""
    data_key: SecretStr | None = Field(default=None, alias="OUTREACH_DATA_KEY")
    """AES-256 master key (32 bytes) wrapping each household's data key."""

    @field_validator("hmac_key", "data_key")
    @classmethod
    def _base64_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        raw = decode_key(value.get_secret_value())
        field = info.field_name
        if field == "data_key" and len(raw) != 32:
            raise ValueError(f"must be 32 bytes of base64-encoded key material, got {len(raw)}")
        if field == "hmac_key" and len(raw) < 32:
            raise ValueError(f"must be at least 32 bytes of base64 key material, got {len(raw)}")
        return value

    # -- Kafka consumers and ingest (outreach ingest) --------------------------------------
    kafka_partitions: int = Field(default=4, alias="OUTREACH_KAFKA_PARTITIONS", ge=1)
    """Partitions of the topics ingest creates at start (existing topics are left alone)."""
    kafka_session_timeout_ms: int = Field(
        default=10_000, alias="OUTREACH_KAFKA_SESSION_TIMEOUT_MS", ge=1000
    )
    kafka_heartbeat_interval_ms: int = Field(
        default=3_000, alias="OUTREACH_KAFKA_HEARTBEAT_INTERVAL_MS", ge=100
    )
    kafka_fetch_max_wait_ms: int = Field(default=50, alias="OUTREACH_KAFKA_FETCH_MAX_WAIT_MS", ge=0)
    """How long the broker may hold a fetch that finds no new data. One fetch at a time goes to
    a broker, so a long wait also holds back partitions that do have data: with the client's
    default (500 ms) a batch sometimes waited for it (seen on the embedded broker)."""
    ingest_group_id: str = Field(default="outreach-ingest", alias="OUTREACH_INGEST_GROUP_ID")
    ingest_batch_size: int = Field(default=500, alias="OUTREACH_INGEST_BATCH_SIZE", ge=1)
    """Most records handled (and stored in one transaction) per batch."""
    ingest_batch_timeout_ms: int = Field(
        default=200, alias="OUTREACH_INGEST_BATCH_TIMEOUT_MS", ge=0
    )
    ingest_signal_concurrency: int = Field(
        default=64, alias="OUTREACH_INGEST_SIGNAL_CONCURRENCY", ge=1
    )
    """Households signalled at once (one household's signals are always sequential)."""
    ingest_retry_window: float = Field(default=60.0, alias="OUTREACH_INGEST_RETRY_WINDOW", gt=0)
    """Seconds a failing step is retried before the batch is rewound and read again."""
    ingest_max_message_bytes: int = Field(
        default=1_048_576, alias="OUTREACH_INGEST_MAX_MESSAGE_BYTES", ge=1024
    )
    """Largest inbound message ingest reads; a larger one is dead-lettered unread. The
    dead-letter producer takes messages this large (plus headers)."""

    part_recovery_timeout: float = Field(
        default=600.0, alias="OUTREACH_PART_RECOVERY_TIMEOUT", gt=0
    )
    """Seconds a part keeps retrying an unreachable Postgres or Temporal before it fails its
    process (``serve``: every part; ``projections run``, ``relay``); ``serve`` then stops and
    exits 1. Restarts shorter than this are ridden through."""

    # -- case workflow worker (outreach worker) --------------------------------------------
    worker_activities: int = Field(default=100, alias="OUTREACH_WORKER_ACTIVITIES", ge=1)
    """Activities one worker runs at once (max_concurrent_activities)."""
    worker_workflow_tasks: int = Field(default=100, alias="OUTREACH_WORKER_WORKFLOW_TASKS", ge=1)
    """Workflow tasks one worker runs at once (max_concurrent_workflow_tasks)."""
    worker_cached_workflows: int = Field(
        default=1000, alias="OUTREACH_WORKER_CACHED_WORKFLOWS", ge=0
    )
    """Workflows kept in memory between tasks (evicted ones are replayed when next needed)."""
    worker_sandbox: Literal["shared", "strict"] = Field(
        default="shared", alias="OUTREACH_WORKER_SANDBOX"
    )
    """``strict``: Temporal's sandbox re-imports the workflow modules for every workflow run
    (what the tests and the replay test use, so non-deterministic code fails CI). ``shared``:
    the ``outreach`` modules are imported once per process and passed through the sandbox,
    about half the memory and CPU per cached case."""
    worker_db_pool: int = Field(default=10, alias="OUTREACH_WORKER_DB_POOL", ge=1)
    """Postgres connections of one worker's activities."""
    case_max_visit_attempts: int = Field(default=3, alias="OUTREACH_MAX_VISIT_ATTEMPTS", ge=1)
    """Home visits that find nobody before a case whose reminders ran out ends unreachable."""
    case_history_limit: int = Field(default=2000, alias="OUTREACH_CASE_HISTORY_LIMIT", ge=20)
    """Temporal history events after which a case continues as new (or when Temporal says so)."""
    notify_webhook_url: str | None = Field(default=None, alias="OUTREACH_NOTIFY_WEBHOOK_URL")
    """Unset: notifications are recorded in Postgres (table notifications). Set: POSTed here."""
    notify_webhook_timeout: float = Field(
        default=10.0, alias="OUTREACH_NOTIFY_WEBHOOK_TIMEOUT", gt=0
    )
    review_interval: timedelta = Field(
        default=timedelta(days=1), alias="OUTREACH_REVIEW_INTERVAL", gt=timedelta(0)
    )
    """How often the annual-review schedule runs (ISO 8601 duration, e.g. P1D); each run reviews
    the enrolments whose anniversary has come."""

    # -- HTTP API and web page (outreach api, outreach serve) -----------------------------
    api_host: str = Field(default="127.0.0.1", alias="OUTREACH_API_HOST")
    """Interface the HTTP API and web page listen on (0.0.0.0 behind a reverse proxy)."""
    api_port: int = Field(default=8000, alias="OUTREACH_API_PORT", ge=0, le=65535)
    api_max_body_bytes: int = Field(default=1_048_576, alias="OUTREACH_API_MAX_BODY_BYTES", ge=1024)
    """Largest request body the API and the page read; a larger one is answered 413 unread."""
    api_public_url: str | None = Field(default=None, alias="OUTREACH_API_PUBLIC_URL")
    """Base URL people open (links printed by the CLI); unset: http://api_host:api_port."""
    temporal_ui_public_url: str | None = Field(default=None, alias="OUTREACH_TEMPORAL_UI_URL")
    """Temporal Web UI of an external cluster, for the case page's workflow link; the embedded
    dev server's UI is used when unset."""

    # -- derived addresses ------------------------------------------------------------------
    @property
    def embedded_temporal(self) -> bool:
        return self.temporal_address is None

    @property
    def embedded_kafka(self) -> bool:
        return self.kafka_bootstrap_servers is None

    @property
    def embedded_postgres(self) -> bool:
        return self.database_url is None

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"{self.stack_host}:{self.temporal_port}"

    @property
    def temporal_ui_url(self) -> str | None:
        """Temporal Web UI of the embedded dev server; None for an external cluster."""
        if not self.embedded_temporal:
            return None
        return f"http://{self.stack_host}:{self.temporal_ui_port}"

    @property
    def temporal_ui(self) -> str | None:
        """Base URL of Temporal's Web UI for links to a case's workflow (None: unknown)."""
        return self.temporal_ui_public_url or self.temporal_ui_url

    @property
    def api_url(self) -> str:
        return self.api_public_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def kafka_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"{self.stack_host}:{self.kafka_port}"

    @property
    def postgres_dsn(self) -> str:
        if self.database_url:
            return self.database_url
        return f"postgresql://postgres@{self.stack_host}:{self.postgres_port}/outreach"

    def process_env(self, **extra: str) -> dict[str, str]:
        """This process's environment pointed at these settings' services and state directory,
        for a child process (``outreach projections run``, a CLI command); ``extra`` adds or
        replaces variables."""
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.postgres_dsn,
            KAFKA_BOOTSTRAP_SERVERS=self.kafka_servers,
            TEMPORAL_ADDRESS=self.temporal_target,
            TEMPORAL_NAMESPACE=self.temporal_namespace,
            OUTREACH_STATE_DIR=str(self.state_dir),
        )
        env.update(extra)
        return env


def decode_key(text: str) -> bytes:
    """Standard or URL-safe base64 (padding optional) to bytes; ValueError when it is not."""
    cleaned = text.strip()
    padded = cleaned + "=" * (-len(cleaned) % 4)
    try:
        if "-" in cleaned or "_" in cleaned:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("is not valid base64") from exc


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; keyword overrides win (used by tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
