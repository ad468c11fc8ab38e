"""Is crmflow healthy: can it reach its database and Temporal?"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import StateDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="State of the database and Temporal (no token needed)")
async def health(state: StateDep) -> JSONResponse:
    checks = {"database": "ok", "temporal": "ok"}
    try:
        async with state.sessions() as session:
            await asyncio.wait_for(session.execute(text("SELECT 1")), 5)
    except Exception as error:
        checks["database"] = f"unavailable: {error}"
    try:
        client = await asyncio.wait_for(state.temporal.client(), 5)
        await asyncio.wait_for(client.service_client.check_health(), 5)
    except Exception as error:
        checks["temporal"] = f"unavailable: {error or type(error).__name__}"
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ok else "degraded", **checks}
    return JSONResponse(body, status_code=200 if ok else 503)
