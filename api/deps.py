"""Dependencies the routers declare: a session, the caller, their rights, Temporal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated

import structlog
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api import signatures
from api.problems import TEMPORAL, ServiceUnavailable, failure_reason
from api.state import ApiState
from crm.models import User
from crm.policies import Policies
from crm.repo import people
from workflows.roles import Role

log = structlog.get_logger(__name__)


def get_state(request: Request) -> ApiState:
    return request.app.state.crm


async def _state(request: Request) -> ApiState:
    # Every dependency is async: FastAPI runs a plain ``def`` one in a thread of its pool,
    # a hop costing more than most of them do.
    return request.app.state.crm


StateDep = Annotated[ApiState, Depends(_state)]


async def get_session(state: StateDep, request: Request) -> AsyncIterator[AsyncSession]:
    """One unit of work per request: committed when the handler returns, before the answer
    is sent; rolled back when it raises. A handler that waits for a process commits early:
    the process's own writes must not queue behind the request's open transaction. A GET
    only reads: on SQLite it never takes the write lock (a page asking a process for its
    state while holding it would wait for that very process)."""
    reading = request.method in ("GET", "HEAD")
    async with (state.read_sessions if reading else state.sessions)() as session:
        yield session
        await session.commit()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_temporal(state: StateDep) -> Client:
    """The Temporal client, connecting first if need be (at most the RPC timeout)."""
    try:
        return await asyncio.wait_for(
            state.temporal.client(), state.settings.temporal_rpc_timeout_seconds
        )
    except Exception as error:
        log.warning("dependency unavailable", system=TEMPORAL, error=type(error).__name__,
                    reason=failure_reason(error))
        raise ServiceUnavailable(
            f"Temporal at {state.settings.temporal_address} is unavailable; try again later"
        ) from error


TemporalDep = Annotated[Client, Depends(get_temporal)]


async def get_temporal_timeout(state: StateDep) -> timedelta:
    """How long to wait for any one call to Temporal (then 503)."""
    return timedelta(seconds=state.settings.temporal_rpc_timeout_seconds)


TemporalTimeout = Annotated[timedelta, Depends(get_temporal_timeout)]


async def get_policies(state: StateDep) -> Policies:
    return state.policies.current()


PoliciesDep = Annotated[Policies, Depends(get_policies)]

DEMO_TOKENS = ("demo",)
"""Labels of the tokens the dev stack makes for its demo users: refused in production."""
bearer = HTTPBearer(auto_error=False, description="An API token from `crmflow users create`")


async def current_user(
    state: StateDep,
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    """The caller, from their token — looked up on the request's own session: a request
    holds one database connection, never waits for a second (with many requests at once, a
    second one per request emptied the pool and jammed them all). Detached: a handler
    refreshing its session (expire_all) keeps its caller; their team is not loaded."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "send 'Authorization: Bearer <token>'")
    refused = DEMO_TOKENS if state.settings.environment == "production" else ()
    user = await people.user_by_token(session=session, token=credentials.credentials,
                                      refused_labels=refused)
    if user is None:
        raise HTTPException(401, "unknown, revoked or expired token")
    if user.role == Role.INTEGRATION and state.settings.integration_secret is not None:
        await signatures.verify(request, state.settings, session)
    return user


CurrentUser = Annotated[User, Depends(current_user)]
