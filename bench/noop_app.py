"""The reference for the read endpoints: a FastAPI app whose one endpoint does nothing.

Served by uvicorn in its own process, with the same server settings as ``crmflow api``, so
the read measure's ratio is what crmflow's routing, auth and database reads cost.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/noop")
async def noop() -> dict[str, bool]:
    return {"ok": True}
