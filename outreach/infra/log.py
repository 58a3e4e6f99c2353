"""structlog set up once per process: JSON lines in production, readable console in a terminal.

Bind ``case_id`` / ``household`` where they are known::

    log = get_logger(__name__).bind(case_id=case_id, household=household_key)

or for everything logged in the current task, ``bind_case(case_id=..., household=...)``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from outreach.infra.settings import LogFormat, LogLevel

_configured = False


def configure_logging(
    level: LogLevel = "INFO", fmt: LogFormat = "auto", stream: TextIO | None = None
) -> None:
    """Configure structlog and the standard library's logging (idempotent per process)."""
    global _configured
    out = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if use_console
        else structlog.processors.JSONRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if not use_console:
        shared.append(structlog.processors.format_exc_info)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # Route the standard library's records (temporalio, aiokafka, asyncpg ...) through the
    # same renderer so a process emits one format.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_outreach", False):
            root.removeHandler(old)
    handler._outreach = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # aiokafka is chatty at INFO about group rebalances.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    _configured = True


def get_logger(name: str | None = None, **bound: Any) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger.bind(**bound) if bound else logger


def bind_case(*, case_id: str | None = None, household: str | None = None) -> None:
    """Bind case/household ids to every log line of the current context (task)."""
    values = {k: v for k, v in {"case_id": case_id, "household": household}.items() if v}
    structlog.contextvars.bind_contextvars(**values)


def clear_case() -> None:
    structlog.contextvars.unbind_contextvars("case_id", "household")
