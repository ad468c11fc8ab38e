"""Activity errors sorted by the worker's interceptor: a bug fails at once, an outage retries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import ssl
    import uuid

    import aiosmtplib
    import asyncpg
    import jinja2
    import pytest
    import sqlalchemy.exc as sa_exc
    from pydantic import BaseModel, ValidationError
    from temporalio.client import WorkflowFailureError
    from temporalio.exceptions import ActivityError, ApplicationError, RetryState
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from activities.email import render
    from worker.interceptors import ActivityContext, is_programming_error


class Amount(BaseModel):
    value: int


def raise_(kind: str) -> None:
    """Fail as a real activity would, with the real exception classes."""
    if kind == "missing_template_variable":
        render("welcome", {})  # the template needs lead_name
    elif kind == "missing_key":
        _ = {"name": "Jane"}["lead_name"]
    elif kind == "invalid_model":
        Amount.model_validate({"value": "a lot"})
    elif kind == "database_unreachable":
        raise sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "refused"))
    elif kind == "connection_refused":
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
    elif kind == "smtp_certificate_expired":  # an OSError and a ValueError
        raise ssl.SSLCertVerificationError(1, "certificate has expired")
    else:
        raise AssertionError(f"no such kind: {kind}")


ATTEMPTS: defaultdict[str, list[int]] = defaultdict(list)
"""The attempts each test activity ran, by workflow id."""


@activity.defn
async def fail_once(kind: str) -> int:
    """Raise ``kind`` on the first attempt; on a later one, say which attempt it is."""
    info = activity.info()
    ATTEMPTS[info.workflow_id or ""].append(info.attempt)
    if info.attempt == 1:
        raise_(kind)
    return info.attempt


@workflow.defn
class RunsFailOnce:
    @workflow.run
    async def run(self, kind: str) -> int:
        return await workflow.execute_activity(
            fail_once, kind, start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50),
                                     maximum_attempts=3),
        )


async def run_fail_once(
    env: WorkflowEnvironment, kinds: list[str]
) -> tuple[dict[str, object], dict[str, list[int]]]:
    """Each kind's workflow result (or the error it failed with), and the attempts it ran."""
    queue = f"test-{uuid.uuid4()}"
    outcomes: dict[str, object] = {}
    attempts: dict[str, list[int]] = {}
    async with Worker(env.client, task_queue=queue, workflows=[RunsFailOnce],
                      activities=[fail_once], interceptors=[ActivityContext()]):
        for kind in kinds:
            workflow_id = f"{kind}-{uuid.uuid4()}"
            try:
                outcomes[kind] = await env.client.execute_workflow(
                    RunsFailOnce.run, kind, id=workflow_id, task_queue=queue
                )
            except WorkflowFailureError as failure:
                outcomes[kind] = failure
            attempts[kind] = ATTEMPTS.pop(workflow_id, [])
    return outcomes, attempts


PROGRAMMING = ["missing_template_variable", "missing_key", "invalid_model"]
TRANSIENT = ["database_unreachable", "connection_refused", "smtp_certificate_expired"]


async def test_a_programming_error_fails_the_activity_at_once_and_an_outage_retries(
    time_skipping: WorkflowEnvironment, json_logs: Callable[[], list[dict[str, Any]]]
) -> None:
    outcomes, attempts = await run_fail_once(time_skipping, PROGRAMMING + TRANSIENT)

    for kind in PROGRAMMING:
        assert attempts[kind] == [1], kind  # failed at once, never retried
        failure = outcomes[kind]
        assert isinstance(failure, WorkflowFailureError), kind
        assert isinstance(failure.cause, ActivityError), kind
        assert failure.cause.retry_state == RetryState.NON_RETRYABLE_FAILURE, kind
        error = failure.cause.cause
        assert isinstance(error, ApplicationError), kind
        assert (error.type, error.non_retryable) == ("ProgrammingError", True), kind
    failure = outcomes["missing_template_variable"]
    assert isinstance(failure, WorkflowFailureError) and isinstance(failure.cause, ActivityError)
    assert "UndefinedError: 'lead_name' is undefined" in str(failure.cause.cause)
    for kind in TRANSIENT:
        assert (outcomes[kind], attempts[kind]) == (2, [1, 2]), kind  # retried, then through

    logged = [e for e in json_logs() if e["event"].startswith("programming error")]
    assert sorted(e["error_type"] for e in logged) == [
        "KeyError", "UndefinedError", "ValidationError"
    ]
    assert all("Traceback" in e["exception"] and e["attempt"] == 1 for e in logged)


