"""The FastAPI application: ``create_app()`` for uvicorn, tests and the dev stack."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from temporalio.client import Client

from api import access, console, idempotency, metrics, problems
from api.body_gate import BodyGate
from api.routers import (
    definitions,
    documents,
    emails,
    enrolments,
    files,
    health,
    inbound,
    insights,
    invoices,
    leads,
    me,
    processes,
    project_templates,
    projects,
    quotes,
    simulations,
    tasks,
    tickets,
)
from api.state import ApiState, TemporalConnection
from crm import db
from crm import statistics as planner
from crm.files.store import store_for
from crm.logs import configure_logging
from crm.policies import PolicyStore
from crm.settings import DEVELOPMENT_CONSOLE_SECRET, Settings, get_settings
from crm.start_marks import StartMarks

DESCRIPTION = """
crmflow runs the company's customer processes as durable Temporal workflows.

Every endpoint but `/health` and these docs needs `Authorization: Bearer <token>`
(`crmflow users create` prints one). Errors are `application/problem+json`.
"""


def refused_in_production(settings: Settings) -> str | None:
    """Why the API must not serve with these settings, if it must not."""
    if (settings.environment == "production"
            and settings.console_secret.get_secret_value() == DEVELOPMENT_CONSOLE_SECRET):
        return ("refused in production: set CRMFLOW_CONSOLE_SECRET to a secret of your own "
                "(it signs the console's sessions)")
    return None


def app_from_environment() -> FastAPI:
    """The app of one of several API processes (``CRMFLOW_API_PROCESSES``): its settings
    and logging from the environment, as ``crmflow api`` has them."""
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)


def create_app(settings: Settings | None = None, temporal: Client | None = None) -> FastAPI:
    settings = settings or get_settings()
    if (refusal := refused_in_production(settings)) is not None:
        raise ValueError(refusal)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db.create_engine(settings.database_url)
        sessions = db.create_sessions(engine)
        app.state.crm = state = ApiState(
            settings=settings,
            sessions=sessions,
            read_sessions=db.create_sessions(engine, read_only=True),
            policies=PolicyStore(settings.policy_file),
            temporal=TemporalConnection(settings, temporal),
            start_marks=StartMarks(sessions),
            files=store_for(settings),
        )
        state.start_marks.start()
        statistics = asyncio.create_task(
            planner.keep_fresh(engine, settings.database_statistics_seconds))
        yield
        statistics.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await statistics
        await state.start_marks.stop()
        await engine.dispose()

    app = FastAPI(title="crmflow", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.add_middleware(BodyGate, largest_file=settings.file_max_bytes)
    problems.install(app)
    idempotency.install(app)
    metrics.install(app)
    # A request is matched against the routes in order, each router's in turn: the reads
    # called most come first, the console's pages (all under /console) after the API.
    for router in (leads.router, quotes.router, me.router, projects.router, invoices.router,
                   tickets.router, inbound.router, tasks.router, emails.router,
                   processes.router, project_templates.router, definitions.router,
                   enrolments.router, simulations.router, insights.router, files.router,
                   documents.router):
        app.include_router(router, dependencies=[Depends(access.grant)])  # who may: first
    app.include_router(health.router)
    console.install(app)
    return app
