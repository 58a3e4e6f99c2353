"""Configuration: the one module that reads the environment.

Every other module receives a :class:`Settings` (or values taken from it). Unset addresses mean
"use the embedded default stack" (``outreach stack up``) on the configured local ports; setting
``TEMPORAL_ADDRESS``, ``KAFKA_BOOTSTRAP_SERVERS`` or ``DATABASE_URL`` points the service at a
real cluster instead, and the stack then leaves that service alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
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
    def kafka_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"{self.stack_host}:{self.kafka_port}"

    @property
    def postgres_dsn(self) -> str:
        if self.database_url:
            return self.database_url
        return f"postgresql://postgres@{self.stack_host}:{self.postgres_port}/outreach"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; keyword overrides win (used by tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
