"""Schemathesis against the OpenAPI schema: no request, however odd, gets a server error.

Every operation of the schema is called as every role (``CALLERS``) on a world with objects
of each side (``build_world``), so that small generated ids name a real lead, quote or
ticket. Each role the operation's rule lets in gets its share of Schemathesis's coverage
cases (boundary values, missing and mistyped parameters, odd content types) as Hypothesis's
explicit examples, then ``CRMFLOW_FUZZ_EXAMPLES`` generated cases (3 by default), valid and
invalid, some aimed at the role's own objects and some at another team's; a role refused
(403 before the request is read) gets one generated case. Any 5xx fails the test, naming
the operation, the role, the server's error and a curl line that repeats the request.

The bounded run keeps one invalid coverage case per schema rule broken (not one per wrong
type); with ``CRMFLOW_FUZZ_EXAMPLES`` set, all of them are sent. For a longer hunt:
``CRMFLOW_FUZZ_EXAMPLES=200 pytest tests/api/test_fuzz.py -o timeout=0`` (a test's 300 s
would not do).

The requests go to the app the ``api`` fixture runs, on the fixture's event loop: Hypothesis
runs in a thread and hands each request over (Schemathesis's own ASGI transport would start
the app a second time, on a loop of its own).
"""

from __future__ import annotations

import asyncio
import functools
import os
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation.drivers import CoverageGenerator
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.overrides import Override
from structlog.processors import format_exc_info
from structlog.testing import capture_logs
from structlog.typing import EventDict

from api.access import PUBLIC, RULES
from api.app import create_app
from tests.api.conftest import Api
from tests.api.test_access import CALLERS, World, build_world
from workflows.roles import Role

EXAMPLES = int(os.environ.get("CRMFLOW_FUZZ_EXAMPLES") or 3)
"""Generated cases per operation and role, after the coverage cases."""
EVERY_COVERAGE_CASE = bool(os.environ.get("CRMFLOW_FUZZ_EXAMPLES"))
BASE_URL = "http://crm"
REQUEST_ARGUMENTS = ("method", "url", "headers", "params", "cookies", "data", "json", "files")
"""What of Schemathesis's requests-style call ``requests.Request`` takes (not timeouts)."""
Send = Callable[[Case, str], None]


@functools.cache
def operations() -> dict[str, tuple[APIOperation, list[Case]]]:
    """The JSON API's operations (the console's pages are not in the schema, nor are any
    but JSON and raw email bodies), each with its coverage cases: the same for each
    database, so made once."""
    # The inbound mail endpoint takes a raw RFC 5322 message: sent as generated, as bytes.
    schemathesis.serializer.alias("message/rfc822", "application/octet-stream")
    schema = schemathesis.openapi.from_dict(create_app().openapi())
    schema.config.output.sanitization.update(enabled=False)  # test tokens; author_id is no secret
    found = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise AssertionError(f"Schemathesis cannot read an operation: {result.err()}")
        found.append(result.ok())
    return {op.label: (op, coverage_cases(op)) for op in found
            if not op.path.startswith("/console")}


def coverage_cases(operation: APIOperation) -> list[Case]:
    """Schemathesis's deterministic cases for the operation, valid and invalid."""
    config = operation.schema.config.generation_for(operation=operation, phase="coverage")
    cases = CoverageGenerator(operation=operation, generation_modes=list(GenerationMode),
                              generation_config=config, auth_storage=None,
                              override=Override(), feedback=FeedbackSources())
    if EVERY_COVERAGE_CASE:
        return list(cases)
    kept, broken = [], set()
    for case in cases:
        scenario = case.meta.phase.data if case.meta else None
        rule = (getattr(scenario, "parameter_location", None),
                getattr(scenario, "parameter", None), getattr(scenario, "location", None))
        if case.meta is None or case.meta.generation.mode.is_positive:
            kept.append(case)
        elif rule not in broken:
            kept.append(case)
            broken.add(rule)
    return kept


def allowed(operation: APIOperation) -> list[Role]:
    """The roles the operation's rule lets in (all of them for a public one)."""
    if operation.label in PUBLIC:
        return list(CALLERS)
    return [role for role in CALLERS if role in RULES[operation.label]]


