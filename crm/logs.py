"""structlog for crmflow and every library it runs (uvicorn, temporalio, sqlalchemy, alembic).

Readable lines on a terminal, one JSON object per line otherwise. Context bound with
``structlog.contextvars`` (request_id, workflow_id, run_id, activity) appears on every line,
whichever logger wrote it.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

SHARED_PROCESSORS: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.stdlib.ExtraAdder(),
]


def configure_logging(
    log_format: Literal["auto", "console", "json"] = "auto", level: str = "INFO"
) -> None:
    """Route structlog and the standard library's loggers through one pipeline."""
    as_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    final: list[structlog.typing.Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta
    ]
    if as_json:  # the console renderer prints tracebacks itself, prettier
        final.append(structlog.processors.format_exc_info)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED_PROCESSORS, processors=[*final, renderer]
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    handler.addFilter(OneLinePerRetry())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "temporalio", "alembic"):
        lib_logger = logging.getLogger(name)
        lib_logger.handlers.clear()
        lib_logger.propagate = True
    # Chatty libraries speak up only when asked for with CRMFLOW_LOG_LEVEL=DEBUG.
    quiet = logging.INFO if level.upper() == "DEBUG" else logging.WARNING
    for name in ("sqlalchemy.engine", "alembic.runtime.plugins", "mail.log"):
        logging.getLogger(name).setLevel(quiet)


class OneLinePerRetry(logging.Filter):
    """A failing activity retried for hours logs one line per attempt, not a traceback each
    time: the traceback is kept for its first attempt only, then replaced by the error's
    type and message (a stuck email once grew the dev log to 65,000 lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        failure = getattr(record, "__temporal_error_identifier", None) == "ActivityFailure"
        attempt = getattr(record, "temporal_activity", {}).get("attempt", 1)
        if failure and record.exc_info and attempt > 1:
            error = record.exc_info[1]
            record.error = f"{type(error).__name__}: {error}"
            record.exc_info, record.exc_text = None, None
        return True


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a line is written, not when logging was set up
    (so redirections made later, such as a test's capture, are followed)."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass
