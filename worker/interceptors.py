"""Around every activity: log context bound, and errors sorted into final and transient.

A CRM refusal (``CrmError``) and a programming error (a template variable missing, a wrong
type, a bad value...) fail the activity at once with a non-retryable ``ApplicationError``:
retrying would fail the same way forever, so it should show in the UI and the metrics now.
Anything else, above all the database or the SMTP server out of reach, is raised as it is
and Temporal retries it with backoff. An ``ApplicationError`` passes through unchanged.
"""

from __future__ import annotations

from typing import Any

import aiosmtplib
import asyncpg
import jinja2
import structlog
from sqlalchemy import exc as sa_exc
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from crm.errors import CrmError

log = structlog.get_logger(__name__)

PROGRAMMING_ERRORS: tuple[type[BaseException], ...] = (
    AssertionError, TypeError, AttributeError, NameError, LookupError, ValueError,
)
"""Mistakes in the code or its data; pydantic's ValidationError is a ValueError."""

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    # Some of these are also ValueErrors or LookupErrors (ssl.SSLCertVerificationError is
    # an OSError and a ValueError; asyncpg's ClientConfigurationError and DataError are
    # InterfaceErrors and ValueErrors): a database or server out of reach wins.
    OSError,  # refused, reset, DNS, TLS, timeouts (TimeoutError is an OSError)
    sa_exc.DBAPIError,  # whatever the database driver raised, wrapped by SQLAlchemy
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # no connection free in the pool
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    aiosmtplib.SMTPException,
)


def is_programming_error(error: BaseException) -> bool:
    """Whether retrying ``error`` would fail the same way whatever the database or network do."""
    if isinstance(error, jinja2.TemplateError):
        # A missing template (TemplateNotFound is an OSError too) or variable is a bug.
        return True
    if isinstance(error, TRANSIENT_ERRORS):
        return False
    if isinstance(error, sa_exc.StatementError) and isinstance(error.orig, Exception):
        # SQLAlchemy wraps what a bind parameter's conversion raised (a str for a date).
        return is_programming_error(error.orig)
    return isinstance(error, PROGRAMMING_ERRORS)


class ActivityContext(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BoundActivity(next)


class _BoundActivity(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        with structlog.contextvars.bound_contextvars(
            workflow_id=info.workflow_id,
            run_id=info.workflow_run_id,
            activity=info.activity_type,
            attempt=info.attempt,
        ):
            try:
                return await self.next.execute_activity(input)
            except ApplicationError:
                raise
            except CrmError as error:
                # A missing row or a refused change will not mend itself by retrying.
                raise ApplicationError(
                    error.detail, type=type(error).__name__, non_retryable=True
                ) from error
            except Exception as error:
                if not is_programming_error(error):
                    raise
                log.exception("programming error: the activity fails without retrying",
                              error_type=type(error).__name__)
                raise ApplicationError(
                    f"{type(error).__name__}: {error}", type="ProgrammingError",
                    non_retryable=True,
                ) from error