def generated_cases(operation: APIOperation, ids: list[dict[str, Any]]
                    ) -> st.SearchStrategy[Case]:
    """Valid and invalid cases; valid ones also with the path naming the objects of ``ids``."""
    names = {parameter.name for parameter in operation.path_parameters}
    strategies = [operation.as_strategy(mode) for mode in GenerationMode]
    for known in ids:
        if path := {name: known[name] for name in names if name in known}:
            strategies.append(operation.as_strategy(path_parameters=path))
    return st.one_of(strategies)


def fuzz(operation: APIOperation, role: Role, explicit: list[Case],
         strategy: st.SearchStrategy[Case], send: Send, examples: int) -> str | None:
    """Hypothesis on the operation as the role: the failure's report, or None."""

    @hypothesis.seed(zlib.crc32(f"{operation.label} {role}".encode()))  # varies by role
    @hypothesis.settings(
        max_examples=examples, deadline=None, database=None,
        phases=(Phase.explicit, Phase.generate, Phase.shrink), report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck), verbosity=hypothesis.Verbosity.quiet,
    )
    @hypothesis.given(case=strategy)
    def as_the_role(case: Case) -> None:
        send(case, CALLERS[role])

    for case in explicit:
        as_the_role = hypothesis.example(case=case)(as_the_role)
    try:
        as_the_role()
    except Exception as failure:  # a 5xx, or a request that could not even be made
        return f"{operation.label} as {role}: {failure}"
    return None


def sender(api: Api, http: httpx.AsyncClient, loop: asyncio.AbstractEventLoop,
           logged: list[EventDict]) -> Send:
    """Sends a case, as prepared for the wire, to the app on the fixture's loop, and checks
    that the answer is not a server error."""

    def send(case: Case, who: str) -> None:
        kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=api.auth(who))
        prepared = requests.Request(
            **{k: kwargs[k] for k in REQUEST_ARGUMENTS if k in kwargs}).prepare()
        headers = [(name.encode("latin-1"), value.encode("latin-1") if isinstance(value, str)
                    else value) for name, value in prepared.headers.items()]
        body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
        assert body is None or isinstance(body, bytes), "no streamed bodies in this schema"
        request = http.request(prepared.method or "GET", prepared.url or BASE_URL,
                               headers=headers, content=body)
        seen = len(logged)
        response = asyncio.run_coroutine_threadsafe(request, loop).result(timeout=60)
        try:
            case.validate_response(response, checks=[not_a_server_error],
                                   headers=dict(prepared.headers))
        except FailureGroup as failure:  # not an Exception: Hypothesis would not catch it
            errors = [error_line(entry["exception"]) for entry in logged[seen:]
                      if entry.get("exception")]
            raise AssertionError(f"{failure.message}\nThe server's error: "
                                 f"{'; '.join(errors) or 'none logged'}") from None

    return send


def error_line(traceback: str) -> str:
    """The line naming the exception, from a traceback as text (the line after the last
    stack frame)."""
    lines = traceback.strip().splitlines()
    frames = [n for n, line in enumerate(lines) if line.startswith(" ")]
    return lines[frames[-1] + 1] if frames and frames[-1] + 1 < len(lines) else lines[-1]


def run(api: Api, http: httpx.AsyncClient, world: World, loop: asyncio.AbstractEventLoop,
        logged: list[EventDict]) -> list[str]:
    """Every operation as every role: the failures."""
    send = sender(api, http, loop, logged)
    failures = []
    for operation, coverage in operations().values():
        roles = allowed(operation)
        for role, who in CALLERS.items():
            share = coverage[roles.index(role)::len(roles)] if role in roles else []
            ids = [world.ids(who, own=True), world.ids(who, own=False)]
            failure = fuzz(operation, role, share, generated_cases(operation, ids), send,
                           EXAMPLES if role in roles else 1)
            if failure is not None:
                failures.append(failure)
    return failures


# Schemathesis's own strategies draw from `random`, which Hypothesis frowns upon.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module:"
                            "hypothesis.errors.HypothesisDeprecationWarning")
async def test_no_operation_answers_any_role_with_a_server_error(api: Api) -> None:
    assert api.app is not None
    world = await build_world(api)
    # A client of its own: a server error comes back as the 500 answer, not raised here.
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        # The server's errors are kept, with their traceback as text, for the report
        # (rendering them for the terminal takes seconds each).
        with capture_logs([format_exc_info]) as logged:
            failures = await asyncio.to_thread(run, api, http, world,
                                               asyncio.get_running_loop(), logged)
    assert failures == [], "\n\n".join(failures)