@pytest.mark.parametrize("error", [
    jinja2.UndefinedError("'lead_name' is undefined"),
    jinja2.TemplateNotFound("welcome.txt.j2"),  # an OSError and a LookupError
    AssertionError("outbox row vanished"),
    TypeError("unsupported operand"),
    AttributeError("'NoneType' object has no attribute 'email'"),
    NameError("name 'lead' is not defined"),
    KeyError("lead_name"),
    IndexError("list index out of range"),
    ValueError("template must start with 'Subject: '"),
    sa_exc.NoSuchColumnError("no column 'email' in the row"),  # a KeyError
    sa_exc.StatementError("bind", "SELECT 1", {}, TypeError("only datetime")),
], ids=lambda error: type(error).__name__)
def test_programming_errors(error: BaseException) -> None:
    assert is_programming_error(error)


def test_a_pydantic_validation_error_is_a_programming_error() -> None:
    with pytest.raises(ValidationError) as invalid:
        Amount.model_validate({"value": "a lot"})
    assert is_programming_error(invalid.value)


@pytest.mark.parametrize("error", [
    sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError()),
    sa_exc.InterfaceError("SELECT 1", {}, Exception("connection is closed")),
    sa_exc.DBAPIError("SELECT 1", {}, Exception("terminating connection")),
    sa_exc.TimeoutError("QueuePool limit reached"),
    sa_exc.DisconnectionError("gone"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.ClientConfigurationError("bad sslmode"),  # a ValueError
    asyncpg.exceptions.DataError("invalid input for query argument $1"),  # a ValueError
    ConnectionRefusedError(111, "refused"),
    ConnectionResetError(104, "reset"),
    TimeoutError(),
    OSError("Network is unreachable"),
    ssl.SSLCertVerificationError(1, "certificate has expired"),  # a ValueError
    aiosmtplib.SMTPServerDisconnected("gone"),
    aiosmtplib.SMTPConnectError("refused"),
    aiosmtplib.SMTPReadTimeoutError("slow"),
    aiosmtplib.SMTPResponseException(451, "try again later"),
    aiosmtplib.SMTPRecipientsRefused([]),
    RuntimeError("Event loop is closed"),
], ids=lambda error: type(error).__name__)
def test_transient_errors(error: BaseException) -> None:
    assert not is_programming_error(error)


@activity.defn
async def fail_twice() -> int:
    """An outage that lasts two attempts."""
    if activity.info().attempt < 3:
        raise ConnectionRefusedError("the database is down")
    return activity.info().attempt


@workflow.defn
class RunsFailTwice:
    @workflow.run
    async def run(self) -> int:
        return await workflow.execute_activity(
            fail_twice, start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50)),
        )


async def test_a_retried_failure_logs_its_traceback_once_then_one_line_per_attempt(
    time_skipping: WorkflowEnvironment, json_logs: Callable[[], list[dict[str, Any]]]
) -> None:
    queue = f"test-{uuid.uuid4()}"
    async with Worker(time_skipping.client, task_queue=queue, workflows=[RunsFailTwice],
                      activities=[fail_twice], interceptors=[ActivityContext()]):
        assert await time_skipping.client.execute_workflow(
            RunsFailTwice.run, id=f"twice-{uuid.uuid4()}", task_queue=queue) == 3

    failed = [e for e in json_logs() if e["event"].startswith("Completing activity as failed")]
    assert [e["temporal_activity"]["attempt"] for e in failed] == [1, 2]
    assert "Traceback" in failed[0]["exception"]
    assert "exception" not in failed[1]
    assert failed[1]["error"] == "ConnectionRefusedError: the database is down"
