"""Is crmflow healthy: can it reach its database and Temporal?"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import StateDep
from api.problems import DATABASE, TEMPORAL, failure_reason
from api.state import ApiState

log = structlog.get_logger(__name__)
router = APIRouter(tags=["health"])

PROBE_SECONDS = 5.0


@router.get("/health", summary="State of the database and Temporal (no token needed)")
async def health(state: StateDep) -> JSONResponse:
    database, temporal = await asyncio.gather(
        _check(state, DATABASE, lambda: _select_one(state)),
        _check(state, TEMPORAL, lambda: _temporal_health(state)),
    )
    checks = {"database": database, "temporal": temporal}
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ok else "degraded", **checks}
    return JSONResponse(body, status_code=200 if ok else 503)


async def _select_one(state: ApiState) -> None:
    async with state.read_sessions() as session:
        await session.execute(text("SELECT 1"))


async def _temporal_health(state: ApiState) -> None:
    client = await state.temporal.client()
    await client.service_client.check_health(timeout=timedelta(seconds=PROBE_SECONDS))


async def _check(
    state: ApiState, system: str, probe: Callable[[], Coroutine[Any, Any, None]]
) -> str:
    """'ok' or 'unavailable' within PROBE_SECONDS, whatever the probe does.

    A probe still running then is not cancelled (an aiosqlite call blocked in SQLite's busy
    wait cannot be) but left to finish in the background; the next check waits on it again
    rather than starting another."""
    task = state.health_probes.get(system)
    if task is None or task.done():
        task = state.health_probes[system] = asyncio.create_task(probe())
    try:
        await asyncio.wait_for(asyncio.shield(task), PROBE_SECONDS)
    except TimeoutError:
        log.warning("health check failed", system=system, error="TimeoutError",
                    reason=f"no answer within {PROBE_SECONDS:g} s")
        return "unavailable"
    except Exception as error:
        log.warning("health check failed", system=system, error=type(error).__name__,
                    reason=failure_reason(error))
        return "unavailable"
    return "ok"
