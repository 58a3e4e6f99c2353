"""Settings come from the environment only through Settings; logs are JSON with case ids."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from outreach.infra.log import bind_case, clear_case, configure_logging, get_logger
from outreach.infra.settings import Settings


def test_defaults_are_the_embedded_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "TEMPORAL_ADDRESS",
        "KAFKA_BOOTSTRAP_SERVERS",
        "DATABASE_URL",
        "OUTREACH_STATE_DIR",
    ):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert (s.embedded_temporal, s.embedded_kafka, s.embedded_postgres) == (True, True, True)
    assert s.temporal_target == "127.0.0.1:7233"
    assert s.kafka_servers == "127.0.0.1:9092"
    assert s.postgres_dsn == "postgresql://postgres@127.0.0.1:5433/outreach"
    assert s.temporal_ui_url == "http://127.0.0.1:8233"
    assert s.temporal_namespace == "default"


def test_environment_points_at_real_services(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "outreach-prod")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("DATABASE_URL", "postgresql://svc:secret@db/outreach")
    monkeypatch.setenv("OUTREACH_POLICY", str(tmp_path / "policy.toml"))
    monkeypatch.setenv("OUTREACH_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("OUTREACH_LOG_LEVEL", "DEBUG")
    s = Settings()
    assert not (s.embedded_temporal or s.embedded_kafka or s.embedded_postgres)
    assert s.temporal_target == "temporal.internal:7233"
    assert s.temporal_namespace == "outreach-prod"
    assert s.kafka_servers == "k1:9092,k2:9092"
    assert s.postgres_dsn == "postgresql://svc:secret@db/outreach"
    assert s.policy_file == tmp_path / "policy.toml"
    assert s.state_dir == tmp_path
    assert s.temporal_ui_url is None
    assert s.log_level == "DEBUG"


def test_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTREACH_KAFKA_PORT", "99999")
    with pytest.raises(ValidationError, match="OUTREACH_KAFKA_PORT"):
        Settings()
    monkeypatch.delenv("OUTREACH_KAFKA_PORT")
    monkeypatch.setenv("OUTREACH_LOG_LEVEL", "LOUD")
    with pytest.raises(ValidationError, match="OUTREACH_LOG_LEVEL"):
        Settings()


def test_json_logs_carry_case_and_household() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    try:
        bind_case(case_id="case-1", household="hh-9f2c")
        get_logger("outreach.test").info("reminder sent", channel="sms")
        logging.getLogger("somelib").warning("plain stdlib record")
    finally:
        clear_case()
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["event"] == "reminder sent"
    assert (first["case_id"], first["household"], first["channel"]) == ("case-1", "hh-9f2c", "sms")
    assert first["level"] == "info" and "timestamp" in first
    assert second["event"] == "plain stdlib record" and second["logger"] == "somelib"
    assert second["case_id"] == "case-1"
